"""The worst cases once more as real `cnn-workbench` processes, under an address-space limit
and a timeout: what used to hang (a FIFO) or read until memory ran out (/dev/zero, bombs)
must now end at once, with one line and exit 1 or 2, inside 1 GiB of address space."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from hostile_tools import assert_refused, child

LIMIT_MB = 1536  # numpy and Pillow load in this; a decompression bomb does not fit


def _fifo_spec(tmp_path):
    os.mkfifo(tmp_path / "p.json")
    return ["summary", tmp_path / "p.json"], "FIFO"


def _dev_zero(tmp_path):
    return ["summary", "/dev/zero"], "device"


def _deep_spec(tmp_path):
    (tmp_path / "deep.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    return ["summary", tmp_path / "deep.json"], "nested"


def _fifo_in_class(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "d" / name).mkdir(parents=True)
        Image.new("L", (8, 8), 9).save(tmp_path / "d" / name / "0.png")
    os.mkfifo(tmp_path / "d" / "a" / "p.png")
    (tmp_path / "d" / "b" / "x.png").symlink_to("/dev/zero")
    return ["data", tmp_path / "d"], None  # succeeds: both listed as skipped


def _gzip_bomb(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    with gzip.open(root / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 3000, 1000, 1000))
        for _ in range(16):
            f.write(bytes(1 << 20))
    (root / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 0, 1]))
    return ["data", root], "bomb"


class _Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _pickle_bomb(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    evil = {b"data": _Call(np.ndarray, (10**4, 3 * 10**6), "u1"), b"labels": [0]}
    (root / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    return ["data", root], "more than the file"


def _reference_bomb(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    row = list(range(3072))
    batch = {b"data": [row] * 800_000, b"labels": [0] * 800_000}
    (root / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    return ["data", root], "a list"


CASES = [
    _fifo_spec,
    _dev_zero,
    _deep_spec,
    _fifo_in_class,
    _gzip_bomb,
    _pickle_bomb,
    _reference_bomb,
]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_a_child_process_ends_at_once_in_bounded_memory(tmp_path, make):
    argv, word = make(tmp_path)
    result = child(
        *argv, timeout=20, memory_mb=LIMIT_MB, env={"CNN_WORKBENCH_CACHE": str(tmp_path / "cache")}
    )
    if word is None:
        assert result.code == 0, result.err
        assert "a/p.png: a named pipe (FIFO)" in result.out and "b/x.png: a device" in result.out
    else:
        assert word in assert_refused(result)
