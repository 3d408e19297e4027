"""The IDX reader: gzipped and plain files, name variants, class names, broken files."""

from __future__ import annotations

import numpy as np
import pytest
from data_builders import write_idx

from engine.data import DatasetError, Geometry, detect_source
from engine.data.idx import FASHION_MNIST_CLASSES, read_idx_file


def _images(n, seed=0, h=6, w=5):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


def _write_set(root, compress, style="-", n_train=8, n_test=4):
    train, test = _images(n_train), _images(n_test, seed=1)
    ext = ".gz" if compress else ""
    write_idx(root / f"train-images{style}idx3-ubyte{ext}", train, compress)
    write_idx(root / f"train-labels{style}idx1-ubyte{ext}", np.arange(n_train) % 3, compress)
    write_idx(root / f"t10k-images{style}idx3-ubyte{ext}", test, compress)
    write_idx(root / f"t10k-labels{style}idx1-ubyte{ext}", np.arange(n_test) % 3, compress)
    return train, test


@pytest.mark.parametrize(("compress", "style"), [(True, "-"), (False, "-"), (False, ".")])
def test_reads_train_and_t10k_pairs(tmp_path, compress, style):
    train, test = _write_set(tmp_path, compress, style)
    source = detect_source(tmp_path)
    assert source.kind == "idx"
    decoded = source.read(Geometry(1, 6, 5))
    assert decoded.class_names == ("0", "1", "2")
    np.testing.assert_array_equal(decoded.splits["train"].images[:, 0], train)
    np.testing.assert_array_equal(decoded.splits["test"].images[:, 0], test)
    assert decoded.splits["train"].labels.dtype == np.int64
    assert decoded.splits["test"].labels.tolist() == [0, 1, 2, 0]
    assert decoded.sizes == {"5x6": 12} and decoded.modes == {"L": 12}


def test_converts_to_rgb_and_resizes(tmp_path):
    _write_set(tmp_path, compress=True)
    decoded = detect_source(tmp_path).read(Geometry(3, 12, 10))
    images = decoded.splits["train"].images
    assert images.shape == (8, 3, 12, 10)
    np.testing.assert_array_equal(images[:, 0], images[:, 2])  # gray copied to R, G, B


def test_class_names_from_file_or_fashion_folder(tmp_path):
    fashion = tmp_path / "fashion-mnist"
    _write_set(fashion, compress=True)
    assert detect_source(fashion).read(None).class_names == FASHION_MNIST_CLASSES
    (fashion / "classes.txt").write_text("red\ngreen\nblue\n")
    assert detect_source(fashion).read(None).class_names == ("red", "green", "blue")


def test_truncated_file_is_named(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", _images(4), compress=False)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*truncated"):
        read_idx_file(path)


def test_bad_header_and_type_are_refused(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x89PNG....")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx_file(path)
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0" * 4)
    with pytest.raises(DatasetError, match="only unsigned bytes"):
        read_idx_file(path)


def test_incomplete_pairs_say_what_is_missing(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", _images(3), compress=True)
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte"):
        detect_source(tmp_path)


def test_image_and_label_counts_must_match(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", _images(3), compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8), compress=False)
    with pytest.raises(DatasetError, match="3 images but"):
        detect_source(tmp_path).read(None)
