"""Batches: shapes and dtypes, determinism, augmentation, prefetching, rng accounting."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from data_builders import write_idx

from engine.data import (
    Augmentation,
    DatasetError,
    Preprocessing,
    augment_batch,
    load_dataset,
)


@pytest.fixture
def dataset(tmp_path, cache_dir):
    images = np.random.default_rng(0).integers(0, 256, (50, 5, 5), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(50) % 5, compress=False)
    pre = Preprocessing(1, 5, 5, center="channel", standardize=True)
    return load_dataset(tmp_path, pre, val_fraction=0.2, seed=0, cache_dir=cache_dir)


def _collect(it):
    xs, ys = zip(*it, strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_shapes_dtypes_and_sizes(dataset):
    it = dataset.iter_batches("train", 16)
    assert len(it) == 3  # 40 images: 16 + 16 + 8
    sizes = []
    for x, y in it:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == (1, 5, 5) and len(x) == len(y)
        sizes.append(len(x))
    assert sizes == [16, 16, 8]
    assert len(dataset.iter_batches("train", 16, drop_last=True)) == 2
    assert len(dataset.iter_batches("val", 3)) == 4


def test_unshuffled_batches_are_the_split_in_order_and_deterministic(dataset):
    x1, y1 = _collect(dataset.iter_batches("train", 7))
    x2, _ = _collect(dataset.iter_batches("train", 7))
    np.testing.assert_array_equal(x1, x2)
    train = dataset.splits["train"]
    np.testing.assert_array_equal(y1, train.labels)
    expected = (train.images / np.float32(255) - dataset.preprocessing.mean_array()) \
        / dataset.preprocessing.std_array()  # fmt: skip
    np.testing.assert_allclose(x1, expected, rtol=1e-6, atol=1e-6)


def test_shuffle_is_a_seeded_permutation(dataset):
    a = _collect(dataset.iter_batches("train", 8, shuffle=True, rng=np.random.default_rng(1)))
    b = _collect(dataset.iter_batches("train", 8, shuffle=True, rng=np.random.default_rng(1)))
    np.testing.assert_array_equal(a[0], b[0])
    plain = _collect(dataset.iter_batches("train", 8))
    assert not np.array_equal(a[1], plain[1])
    assert sorted(a[1].tolist()) == sorted(plain[1].tolist())


def test_rng_advances_the_same_however_far_one_iterates(dataset):
    full, partial = np.random.default_rng(5), np.random.default_rng(5)
    aug = Augmentation(flip=True, shift=1)
    list(dataset.iter_batches("train", 8, True, full, aug))
    it = dataset.iter_batches("train", 8, True, partial, aug, prefetch=2)
    next(it)
    it.close()
    assert full.random() == partial.random()


def test_prefetch_gives_the_same_batches_and_stops_its_thread(dataset):
    aug = Augmentation(flip=True, shift=2)
    direct = _collect(dataset.iter_batches("train", 6, True, np.random.default_rng(3), aug))
    with dataset.iter_batches("train", 6, True, np.random.default_rng(3), aug,
                              prefetch=2) as it:  # fmt: skip
        fetched = _collect(it)
    np.testing.assert_array_equal(direct[0], fetched[0])
    np.testing.assert_array_equal(direct[1], fetched[1])
    assert not any(t.name == "cnn-workbench-batches" for t in threading.enumerate())


def test_closing_early_stops_the_prefetch_thread(dataset):
    it = dataset.iter_batches("train", 2, prefetch=1)
    next(it)
    it.close()
    assert not any(t.name == "cnn-workbench-batches" for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(it)


def test_augmentation_flip_and_shift_exactly():
    images = np.arange(2 * 1 * 3 * 4, dtype=np.uint8).reshape(2, 1, 3, 4)
    flipped = augment_batch(images, np.array([True, False]), None, 0)
    np.testing.assert_array_equal(flipped[0], images[0, :, :, ::-1])
    np.testing.assert_array_equal(flipped[1], images[1])
    # Offset (0, 0) of padding 1 moves the picture one pixel down and right; (1, 1) keeps it.
    shifted = augment_batch(images, None, np.array([[0, 0], [1, 1]]), 1)
    np.testing.assert_array_equal(shifted[0, 0, 1:, 1:], images[0, 0, :-1, :-1])
    assert shifted[0, 0, 0].max() == 0 and shifted[0, 0, :, 0].max() == 0
    np.testing.assert_array_equal(shifted[1], images[1])


def test_augmentation_changes_training_batches_only_when_asked(dataset):
    plain = _collect(dataset.iter_batches("train", 40))[0]
    rng = np.random.default_rng(0)
    augmented = _collect(dataset.iter_batches("train", 40, False, rng, Augmentation(True)))[0]
    assert not np.array_equal(plain, augmented)
    same = _collect(dataset.iter_batches("train", 40, False, None, Augmentation()))[0]
    np.testing.assert_array_equal(plain, same)


def test_augmentation_parse_and_round_trip():
    assert Augmentation.parse("flip,shift=4") == Augmentation(True, 4)
    assert Augmentation.parse("none") == Augmentation()
    assert Augmentation.from_dict(Augmentation(True, 2).to_dict()) == Augmentation(True, 2)
    with pytest.raises(DatasetError, match="'rotate'"):
        Augmentation.parse("flip,rotate")


def test_bad_requests_are_refused(dataset):
    with pytest.raises(DatasetError, match="needs an rng"):
        dataset.iter_batches("train", 4, shuffle=True)
    with pytest.raises(DatasetError, match="batch size 0"):
        dataset.iter_batches("train", 0)
    with pytest.raises(DatasetError, match=r"no 'test' split \(have: train, val\)"):
        dataset.iter_batches("test", 4)


def test_an_abandoned_iterator_does_not_leave_its_thread_running(dataset):
    it = dataset.iter_batches("train", 2, prefetch=1)
    next(it)
    thread = it._thread
    del it  # dropped mid-epoch without close(): collection must stop the thread
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_an_error_while_preparing_reaches_the_consumer(dataset, monkeypatch):
    it = dataset.iter_batches("train", 4, prefetch=2)
    split = dataset.splits["train"]
    monkeypatch.setattr(type(split), "take", lambda self, rows: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        list(it)
