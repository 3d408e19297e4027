"""Decompression and allocation bombs in IDX and CIFAR-10 files, and crafted pickles.

Each file is small; what it declares or builds is huge. The readers must check headers and
declared sizes against the file before allocating, bound what the restricted unpickler may
build, and refuse with one line naming the file, in bounded time and memory."""

from __future__ import annotations

import gzip
import io
import pickle
import struct

import numpy as np
import pytest
from hostile_tools import assert_refused


def _idx_header(*shape: int, kind: int = 0x08) -> bytes:
    return bytes([0, 0, kind, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _gzip_stream(header: bytes, zeros: int) -> bytes:
    """gzip of ``header`` followed by ``zeros`` zero bytes, compressed in pieces so that
    neither the test nor the file ever holds the inflated size."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as f:
        f.write(header)
        block = bytes(1 << 20)
        for _ in range(zeros >> 20):
            f.write(block)
    return buf.getvalue()


def _labels(n: int) -> bytes:
    return _idx_header(n, kind=0x08) + bytes(n % 2 for n in range(n))


IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"

# (id, images file name, images bytes, a word of the one line)
IDX_CASES = [
    (
        "gzip-bomb-2GB",
        IMAGES + ".gz",
        lambda: _gzip_stream(_idx_header(2000, 1000, 1000), 24 << 20),
        "bomb",
    ),
    (
        "gzip-more-than-declared",
        IMAGES + ".gz",
        lambda: _gzip_stream(_idx_header(4, 8, 8), 16 << 20),
        "holds more",
    ),
    (
        "gzip-truncated",
        IMAGES + ".gz",
        lambda: _gzip_stream(_idx_header(4, 8, 8) + bytes(256), 0)[:-12],
        "gzip",
    ),
    ("gzip-garbage", IMAGES + ".gz", lambda: b"\x1f\x8b" + bytes(range(256)) * 4, "gzip"),
    (
        "raw-declares-60000-cubed",
        IMAGES,
        lambda: _idx_header(60000, 60000, 60000) + bytes(64),
        "truncated or corrupt",
    ),
    ("raw-short-by-one", IMAGES, lambda: _idx_header(4, 8, 8) + bytes(255), "holds 255"),
    ("raw-one-too-many", IMAGES, lambda: _idx_header(4, 8, 8) + bytes(257), "holds 257"),
    ("float-values", IMAGES, lambda: _idx_header(4, 8, 8, kind=0x0D) + bytes(1024), "0x0d"),
    ("zero-dimensions", IMAGES, lambda: bytes([0, 0, 8, 0]), "truncated"),
    ("not-idx", IMAGES, lambda: b"PK\x03\x04" + bytes(100), "not an IDX file"),
    ("header-cut", IMAGES, lambda: _idx_header(4, 8, 8)[:9], "truncated"),
    ("labels-do-not-match", IMAGES, lambda: _idx_header(3, 8, 8) + bytes(192), "labels"),
    (
        "gzip-of-255-dims",
        IMAGES + ".gz",
        lambda: _gzip_stream(_idx_header(*([255] * 255)), 0),
        "255 dimensions",
    ),
]


@pytest.mark.parametrize(
    ("name", "filename", "make", "word"), IDX_CASES, ids=[c[0] for c in IDX_CASES]
)
def test_idx_bombs_are_refused_before_inflating(tmp_path, cli, name, filename, make, word):
    root = tmp_path / "mnist"
    root.mkdir()
    (root / filename).write_bytes(make())
    (root / LABELS).write_bytes(_labels(4))
    line = assert_refused(cli("data", root, seconds=15, megabytes=200))
    assert filename in line and word in line


class _Call:
    """Pickles as ``func(*args)``: how a crafted file asks the unpickler to call things."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _batch(data, labels=None) -> bytes:
    return pickle.dumps(
        {b"data": data, b"labels": [0, 1] if labels is None else labels}, protocol=2
    )


def _meta(names) -> bytes:
    return pickle.dumps({b"label_names": names}, protocol=2)


_ROW = list(range(3072))
_GOOD = np.zeros((2, 3072), np.uint8)

# (id, file name, content, a word of the one line)
CIFAR_CASES = [
    (
        "ndarray-28GiB",
        "data_batch_1",
        lambda: _batch(_Call(np.ndarray, (10**4, 3 * 10**6), "u1")),
        "more than the file",
    ),
    (
        "ndarray-huge-dtype",
        "data_batch_1",
        lambda: _batch(_Call(np.ndarray, (8,), ("u1", (10**9,)))),
        "more than the file",
    ),
    (
        "reconstruct-huge",
        "data_batch_1",
        lambda: _batch(_Call(np._core.multiarray._reconstruct, np.ndarray, (10**10,), b"b")),
        "more than the file",
    ),
    (
        "reconstruct-subclass",
        "data_batch_1",
        lambda: _batch(_Call(np._core.multiarray._reconstruct, np.dtype, (1,), b"b")),
        "refused",
    ),
    (
        "repeated-row-references",
        "data_batch_1",
        lambda: _batch([_ROW] * 600_000, [0] * 600_000),
        "a list",
    ),
    ("labels-repeated-references", "data_batch_1", lambda: _batch(_GOOD, [_ROW] * 2), "integers"),
    ("labels-huge-ints", "data_batch_1", lambda: _batch(_GOOD, [10**30, 0]), "integers"),
    ("labels-bigger-than-classes", "data_batch_1", lambda: _batch(_GOOD, [10**9, 0]), "integers"),
    ("labels-negative", "data_batch_1", lambda: _batch(_GOOD, [-1, 0]), "integers"),
    (
        "os-system",
        "data_batch_1",
        lambda: pickle.dumps(_Call(__import__("os").system, "true")),
        "system",
    ),
    ("eval", "data_batch_1", lambda: pickle.dumps(_Call(eval, "1")), "eval"),
    ("object-dtype", "data_batch_1", lambda: _batch(np.array([None, 1], dtype=object)), "object"),
    ("truncated", "data_batch_1", lambda: _batch(_GOOD)[:-30], "broken pickle"),
    ("not-a-dict", "data_batch_1", lambda: pickle.dumps([1, 2, 3], protocol=2), "dict"),
    ("many-keys", "data_batch_1", lambda: pickle.dumps({i: 0 for i in range(100_000)}), "lack"),
    (
        "meta-million-name-references",
        "batches.meta",
        lambda: _meta(["x" * 3000] * 1_000_000),
        "label_names",
    ),
    ("meta-long-name", "batches.meta", lambda: _meta(["a", "b" * 10_000]), "label_names"),
]


@pytest.mark.parametrize(
    ("name", "filename", "make", "word"), CIFAR_CASES, ids=[c[0] for c in CIFAR_CASES]
)
def test_cifar_bombs_and_crafted_pickles_are_refused(tmp_path, cli, name, filename, make, word):
    root = tmp_path / "cifar"
    root.mkdir()
    (root / "data_batch_1").write_bytes(_batch(_GOOD))
    (root / filename).write_bytes(make())
    line = assert_refused(cli("data", root, seconds=20, megabytes=400))
    assert filename in line and word in line


def test_a_sparse_cifar_batch_is_refused_without_reading(tmp_path, cli):
    root = tmp_path / "cifar"
    root.mkdir()
    with open(root / "data_batch_1", "wb") as f:
        f.truncate(4 << 30)
    line = assert_refused(cli("data", root, seconds=5, megabytes=50))
    assert "data_batch_1" in line and "larger than" in line


def test_an_honest_gzipped_set_still_reads(tmp_path, cli):
    # The bomb check must not refuse a real set: images compress far less than 200:1.
    root = tmp_path / "mnist"
    root.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (40, 28, 28), dtype=np.uint8)
    (root / (IMAGES + ".gz")).write_bytes(gzip.compress(_idx_header(40, 28, 28) + pixels.tobytes()))
    (root / (LABELS + ".gz")).write_bytes(gzip.compress(_labels(40)))
    result = cli("data", root, seconds=15, megabytes=200)
    assert result.code == 0 and "40 images" in result.out, result.err
