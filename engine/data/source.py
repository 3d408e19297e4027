"""``detect_source(path)``: which reader a path needs, decided from the names on disk only.

CIFAR-10 batches (``data_batch_N``) win over IDX files, which win over an image folder; a
folder holding a single ``cifar-10-batches-py`` subfolder (the archive's layout) is entered.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.cifar import find_cifar
from engine.data.decoded import DataSource
from engine.data.errors import DatasetError
from engine.data.folder import scan_folder
from engine.data.idx import find_idx

__all__ = ["detect_source"]


def detect_source(path: str | os.PathLike[str]) -> DataSource:
    """The data source at ``path``: kind "cifar10", "idx" or "folder", nothing decoded yet.

    Raises ``DatasetError`` with one line when the path is missing, is a file, is empty or
    holds neither batches, IDX files nor class folders."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: no such folder; give the folder that holds the dataset")
    if not root.is_dir():
        raise DatasetError(
            f"{root}: is a file; give the folder that holds it (image class folders, IDX "
            "files or CIFAR-10 batches)"
        )
    try:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    except OSError as e:
        raise DatasetError(f"{root}: cannot list the folder ({e.strerror or e})") from None
    if not entries:
        raise DatasetError(f"{root}: the folder is empty; add one subfolder of images per class")
    inner = root / "cifar-10-batches-py"
    if len(entries) == 1 and inner.is_dir():
        root = inner
    for find in (find_cifar, find_idx):
        source = find(root)
        if source is not None:
            return source
    return scan_folder(root)
