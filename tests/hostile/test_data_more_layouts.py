"""Data sets as their downloads lay them out: CIFAR-10's binary version, CIFAR-100, the
extracted folder beside its archive, torchvision's MNIST/raw/, an archive never extracted.
Each must load with the right pixels, labels and names, or be refused with one line that
names the file and says what to do; a crafted pickle in any of them still runs nothing."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
from hostile_tools import assert_refused

from engine.data import Preprocessing, check_dataset, detect_source, load_dataset

_RNG = np.random.default_rng(0)


def _records(labels) -> tuple[bytes, np.ndarray]:
    pixels = _RNG.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    rows = [bytes([lab]) + pixels[i].tobytes() for i, lab in enumerate(labels)]
    return b"".join(rows), pixels.reshape(-1, 3, 32, 32)


def test_cifar10_binary_batches_load_with_pixels_labels_and_names(tmp_path, cli):
    inner = tmp_path / "cifar" / "cifar-10-batches-bin"
    inner.mkdir(parents=True)
    train_bytes, train_px = _records([0, 1, 2, 1])
    test_bytes, test_px = _records([2, 0])
    (inner / "data_batch_1.bin").write_bytes(train_bytes)
    (inner / "test_batch.bin").write_bytes(test_bytes)
    (inner / "batches.meta.txt").write_text("airplane\nautomobile\nbird\n\n")
    (tmp_path / "cifar" / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b" + bytes(64))
    result = cli("data", tmp_path / "cifar", seconds=10)
    assert result.code == 0 and "6 images" in result.out, result.err
    ds = load_dataset(tmp_path / "cifar", Preprocessing(3, 32, 32), val_fraction=0.0,
                      cache_dir=tmp_path / "cache")  # fmt: skip
    assert ds.kind == "cifar10" and ds.class_names == ("airplane", "automobile", "bird")
    np.testing.assert_array_equal(ds.split("train").images, train_px)
    np.testing.assert_array_equal(ds.split("train").labels, [0, 1, 2, 1])
    np.testing.assert_array_equal(ds.split("test").images, test_px)


def test_a_truncated_binary_batch_is_named(tmp_path, cli):
    root = tmp_path / "bin"
    root.mkdir()
    data, _ = _records([0, 1, 0])
    (root / "data_batch_1.bin").write_bytes(data[:-100])
    line = assert_refused(cli("data", root, seconds=10))
    assert "data_batch_1.bin" in line and "3073-byte records" in line


def test_cifar100_binary_records_get_a_hint(tmp_path, cli):
    root = tmp_path / "bin"
    root.mkdir()
    (root / "data_batch_1.bin").write_bytes(bytes(3074 * 3))
    line = assert_refused(cli("data", root, seconds=10))
    assert "CIFAR-100" in line


def _cifar100(root, crafted=None):
    root.mkdir(parents=True)
    data = _RNG.integers(0, 256, (4, 3072), dtype=np.uint8)
    train = {b"data": data, b"fine_labels": [0, 1, 0, 1], b"coarse_labels": [0, 0, 0, 0]}
    (root / "train").write_bytes(crafted or pickle.dumps(train, protocol=2))
    test = {b"data": data[:2], b"fine_labels": [1, 0], b"coarse_labels": [0, 0]}
    (root / "test").write_bytes(pickle.dumps(test, protocol=2))
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"apple", b"bee"]}))
    return data


def test_cifar100_python_loads_its_fine_labels(tmp_path):
    data = _cifar100(tmp_path / "dl" / "cifar-100-python")
    ds = load_dataset(tmp_path / "dl", Preprocessing(3, 32, 32), val_fraction=0.0,
                      cache_dir=tmp_path / "cache")  # fmt: skip
    assert ds.kind == "cifar100" and ds.class_names == ("apple", "bee")
    np.testing.assert_array_equal(ds.split("train").labels, [0, 1, 0, 1])
    np.testing.assert_array_equal(ds.split("train").images, data.reshape(-1, 3, 32, 32))
    assert len(ds.split("test")) == 2


class _Touch:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_cifar100_pickle_runs_nothing(tmp_path, cli):
    marker = tmp_path / "pwned"
    _cifar100(tmp_path / "c", crafted=pickle.dumps({b"data": _Touch(marker)}))
    line = assert_refused(cli("data", tmp_path / "c", seconds=10))
    assert "train" in line and "refused" in line and not marker.exists()


def _idx(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


@pytest.mark.parametrize("given", ["data", "data/FashionMNIST"])
def test_torchvision_download_layout_is_entered(tmp_path, given):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    _idx(raw / "train-images-idx3-ubyte", _RNG.integers(0, 255, (6, 8, 8), dtype=np.uint8))
    _idx(raw / "train-labels-idx1-ubyte", np.array([0, 1, 2] * 2, np.uint8))
    (raw.parent / "processed").mkdir()
    (raw.parent / "processed" / "training.pt").write_bytes(b"not read")
    report = check_dataset(tmp_path / given)
    assert report.kind == "idx" and report.total == 6
    assert report.class_names[:3] == ("T-shirt/top", "Trouser", "Pullover")


def test_an_image_class_named_raw_stays_an_image_class(tmp_path):
    from PIL import Image

    for name in ("raw", "cooked"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("L", (4, 4), 40 * i + len(name)).save(tmp_path / name / f"{i}.png")
    assert detect_source(tmp_path).kind == "folder"


def test_an_archive_never_extracted_says_to_extract_it(tmp_path, cli):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b" + bytes(64))
    line = assert_refused(cli("data", tmp_path, seconds=10))
    assert "cifar-10-python.tar.gz" in line and "extract" in line


def test_cifar10_without_its_training_batches_says_so(tmp_path, cli):
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}))
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a", b"b"]}))
    line = assert_refused(cli("data", tmp_path, seconds=10))
    assert "data_batch_1" in line and "missing" in line


@pytest.mark.parametrize(
    "crafted",
    [
        b"\x80\x05\x95" + struct.pack("<Q", 2**64 - 1) + b"}.",  # FRAME past 2**63
        b"\x80\x05\x96" + struct.pack("<Q", 2**63 + 5) + b"..",  # BYTEARRAY8 past 2**63
    ],
    ids=["frame", "bytearray8"],
)
def test_a_pickle_length_past_what_python_can_hold_is_a_broken_batch(tmp_path, cli, crafted):
    (tmp_path / "data_batch_1").write_bytes(crafted)
    line = assert_refused(cli("data", tmp_path, seconds=10))
    assert "data_batch_1" in line and "broken pickle" in line


def test_an_archive_given_as_the_data_path_says_to_extract_it(tmp_path, cli):
    archive = tmp_path / "cats-and-dogs.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(60))
    line = assert_refused(cli("data", archive, seconds=10))
    assert "cats-and-dogs.zip" in line and "extract" in line


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("data_batch_1", lambda p: __import__("os").mkfifo(p)),
        ("data_batch_1.bin", lambda p: p.symlink_to("/dev/zero")),
        ("train-images-idx3-ubyte", lambda p: __import__("os").mkfifo(p)),
        ("train-labels-idx1-ubyte.gz", lambda p: p.symlink_to(p.with_name("gone"))),
    ],
    ids=["fifo-batch", "dev-zero-bin", "fifo-idx", "dangling-idx"],
)
def test_a_data_file_name_on_something_that_is_no_file_is_named(tmp_path, cli, name, make):
    make(tmp_path / name)
    line = assert_refused(cli("data", tmp_path, seconds=10))
    assert name in line and "class folders" not in line
