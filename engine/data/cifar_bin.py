"""CIFAR-10 "binary version" batches (``cifar-10-binary.tar.gz``): plain records, no pickle.

    data_batch_1.bin ... data_batch_5.bin    the training split (10,000 records each)
    test_batch.bin                           the test split
    batches.meta.txt                         the class names, one a line

A record is 3073 bytes: the label (one byte, 0-9), then the red, green and blue 32x32
planes, row by row: the same pixel layout as the python batches, so both formats give the
same arrays and the same "cifar10" data source kind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from engine.data.decoded import (
    Allocate,
    DataSource,
    Decoded,
    class_names_file,
    decode_batches,
    is_data_file,
    read_data_file,
)
from engine.data.errors import DatasetError
from engine.data.images import Geometry

__all__ = ["RECORD_BYTES", "find_cifar_bin", "read_cifar_bin", "read_record_file"]

_BATCH = re.compile(r"^data_batch_(\d+)\.bin$", re.I)
_PIXELS = 3 * 32 * 32
#: One record: a label byte, then the pixels.
RECORD_BYTES = 1 + _PIXELS
#: Largest batch file read (a real one is 30.7 MB).
MAX_BATCH_BYTES = 512 * 1024 * 1024


def _named(root: Path, name: str) -> Path | None:
    """The regular file ``name`` in ``root``, matched case-insensitively, or None."""
    for p in sorted(root.iterdir()):
        if p.name.lower() == name and p.is_file():
            return p
    return None


def find_cifar_bin(root: str | os.PathLike[str]) -> DataSource | None:
    """The binary CIFAR-10 batches in ``root``, or None when it has no ``data_batch_N.bin``."""
    root = Path(root)
    batches = sorted(
        (p for p in root.iterdir() if _BATCH.match(p.name) and is_data_file(p)),
        key=lambda p: int(_BATCH.match(p.name).group(1)),
    )
    if not batches:
        return None
    test, meta = _named(root, "test_batch.bin"), _named(root, "batches.meta.txt")
    plan = {"train": tuple(batches)}
    if test is not None:
        plan["test"] = (test,)
    files = (*batches, *plan.get("test", ()), *((meta,) if meta is not None else ()))
    return DataSource(
        kind="cifar10",
        root=root,
        files=files,
        description=f"CIFAR-10 binary batches in {root} ({len(batches)} train batches"
        f"{', test_batch.bin' if test is not None else ''})",
        plan=(plan, meta),
        reader=read_cifar_bin,
    )


def read_record_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one ``.bin`` batch.

    Raises ``DatasetError`` naming the file when it is not a regular file, larger than
    MAX_BATCH_BYTES, empty, or not a whole number of 3073-byte records (a truncated
    download, or CIFAR-100's 3074-byte records)."""
    data = read_data_file(path, MAX_BATCH_BYTES)
    if not data or len(data) % RECORD_BYTES:
        hint = (
            "; it looks like CIFAR-100's binary format (2 label bytes), which is not read: "
            "use the CIFAR-100 python version, or images in class folders"
            if data and len(data) % (RECORD_BYTES + 1) == 0
            else "; the file is truncated or is not a CIFAR-10 binary batch, download it again"
        )
        raise DatasetError(
            f"{path}: {len(data)} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"(1 label byte + {_PIXELS} pixels){hint}"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    images = records[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, records[:, 0].astype(np.int64)


def read_cifar_bin(source: DataSource, geometry: Geometry | None, allocate: Allocate) -> Decoded:
    """Decode a source found by ``find_cifar_bin`` (see ``DataSource.read``)."""
    meta = source.plan[1]

    def names(n_labels: int) -> tuple[str, ...]:
        if meta is None:
            return tuple(str(i) for i in range(n_labels))
        return class_names_file(meta, n_labels)

    return decode_batches(source, read_record_file, names, geometry, allocate)
