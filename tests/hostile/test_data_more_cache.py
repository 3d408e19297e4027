"""A cache entry damaged on disk after it was written: arrays of another shape or dtype, labels
past the class names. The loader must rebuild it from the source rather than train on it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data import Preprocessing, load_dataset


def _folder(root):
    for k, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (4, 4), 40 * i + 5 * k).save(root / name / f"{i}.png")
    return root


DAMAGE = [
    ("labels-past-classes", "train_labels.npy", lambda: np.array([0, 0, 0, 1, 1, 7], np.int64)),
    ("labels-negative", "train_labels.npy", lambda: np.array([0, 0, -1, 1, 1, 1], np.int64)),
    ("labels-float", "train_labels.npy", lambda: np.zeros(6, np.float64)),
    ("images-other-size", "train_images.npy", lambda: np.zeros((6, 1, 8, 8), np.uint8)),
    ("images-float", "train_images.npy", lambda: np.zeros((6, 1, 4, 4), np.float32)),
    ("digests-short", "train_digests.npy", lambda: np.zeros(2, np.uint64)),
]


@pytest.mark.parametrize(("name", "filename", "make"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_entry_is_rebuilt_not_trained_on(tmp_path, name, filename, make):
    root = _folder(tmp_path / "set")
    cache = tmp_path / "cache"
    pre = Preprocessing(1, 4, 4)
    first = load_dataset(root, pre, cache_dir=cache, val_fraction=0.0)
    labels, images = first.split("train").labels.copy(), np.array(first.split("train").images)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    del first
    np.save(entry / filename, make())
    again = load_dataset(root, pre, cache_dir=cache, val_fraction=0.0)
    assert not again.cached
    np.testing.assert_array_equal(again.split("train").labels, labels)
    np.testing.assert_array_equal(again.split("train").images, images)
