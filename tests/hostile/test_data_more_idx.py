"""IDX sets whose headers are well formed but whose shapes no image set has (four channels,
zero height, no image), and class-name files that would mislabel or merge classes. The
health check and a load must refuse the same file with one line that names it."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hostile_tools import assert_refused

from engine.data import DatasetError, Preprocessing, check_dataset, load_dataset

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"


def _idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _set(root, images: np.ndarray, labels: np.ndarray):
    root.mkdir()
    _idx(root / IMAGES, images)
    _idx(root / LABELS, labels)
    return root


_LABELS6 = np.array([0, 1, 2, 0, 1, 2], np.uint8)

# (id, images array, labels array, words of the one line)
SHAPES = [
    ("four-channels", np.zeros((6, 8, 8, 4), np.uint8), _LABELS6, ("8x8x4", "4 channels")),
    ("two-channels", np.zeros((6, 8, 8, 2), np.uint8), _LABELS6, ("2 channels",)),
    ("zero-height", np.zeros((6, 0, 8), np.uint8), _LABELS6, ("zero height", "6x0x8")),
    ("zero-width", np.zeros((6, 8, 0), np.uint8), _LABELS6, ("zero height or width",)),
    ("no-images", np.zeros((0, 8, 8), np.uint8), _LABELS6[:0], ("no images", "0x8x8")),
]


@pytest.mark.parametrize(("name", "images", "labels", "words"), SHAPES, ids=[s[0] for s in SHAPES])
def test_shapes_no_image_set_has_are_refused_alike_by_check_and_load(
    tmp_path, cli, name, images, labels, words
):
    root = _set(tmp_path / "mnist", images, labels)
    line = assert_refused(cli("data", root, seconds=10))
    assert IMAGES in line and all(w in line for w in words), line
    with pytest.raises(DatasetError) as loaded:
        load_dataset(root, Preprocessing(1, 8, 8), cache_dir=tmp_path / "cache")
    assert str(loaded.value) in line  # the same file, the same reason


def test_a_labels_file_of_two_dimensions_names_the_labels_file(tmp_path, cli):
    root = _set(tmp_path / "mnist", np.zeros((6, 8, 8), np.uint8), _LABELS6.reshape(6, 1))
    line = assert_refused(cli("data", root, seconds=10))
    assert LABELS in line and "6x1" in line


def _images(n=6):
    return np.random.default_rng(0).integers(0, 255, (n, 8, 8), dtype=np.uint8)


def test_a_byte_order_mark_is_not_part_of_the_first_class_name(tmp_path):
    root = _set(tmp_path / "mnist", _images(), _LABELS6)
    (root / "classes.txt").write_bytes("\ufeffcat\r\ndog\r\nbird\r\n\r\n".encode())
    assert check_dataset(root).class_names == ("cat", "dog", "bird")


# (id, classes.txt text, words of the one line)
BAD_NAMES = [
    ("duplicate", "cat\ncat\ndog\n", ("'cat'", "twice")),
    ("blank-line-between", "cat\n\ndog\nbird\n", ("class 1", "empty")),
    ("tab-in-name", "cat\tx\ndog\nbird\n", ("control character",)),
]


@pytest.mark.parametrize(("name", "text", "words"), BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_class_names_that_would_merge_or_shift_classes_are_refused(
    tmp_path, cli, name, text, words
):
    root = _set(tmp_path / "mnist", _images(), _LABELS6)
    (root / "classes.txt").write_text(text)
    line = assert_refused(cli("data", root, seconds=10))
    assert "classes.txt" in line and all(w in line for w in words), line


def test_duplicate_names_in_a_cifar_meta_file_are_refused(tmp_path, cli):
    import pickle

    root = tmp_path / "cifar"
    root.mkdir()
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    (root / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"cat", b"cat"]}))
    line = assert_refused(cli("data", root, seconds=10))
    assert "batches.meta" in line and "twice" in line


def test_one_labelled_class_says_labels_not_class_folders(tmp_path, cli):
    root = _set(tmp_path / "mnist", _images(), np.zeros(6, np.uint8))
    line = assert_refused(cli("data", root, seconds=10))
    assert "only one class" in line and "class folders" not in line


def _gz_idx(path, array: np.ndarray) -> None:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + np.ascontiguousarray(array, np.uint8).tobytes()))


def _emnist(root, subset: str, images: np.ndarray, labels: np.ndarray) -> None:
    _gz_idx(root / f"emnist-{subset}-train-images-idx3-ubyte.gz", images)
    _gz_idx(root / f"emnist-{subset}-train-labels-idx1-ubyte.gz", labels)


def test_emnist_is_read_upright_with_its_mapping_names(tmp_path):
    stored = np.zeros((4, 5, 5), np.uint8)
    stored[:, 0, :] = 255  # EMNIST stores images transposed: this is the left column
    _emnist(tmp_path, "letters", stored, np.array([1, 2, 1, 2], np.uint8))
    (tmp_path / "emnist-letters-mapping.txt").write_text("1 65 97\n2 66 98\n")
    ds = load_dataset(tmp_path, Preprocessing(1, 5, 5), cache=False, val_fraction=0.0)
    assert ds.class_names == ("0", "Aa", "Bb")
    upright = ds.split("train").images[0, 0]
    assert (upright[:, 0] == 255).all() and (upright[:, 1:] == 0).all()


def test_a_folder_of_several_emnist_sets_asks_for_one(tmp_path, cli):
    for subset in ("digits", "letters"):
        _emnist(tmp_path, subset, _images(4), np.array([0, 1, 0, 1], np.uint8))
    line = assert_refused(cli("data", tmp_path, seconds=10))
    assert "emnist-digits" in line and "emnist-letters" in line and "folder of their own" in line


def test_idx_files_each_unpacked_into_a_folder_of_its_name_are_read(tmp_path):
    # Kaggle's MNIST: train-images-idx3-ubyte/train-images-idx3-ubyte, and so on.
    _idx_in = tmp_path / IMAGES
    _idx_in.mkdir()
    _idx(_idx_in / IMAGES, _images())
    (tmp_path / LABELS).mkdir()
    _idx(tmp_path / LABELS / LABELS, _LABELS6)
    report = check_dataset(tmp_path)
    assert report.kind == "idx" and report.total == 6


def test_digits_under_a_project_folder_named_fashion_keep_digit_names(tmp_path):
    (tmp_path / "fashion-project").mkdir()
    root = _set(tmp_path / "fashion-project" / "mnist", _images(), _LABELS6)
    assert check_dataset(root).class_names == ("0", "1", "2")
    named = _set(tmp_path / "fashion-project" / "Fashion-MNIST", _images(), _LABELS6)
    assert check_dataset(named).class_names[:2] == ("T-shirt/top", "Trouser")
