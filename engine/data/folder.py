"""Image folders in torchvision's ImageFolder layout: one subfolder per class.

    root/cat/001.png          root/train/cat/001.png
    root/dog/x/002.jpg   or   root/test/cat/107.png      (val/, valid/ or validation/ too)

Class names are the class folder names, sorted (Python string order), the same in every split;
files are found recursively; hidden files and folders, and what an OS or archiver leaves
(``__MACOSX/``, ``Thumbs.db``, ``desktop.ini``), are ignored. Decoding runs on a few threads
(Pillow releases the GIL while it decodes) and writes each image straight into the array the
caller allocated, so a large folder streams into a memory-mapped cache file.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data.decoded import Allocate, DataSource, Decoded, SourceSplit
from engine.data.errors import DatasetError, UnusableImage
from engine.data.images import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_BYTES,
    DecodedFile,
    Geometry,
    decode_file_quietly,
    quiet_pillow,
)
from engine.io import regular_file_problem

__all__ = ["ignored_name", "read_folder", "scan_folder"]

_SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_CHUNK = 512  # files decoded per batch of thread-pool work: bounds results held at once
_THREADED_BYTES = 8 * 1024  # mean file size above which decoding uses threads


@dataclass(frozen=True)
class _Entry:
    split: str
    label: int
    path: Path


#: What operating systems and archivers leave among a person's files: never a class, never an
#: image, so ignored like hidden files (a zip made on a Mac holds a __MACOSX/ tree of
#: resource forks, Windows writes Thumbs.db and desktop.ini into every folder of pictures).
_SYSTEM_NAMES = frozenset(
    {"__macosx", "@eadir", "$recycle.bin", "system volume information", "lost+found",
     "__pycache__", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}
)  # fmt: skip


def ignored_name(name: str) -> bool:
    """Hidden (".DS_Store", "._x.png") or a file/folder an OS or archiver made."""
    return name.startswith(".") or name.lower() in _SYSTEM_NAMES


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not ignored_name(p.name))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _files_under(
    path: Path, claimed: dict[Path, str], walked: set[tuple[int, int]]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files, left-out folders with their reason) under class folder ``path``: os.walk would
    skip a folder it may not list without a word, and the report must say what was left out.

    ``claimed`` maps every class folder of the scan to its real path; ``walked`` collects the
    (device, inode) of the folders read so far, over the whole scan. A link to a folder is
    followed (a class assembled from links to other disks is common) unless it leads into a
    class folder or to a folder above one (its images would be read twice, under two
    classes) or to a folder read already (a loop, or two links to one folder): those are
    listed with the reason instead. A class folder that is itself such a link is too."""
    found: list[Path] = []
    errors: list[tuple[Path, str]] = []

    def note(e: OSError) -> None:
        errors.append((Path(e.filename or path), f"folder cannot be read ({e.strerror or e})"))

    def refuse(folder: str | Path, reason: str) -> bool:
        errors.append((Path(folder), f"{reason}, not followed (its images would be read twice);"
                                     " remove the link or copy the images"))  # fmt: skip
        return False

    def follow(folder: str | Path, own: Path | None = None) -> bool:
        if not os.path.islink(folder):
            return True
        try:
            st, real = os.stat(folder), os.path.realpath(folder)
        except OSError as e:
            errors.append((Path(folder), f"link to a folder that cannot be read ({e.strerror})"))
            return False
        for other, other_real in claimed.items():
            if other == own:
                break  # a class folder that is a link yields only to those listed before it
            if _inside(real, other_real):
                return refuse(folder, f"a link into class folder {other.name}/")
            if _inside(other_real, real):
                return refuse(folder, f"a link to a folder that holds class folder {other.name}/")
        if (st.st_dev, st.st_ino) in walked:
            return refuse(folder, "a link to a folder already read")
        return True

    if not follow(path, own=path):
        return found, errors
    for dirpath, dirnames, filenames in os.walk(path, onerror=note, followlinks=True):
        try:
            st = os.stat(dirpath)
            walked.add((st.st_dev, st.st_ino))
        except OSError:
            pass
        dirnames[:] = [
            d for d in sorted(dirnames)
            if not ignored_name(d) and follow(os.path.join(dirpath, d))
        ]  # fmt: skip
        found += [Path(dirpath, f) for f in sorted(filenames) if not ignored_name(f)]
    return found, errors


def _split_folders(folder: Path, notes: list[str], where: str) -> dict[str, Path]:
    """{split: subfolder} of the split-named subfolders of ``folder`` (train, val/valid/
    validation, test); every other subfolder, and a second one for a split, is noted as
    ignored (``where`` prefixes its name in the note)."""
    found: dict[str, Path] = {}
    for d in _visible_dirs(folder):
        split = _SPLIT_DIRS.get(d.name.lower())
        if split is None or split in found:
            notes.append(f"folder {where}{d.name}/ ignored: not a split name (train, val, test)")
        else:
            found[split] = d
    return found


def _layout(
    root: Path, notes: list[str]
) -> tuple[dict[str, list[tuple[str, Path]]], list[Path], str]:
    """({split: [(class name, folder)]}, folders whose loose files are strays, layout words).

    Three layouts: class folders (all train), train/<class>/ (and val/, test/), and the
    inverted <class>/train/ (and val/, test/) in which every class folder holds a train/:
    read as the split it names, not all as training images (its test images would
    otherwise train the model and no test split would be left to say so)."""
    top = _visible_dirs(root)
    if any(d.name.lower() == "train" for d in top):
        splits = _split_folders(root, notes, "")
        order = [s for s in ("train", "val", "test") if s in splits]
        classes = {split: [(c.name, c) for c in _visible_dirs(splits[split])] for split in order}
        return classes, [splits[s] for s in order], "/".join(order) + " folders"
    inner = {c: [d.name.lower() for d in _visible_dirs(c)] for c in top}
    if len(top) >= 2 and all("train" in names for names in inner.values()):
        classes: dict[str, list[tuple[str, Path]]] = {}
        for c in top:
            for split, d in _split_folders(c, notes, f"{c.name}/").items():
                classes.setdefault(split, []).append((c.name, d))
        order = [s for s in ("train", "val", "test") if s in classes]
        return {s: classes[s] for s in order}, top, "class/" + "/".join(order) + " folders"
    return {"train": [(c.name, c) for c in top]}, [], "class folders"


def scan_folder(root: str | os.PathLike[str]) -> DataSource:
    """List an image folder without reading any image.

    Raises ``DatasetError`` when ``root`` is not a folder or holds no class folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; give a folder with one subfolder per class")
    notes: list[str] = []
    class_dirs, loose, layout = _layout(root, notes)
    class_names = tuple(sorted({name for dirs in class_dirs.values() for name, _ in dirs}))
    if not class_names:
        raise DatasetError(
            f"{root}: no class folders found; put each class's images in its own subfolder "
            f"(e.g. {root / 'cat' / '001.png'}), optionally under train/ and test/"
        )
    index = {name: i for i, name in enumerate(class_names)}
    entries: list[_Entry] = []
    unsafe: list[tuple[Path, str]] = []
    # Real folders first, so that a class folder linking to another is the one left out.
    listed = [d for dirs in class_dirs.values() for _, d in dirs]
    claimed = {d: os.path.realpath(d) for d in sorted(listed, key=os.path.islink)}
    walked: set[tuple[int, int]] = set()
    for split, dirs in class_dirs.items():
        for name, class_dir in dirs:
            files, unreadable = _files_under(class_dir, claimed, walked)
            unsafe += unreadable
            for f in files:
                # Decided here, from a stat that never opens the file, so the health check and
                # training skip the same FIFOs, devices and symlink loops for the same reason,
                # and the cache key never stats a path that cannot be read.
                problem = regular_file_problem(f, MAX_IMAGE_BYTES)
                if problem is None:
                    entries.append(_Entry(split, index[name], f))
                else:
                    unsafe.append((f, problem))
    # Loose files beside the class folders (a README) are not data; beside split folders
    # they are images put in the wrong place, listed as such (with their reason).
    where = "a split folder (train, val, test)" if layout.startswith("class/") else "a class folder"
    stray = [
        (f, f"not inside {where}")
        for d in loose
        for f in sorted(d.iterdir())
        if f.is_file() and not ignored_name(f.name)
    ]
    return DataSource(
        kind="folder",
        root=root,
        files=tuple(e.path for e in entries),
        description=f"image folder {root} ({layout}, {len(class_names)} classes)",
        plan=(class_names, tuple(entries), tuple(stray), tuple(notes), tuple(unsafe)),
        reader=read_folder,
    )


def _try_decode(path: Path, geometry: Geometry | None) -> DecodedFile | str:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not an image file (extension {path.suffix or 'none'!r})"
    try:
        return decode_file_quietly(path, geometry)  # read_folder holds quiet_pillow
    except UnusableImage as e:
        return e.reason
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"


def _workers(entries: tuple[_Entry, ...]) -> int:
    """Decoding threads: one per core (at most 8) for files big enough that Pillow's
    GIL-free decode dominates; 1 for small files (28x28 PNGs), where threads only fight over
    the GIL (measured: 2 threads ran a folder of MNIST-sized PNGs 1.7x slower than 1)."""
    sample = entries[:: max(1, len(entries) // 64)][:64]
    sizes = []
    for e in sample:
        try:
            sizes.append(e.path.stat().st_size)
        except OSError:
            continue
    if not sizes or sum(sizes) / len(sizes) < _THREADED_BYTES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def read_folder(source: DataSource, geometry: Geometry | None, allocate: Allocate) -> Decoded:
    """Decode every file of a scanned folder (see ``DataSource.read``).

    Unusable files are skipped and listed with their reason; the arrays returned hold only
    the usable images, in listing order."""
    class_names, entries, stray, notes, unsafe = source.plan
    root = source.root
    decoded = Decoded("folder", root, class_names, {}, notes=list(notes))
    decoded.skipped += [(_rel(p, root), reason) for p, reason in stray]
    decoded.skipped += [(_rel(p, root), reason) for p, reason in unsafe]
    sizes: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    workers = _workers(entries)
    with quiet_pillow(), ThreadPoolExecutor(max_workers=workers) as pool:
        # One worker: map in this thread, skipping the pool's hand-offs.
        run = pool.map if workers > 1 else map
        for split in ("train", "val", "test"):
            todo = [e for e in entries if e.split == split]
            if not todo and split != "train":
                continue
            images = None if geometry is None else allocate(split, (len(todo), *geometry.shape))
            labels = np.empty(len(todo), dtype=np.int64)
            digests = np.empty(len(todo), dtype=np.uint64)
            names: list[str] = []
            for start in range(0, len(todo), _CHUNK):
                chunk = todo[start : start + _CHUNK]
                for entry, result in zip(
                    chunk,
                    run(_try_decode, [e.path for e in chunk], [geometry] * len(chunk)),
                    strict=True,
                ):
                    if isinstance(result, str):
                        decoded.skipped.append((_rel(entry.path, root), result))
                        continue
                    k = len(names)
                    if images is not None:
                        images[k] = result.pixels
                    labels[k], digests[k] = entry.label, result.digest
                    names.append(_rel(entry.path, root))
                    sizes[f"{result.size[0]}x{result.size[1]}"] += 1
                    modes[result.mode] += 1
            n = len(names)
            decoded.splits[split] = SourceSplit(
                None if images is None else images[:n], labels[:n], digests[:n], names
            )
    decoded.sizes, decoded.modes = dict(sizes), dict(modes)
    return decoded


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
