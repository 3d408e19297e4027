"""The CIFAR-10 reader, and its refusal of pickles that would run code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from data_builders import write_cifar

from engine.data import DatasetError, Geometry, Preprocessing, detect_source, load_dataset
from engine.data.cifar import load_pickle


def test_reads_batches_meta_and_layout(tmp_path):
    root = write_cifar(tmp_path / "cifar", batches=2, per_batch=6)
    source = detect_source(root)
    assert source.kind == "cifar10"
    decoded = source.read(Geometry(3, 32, 32))
    assert decoded.class_names == ("airplane", "bird", "cat")
    train = decoded.splits["train"]
    assert train.images.shape == (12, 3, 32, 32) and len(decoded.splits["test"]) == 6
    batch = pickle.loads((root / "data_batch_2").read_bytes())
    # Rows are the R, G, B planes of a 32x32 image, row-major.
    np.testing.assert_array_equal(train.images[6], batch["data"][0].reshape(3, 32, 32))
    assert train.labels.tolist() == [0, 1, 2, 0, 1, 2] * 2


def test_python2_style_bytes_keys_and_protocol_2(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    batch = {b"data": data, b"labels": [1, 0], b"batch_label": b"x"}
    # The 2009 files name numpy 1's module; GLOBAL opcodes are text lines, so rename it.
    raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray\n_reconstruct" in raw
    (root / "data_batch_1").write_bytes(raw)
    decoded = detect_source(root).read(Geometry(1, 16, 16))
    assert decoded.class_names == ("0", "1")  # no batches.meta: label numbers
    assert decoded.splits["train"].images.shape == (2, 1, 16, 16)


def test_archive_subfolder_is_entered(tmp_path):
    write_cifar(tmp_path / "dl" / "cifar-10-batches-py")
    assert detect_source(tmp_path / "dl").kind == "cifar10"


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, cache_dir):
    root = write_cifar(tmp_path / "cifar")
    marker = tmp_path / "pwned"
    evil = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": _RunsCode(marker)}
    (root / "data_batch_1").write_bytes(pickle.dumps(evil))
    with pytest.raises(DatasetError, match=r"data_batch_1: refused to load.*system"):
        load_dataset(root, Preprocessing(3, 32, 32), cache_dir=cache_dir)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(np.array([object()], dtype=object)),  # object arrays smuggle objects
        b"cbuiltins\neval\n(V__import__('os')\ntR.",  # a hand-written protocol-0 pickle
    ],
)
def test_other_dangerous_globals_are_refused(tmp_path, payload):
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    with pytest.raises(DatasetError, match="refused to load"):
        load_pickle(path)


def test_wrong_contents_are_named(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "data_batch_1").write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8),
                                                      "labels": [0, 1]}))  # fmt: skip
    with pytest.raises(DatasetError, match=r"data_batch_1: 'data' is uint8 \(2, 10\)"):
        detect_source(root).read(None)
    (root / "data_batch_1").write_bytes(b"\x80\x05garbage")
    with pytest.raises(DatasetError, match="data_batch_1"):
        detect_source(root).read(None)
