"""The disk cache: a second open is a hit, memory-mapped; any changed file invalidates it."""

from __future__ import annotations

import os

import numpy as np
import pytest
from data_builders import make_folder, save_image, write_idx

from engine.data import CACHE_ENV, DatasetError, Preprocessing, default_cache_dir, load_dataset


def _load(root, cache_dir, **kw):
    pre = kw.pop("pre", Preprocessing(1, 6, 6))
    return load_dataset(root, pre, val_fraction=0.0, cache_dir=cache_dir, **kw)


def test_second_open_hits_and_memory_maps(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 3, "b": 3})
    first = _load(root, cache_dir)
    second = _load(root, cache_dir)
    assert not first.cached and second.cached
    images = second.splits["train"].images
    assert isinstance(images.base, np.memmap) or isinstance(images, np.memmap)
    assert not images.flags.writeable
    np.testing.assert_array_equal(images, first.splits["train"].images)
    assert second.report == first.report


def test_decode_parameters_are_part_of_the_key(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    _load(root, cache_dir)
    other = _load(root, cache_dir, pre=Preprocessing(1, 6, 6, resize="pad"))
    assert not other.cached
    # Statistics are not decoding parameters: they are measured after the cache.
    centred = _load(root, cache_dir, pre=Preprocessing(1, 6, 6, center="channel"))
    assert centred.cached


def test_a_changed_file_invalidates_the_entry(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2}, size=(6, 6), mode="L")
    before = _load(root, cache_dir).splits["train"].images[0].copy()
    target = root / "a" / "000.png"
    stat = target.stat()
    save_image(target, (6, 6), "L", value=7)  # new content
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = _load(root, cache_dir)
    assert not after.cached
    assert after.splits["train"].images[0].max() == 7 != before.max()
    assert len(list(cache_dir.iterdir())) == 1  # the stale entry was removed


def test_touch_alone_invalidates(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    _load(root, cache_dir)
    target = root / "b" / "001.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert not _load(root, cache_dir).cached


def test_added_file_invalidates(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    _load(root, cache_dir)
    save_image(root / "b" / "new.png", seed=99)
    ds = _load(root, cache_dir)
    assert not ds.cached and len(ds.splits["train"]) == 5


def test_idx_files_are_cached_too(tmp_path, cache_dir):
    images = np.random.default_rng(0).integers(0, 256, (10, 6, 6), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(10) % 2, compress=True)
    assert not _load(tmp_path, cache_dir).cached
    ds = _load(tmp_path, cache_dir)
    assert ds.cached
    np.testing.assert_array_equal(ds.splits["train"].images[:, 0], images)


def test_a_damaged_entry_is_rebuilt(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    _load(root, cache_dir)
    (entry,) = cache_dir.iterdir()
    (entry / "train_labels.npy").write_bytes(b"junk")
    ds = _load(root, cache_dir)
    assert not ds.cached and ds.splits["train"].labels.tolist() == [0, 0, 1, 1]


def test_uncached_load_leaves_no_files(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    ds = _load(root, cache_dir, cache=False)
    assert not ds.cached and not cache_dir.exists()


def test_cache_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "cnn-workbench"


def test_unwritable_cache_is_one_clear_line(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 1, "b": 1})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match=f"cannot write the data cache.*{CACHE_ENV}"):
        _load(root, blocker / "cache")
