"""``detect_source(path)``: which reader a path needs, decided from the names on disk only.

CIFAR batches (CIFAR-10 python ``data_batch_N`` or binary ``data_batch_N.bin``, CIFAR-100's
``train`` beside ``meta``) win over IDX files,
which win over an image folder. A folder whose data sits one or two levels down in the
folders its download made is entered: ``cifar-10-batches-py/``, ``cifar-10-batches-bin/``,
``cifar-100-python/``,
torchvision's ``MNIST/raw/`` (also FashionMNIST, KMNIST, EMNIST, QMNIST), provided nothing
but such folders is there (an image folder with a class called "raw" stays an image folder).
A folder holding only an archive is refused with the advice to extract it.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.cifar import find_cifar
from engine.data.cifar_bin import find_cifar_bin
from engine.data.decoded import DataSource
from engine.data.errors import DatasetError
from engine.data.folder import ignored_name, scan_folder
from engine.data.idx import find_idx

__all__ = ["detect_source"]

#: Folders (lower case) that downloads wrap a data set in; "processed" is torchvision's
#: converted copy beside "raw", never read here.
_WRAPPERS = frozenset(
    {"cifar-10-batches-py", "cifar-10-batches-bin", "cifar-100-python", "raw",
     "mnist", "fashionmnist", "kmnist", "emnist", "qmnist"}
)  # fmt: skip
_BESIDE_WRAPPERS = _WRAPPERS | {"processed"}
_ARCHIVES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar")


def _arrays(root: Path) -> DataSource | None:
    for find in (find_cifar, find_cifar_bin, find_idx):
        source = find(root)
        if source is not None:
            return source
    return None


def _listing(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if not ignored_name(p.name))
    except OSError as e:
        raise DatasetError(f"{root}: cannot list the folder ({e.strerror or e})") from None


def _wrapped(root: Path, entries: list[Path], depth: int) -> DataSource | None:
    """The array data set in a download's wrapper folder under ``root`` (see the module
    docstring), or None."""
    dirs = [p for p in entries if p.is_dir()]
    if not dirs or any(d.name.lower() not in _BESIDE_WRAPPERS for d in dirs):
        return None
    for d in dirs:
        if d.name.lower() in _WRAPPERS:
            try:
                inner = _listing(d)
            except DatasetError:
                continue  # an unreadable folder called "raw" may be an image class
            found = _arrays(d) or (_wrapped(d, inner, depth - 1) if depth > 1 else None)
            if found is not None:
                return found
    return None


def detect_source(path: str | os.PathLike[str]) -> DataSource:
    """The data source at ``path``: kind "cifar10" (python or binary batches),
    "cifar100", "idx" or "folder", nothing decoded yet.

    Raises ``DatasetError`` with one line when the path is missing, is a file, is empty or
    holds neither batches, IDX files nor class folders."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: no such folder; give the folder that holds the dataset")
    if not root.is_dir() and root.name.lower().endswith(_ARCHIVES):
        raise DatasetError(
            f"{root}: an archive; extract it (tar -xf or unzip) and give the folder that it makes"
        )
    if not root.is_dir():
        raise DatasetError(
            f"{root}: is a file; give the folder that holds it (image class folders, IDX "
            "files or CIFAR-10 batches)"
        )
    entries = _listing(root)
    if not entries:
        raise DatasetError(f"{root}: the folder is empty; add one subfolder of images per class")
    found = _arrays(root) or _wrapped(root, entries, depth=2)
    if found is not None:
        return found
    archives = [p for p in entries if p.name.lower().endswith(_ARCHIVES) and p.is_file()]
    if archives and not any(p.is_dir() for p in entries):
        raise DatasetError(
            f"{archives[0]}: an archive, and no extracted data beside it; extract it (tar -xf "
            "or unzip) and give the folder that it makes"
        )
    return scan_folder(root)
