"""The validation split: seeded, stratified, disjoint, explicit val/ folder preferred."""

from __future__ import annotations

import numpy as np
import pytest
from data_builders import make_folder

from engine.data import DatasetError, Preprocessing, load_dataset, stratified_split


def test_stratified_fractions_per_class():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, val = stratified_split(labels, 0.2, seed=3)
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert train.dtype == val.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_same_seed_same_split_other_seed_other_split():
    labels = np.repeat(np.arange(4), 25)
    a = stratified_split(labels, 0.2, seed=7)[1]
    b = stratified_split(labels, 0.2, seed=7)[1]
    c = stratified_split(labels, 0.2, seed=8)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_small_classes_keep_a_training_image():
    labels = np.array([0, 0, 1, 2, 2, 2])
    train, val = stratified_split(labels, 0.1, seed=0)
    # Two or more images: at least one goes to val; a single image stays in train.
    assert sorted(labels[val].tolist()) == [0, 2]
    assert sorted(set(labels[train].tolist())) == [0, 1, 2]


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_bad_fraction_is_refused(fraction):
    with pytest.raises(DatasetError, match=r"validation fraction"):
        stratified_split(np.zeros(4, int), fraction, seed=0)


def test_explicit_val_folder_wins_over_the_fraction(tmp_path, cache_dir):
    root = tmp_path / "ds"
    make_folder(root / "train", {"a": 4, "b": 4}, size=(4, 4))
    make_folder(root / "val", {"a": 1, "b": 1}, size=(4, 4), seed=9)
    ds = load_dataset(root, Preprocessing(3, 4, 4), val_fraction=0.5, cache_dir=cache_dir)
    assert len(ds.splits["train"]) == 8 and len(ds.splits["val"]) == 2
    assert ds.splits["val"].name_of(0) == "val/a/000.png"
