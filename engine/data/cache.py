"""Disk cache of decoded images: ``.npy`` files opened as memory maps, keyed by what made them.

An entry is a folder ``<dir>/<source id>-<content key>/`` holding, per split,
``{split}_images.npy`` (uint8 N, C, H, W), ``{split}_labels.npy``, ``{split}_digests.npy``,
and ``meta.json`` (class names, file names, sizes, modes, skipped files). The source id hashes
the reader, the source folder and the geometry; the content key adds every file's relative
path, size and modification time, so touching or replacing a file gives a new key, and the
stale entry of the same source is deleted when the new one is stored.

Entries are built in a temporary folder beside them and renamed into place, so a crash never
leaves half an entry that a later run would trust. Images are decoded straight into the
entry's memory-mapped file and read back with ``mmap_mode="r"``: a data set larger than
memory stays on disk and the OS page cache holds it once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.data.decoded import DataSource, Decoded, SourceSplit
from engine.data.errors import DatasetError
from engine.data.images import Geometry
from engine.io import atomic_write_text, size_text
from engine.safe_json import load_json_file

__all__ = ["CACHE_ENV", "cache_key", "default_cache_dir", "load_or_read"]

CACHE_ENV = "CNN_WORKBENCH_CACHE"
# Bump when a reader decodes differently, so old entries are not trusted.
_LAYOUT = 2  # 2: 16-bit files always scaled (a dark one was read as 8-bit)


def default_cache_dir() -> Path:
    """``$CNN_WORKBENCH_CACHE``, else ``$XDG_CACHE_HOME/cnn-workbench``, else
    ``~/.cache/cnn-workbench``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cnn-workbench"


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def cache_key(source: DataSource, geometry: Geometry) -> tuple[str, str]:
    """(source id, content key): hex strings naming the entry of ``source`` at ``geometry``.

    Raises ``DatasetError`` when a listed file vanished or cannot be stat'ed."""
    root = source.root.resolve()
    ident = _digest([_LAYOUT, source.kind, str(root), [geometry.channels, geometry.height,
                     geometry.width, geometry.resize]])  # fmt: skip
    stats = []
    for path in source.files:
        try:
            st = path.stat()
        except OSError as e:
            raise DatasetError(f"{path}: cannot be read ({e.strerror or e}); "
                               "was it removed while loading?") from None  # fmt: skip
        stats.append([path.relative_to(source.root).as_posix(), st.st_size, st.st_mtime_ns])
    return ident, _digest([ident, stats])


def _usable(images, labels, digests, count: int, classes: int, geometry: Geometry) -> bool:
    """Whether arrays read back from an entry are what ``_store`` wrote for ``geometry``: a
    file damaged on disk, or swapped in by hand, is rebuilt instead of trusted (labels past
    the class names would index out of range in the middle of training)."""
    return (
        images.dtype == np.uint8
        and images.ndim == 4
        and images.shape[1:] == geometry.shape
        and len(images) >= count
        and labels.dtype == np.int64
        and labels.shape == (count,)
        and digests.dtype == np.uint64
        and digests.shape == (count,)
        and (count == 0 or (0 <= int(labels.min()) and int(labels.max()) < classes))
    )


def _load(entry: Path, geometry: Geometry) -> Decoded | None:
    try:
        # Our own file, but it lists every image name: a big folder's may pass 32 MB.
        meta = load_json_file(entry / "meta.json", limit=1 << 30)
        splits = {}
        for split, info in meta["splits"].items():
            count = info["count"]
            images = np.load(entry / f"{split}_images.npy", mmap_mode="r")
            labels = np.load(entry / f"{split}_labels.npy")
            digests = np.load(entry / f"{split}_digests.npy")
            if not _usable(images, labels, digests, count, len(meta["class_names"]), geometry):
                return None
            splits[split] = SourceSplit(images[:count], labels, digests, info["names"])
        return Decoded(
            kind=meta["kind"],
            root=Path(meta["root"]),
            class_names=tuple(meta["class_names"]),
            splits=splits,
            sizes=meta["sizes"],
            modes=meta["modes"],
            skipped=[tuple(s) for s in meta["skipped"]],
            notes=meta["notes"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: rebuilt by the caller


def _store(tmp: Path, decoded: Decoded, written: set[str]) -> None:
    splits = {}
    for split, part in decoded.splits.items():
        images = part.images
        if split in written and isinstance(images, np.memmap):
            images.flush()
        else:
            np.save(tmp / f"{split}_images.npy", np.ascontiguousarray(images))
        np.save(tmp / f"{split}_labels.npy", part.labels)
        np.save(tmp / f"{split}_digests.npy", part.digests)
        splits[split] = {"count": len(part), "names": part.names}
    meta = {
        "kind": decoded.kind,
        "root": str(decoded.root),
        "class_names": list(decoded.class_names),
        "splits": splits,
        "sizes": decoded.sizes,
        "modes": decoded.modes,
        "skipped": [list(s) for s in decoded.skipped],
        "notes": decoded.notes,
    }
    atomic_write_text(tmp / "meta.json", json.dumps(meta))


def load_or_read(
    source: DataSource,
    geometry: Geometry,
    cache_dir: str | os.PathLike[str] | None = None,
    on_miss: Callable[[], None] | None = None,
) -> tuple[Decoded, bool]:
    """The decoded ``source`` at ``geometry`` from the cache, decoding and storing it first
    when there is no valid entry. Returns (decoded, hit) where ``hit`` says it came from the
    cache. Images are read-only memory maps either way. ``on_miss`` is called before a
    decode starts (to tell a user that the first open takes a while).

    Raises ``DatasetError`` from the reader, or naming the cache folder when it cannot be
    written (set $CNN_WORKBENCH_CACHE to a writable folder)."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    ident, key = cache_key(source, geometry)
    entry = base / f"{ident}-{key}"
    if entry.is_dir():
        decoded = _load(entry, geometry)
        if decoded is not None:
            return decoded, True
        shutil.rmtree(entry, ignore_errors=True)
    if on_miss is not None:
        on_miss()
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{ident}-", dir=base))
    except OSError as e:
        raise DatasetError(
            f"{base}: cannot write the data cache ({e.strerror or e}); set ${CACHE_ENV} "
            "to a writable folder"
        ) from None
    try:
        written: set[str] = set()

        def allocate(split: str, shape: tuple[int, ...]) -> np.ndarray:
            if 0 in shape:
                return np.empty(shape, dtype=np.uint8)  # a zero-length file cannot be mapped
            # A memory map on a full disk does not fail politely: the first page that cannot
            # be stored kills the process with SIGBUS. So the space is checked first.
            need = math.prod(shape) + (1 << 20)
            free = shutil.disk_usage(tmp).free
            if need > free:
                raise DatasetError(
                    f"{base}: the decoded {split} images ({'x'.join(map(str, shape))}) need "
                    f"{size_text(need)} in the data cache but the disk has {size_text(free)} "
                    f"free; free space there or set ${CACHE_ENV} to a folder on a bigger disk"
                )
            written.add(split)
            return np.lib.format.open_memmap(
                tmp / f"{split}_images.npy", mode="w+", dtype=np.uint8, shape=shape
            )

        try:
            decoded = source.read(geometry, allocate)
            _store(tmp, decoded, written)
        except OSError as e:  # a full disk or a cache folder that turned read-only
            raise DatasetError(
                f"{e.filename or base}: cannot write the data cache ({e.strerror or e}); free "
                f"space there or set ${CACHE_ENV} to a writable folder with room"
            ) from None
        del decoded  # closes the writable maps before the folder moves
        for stale in base.glob(f"{ident}-*"):
            if stale != entry:
                shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            if not entry.is_dir():  # not a concurrent writer that got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    decoded = _load(entry, geometry)
    if decoded is None:
        raise DatasetError(f"{entry}: the cache entry just written cannot be read back")
    return decoded, False
