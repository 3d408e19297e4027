"""What a reader hands over: per split uint8 images, labels, byte digests, plus findings.

A reader never decides the validation split, the preprocessing or the report's verdict; it
only decodes what is on disk into these containers. ``Allocate`` lets the caller choose where
the pixels land: plain memory, or a ``.npy`` file in the cache opened as a memory map, so a
folder larger than memory is written straight to disk and never held whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "SPLITS",
    "Allocate",
    "DataSource",
    "Decoded",
    "SourceSplit",
    "checked_class_names",
    "class_names_file",
    "decode_batches",
    "in_memory",
    "is_data_file",
    "read_data_file",
]  # fmt: skip

#: Split names, in the order reports list them.
SPLITS = ("train", "val", "test")

#: ``allocate(split, shape)`` returns a writable uint8 array of that shape.
Allocate = Callable[[str, tuple[int, ...]], np.ndarray]


def in_memory(split: str, shape: tuple[int, ...]) -> np.ndarray:
    """The default ``Allocate``: an uninitialised uint8 array in memory. Raises
    ``DatasetError`` with both figures, before allocating, when it would not fit."""
    import math

    from engine.data.errors import DatasetError
    from engine.memory_budget import MemoryBudgetError, check_allocation

    try:
        check_allocation(math.prod(shape), f"the {split} images ({'x'.join(map(str, shape))})")
    except MemoryBudgetError as e:
        raise DatasetError(str(e)) from None
    return np.empty(shape, dtype=np.uint8)


def read_data_file(path: Path, limit: int) -> bytes:
    """The bytes of data file ``path`` (at most ``limit``); ``DatasetError`` naming it when it
    is not a regular file, is larger, or cannot be read."""
    from engine.data.errors import DatasetError
    from engine.io import UnsafeFile, read_regular_bytes

    try:
        return read_regular_bytes(path, limit)
    except UnsafeFile as e:
        raise DatasetError(str(e)) from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror or e})") from None


def is_data_file(path: Path) -> bool:
    """True for a regular file (or a link to one), False for a folder; ``DatasetError``
    naming it for anything else that bears a data file's name (a FIFO, a device, a socket,
    a dangling link or a loop), which a reader must neither open nor pass over in silence."""
    from engine.data.errors import DatasetError
    from engine.io import regular_file_problem

    problem = regular_file_problem(path)
    if problem is None:
        return True
    if path.is_dir():
        return False
    raise DatasetError(f"{path}: {problem}; put the downloaded file itself in its place")


def checked_class_names(names: list[str] | tuple[str, ...], where: str) -> tuple[str, ...]:
    """``names`` as a tuple when every name is usable as a class name; else ``DatasetError``
    naming ``where`` (the file the names came from) and the name at fault.

    Refused: an empty name, one with a control character (a newline would split the report's
    lines), and a name given twice (two labels with one name merge in every count and
    confusion matrix, and a prediction could not say which of the two it meant)."""
    from engine.data.errors import DatasetError

    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name.strip():
            raise DatasetError(f"{where}: class {i} has an empty name; give every class a name")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise DatasetError(
                f"{where}: class {i} name {name!r} holds a control character (a newline or "
                "tab); use plain text"
            )
        if name in seen:
            raise DatasetError(
                f"{where}: class name {name!r} is given twice (classes {seen[name]} and {i}); "
                "give each class its own name"
            )
        seen[name] = i
    return tuple(names)


def class_names_file(path: Path, n_labels: int) -> tuple[str, ...]:
    """The class names in text file ``path`` (one a line, UTF-8, a byte-order mark and
    blank lines at the end ignored), checked by ``checked_class_names``; at least
    ``n_labels`` of them. Raises ``DatasetError`` naming the file otherwise."""
    from engine.data.errors import DatasetError
    from engine.io import read_regular_bytes

    try:  # a few hundred bytes; a FIFO or a device in its place is refused
        # utf-8-sig: Windows editors start the file with a byte-order mark, which would
        # otherwise become part of the first class's name.
        text = read_regular_bytes(path, 1024 * 1024).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot be read ({e}); one class name a line") from None
    lines = [s.strip() for s in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()  # blank lines at the end are no classes; one in between is refused
    names = checked_class_names(lines, str(path))
    if len(names) < n_labels:
        raise DatasetError(
            f"{path}: {len(names)} names but labels go up to {n_labels - 1}; "
            "give one class name per line for every label"
        )
    return names


@dataclass
class SourceSplit:
    """One split as read from disk.

    ``images``: uint8 (N, C, H, W), or None when the source was only checked.
    ``labels``: int64 (N,) indices into the class names.
    ``digests``: uint64 (N,) hash of each image's bytes (file bytes for a folder, pixel bytes
    for IDX/CIFAR): equal digests are exact duplicates.
    ``names``: per image, the file path relative to the source root; None for array sources,
    whose images are named ``"train[17]"``.
    """

    images: np.ndarray | None
    labels: np.ndarray
    digests: np.ndarray
    names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def name(self, split: str, i: int) -> str:
        """A human name of image ``i`` of this split, for reports."""
        return self.names[i] if self.names is not None else f"{split}[{i}]"


@dataclass
class Decoded:
    """Everything one read of a source produced.

    ``sizes`` and ``modes`` count the native image sizes ("28x28", width x height) and Pillow
    modes found; ``skipped`` lists ``(path, reason)`` of every unusable file; ``notes`` are
    remarks about the layout (an ignored folder) that belong in the report.
    """

    kind: str
    root: Path
    class_names: tuple[str, ...]
    splits: dict[str, SourceSplit]
    sizes: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_array_split(self, split: str, images: np.ndarray, labels: np.ndarray,
                        geometry, allocate: Allocate) -> None:  # fmt: skip
        """Add a split read as one array (IDX, CIFAR-10): uint8 ``images`` (N, C, H, W) in
        their native size, converted to ``geometry`` into ``allocate``'s storage (no pixels
        when ``geometry`` is None); counts their size and mode."""
        from engine.data.images import convert_array, pixel_digests

        out = None
        if geometry is not None:
            converted = convert_array(images, geometry)
            out = allocate(split, converted.shape)
            out[...] = converted
        self.splits[split] = SourceSplit(out, labels, pixel_digests(images))
        h, w = images.shape[2:]
        self.sizes[f"{w}x{h}"] = self.sizes.get(f"{w}x{h}", 0) + len(images)
        mode = "L" if images.shape[1] == 1 else "RGB"
        self.modes[mode] = self.modes.get(mode, 0) + len(images)


def decode_batches(
    source: DataSource,
    load: Callable[[Path], tuple[np.ndarray, np.ndarray]],
    names: Callable[[int], tuple[str, ...]],
    geometry,
    allocate: Allocate,
) -> Decoded:
    """The ``Decoded`` of a source whose plan maps splits to batch files (CIFAR): ``load``
    gives each file's (uint8 (N, C, H, W), int64 (N,)); ``names(n_labels)`` the class names
    for labels 0 .. n_labels - 1. ``source.plan[0]`` is that {split: (paths...)} map."""
    arrays = {}
    for split, paths in source.plan[0].items():
        parts = [load(p) for p in paths]
        arrays[split] = (
            np.concatenate([d for d, _ in parts]),
            np.concatenate([lab for _, lab in parts]),
        )
    n_labels = int(max(lab.max(initial=0) for _, lab in arrays.values())) + 1
    decoded = Decoded(source.kind, source.root, names(n_labels), {})
    for split, (images, labels) in arrays.items():
        decoded.add_array_split(split, images, labels, geometry, allocate)
    return decoded


@dataclass(frozen=True)
class DataSource:
    """A dataset found on disk, before any pixel is read.

    ``kind``: "folder", "idx" or "cifar10". ``files``: every file the data depends on (the
    cache key stats them). ``plan``: the reader's own listing (what goes in which split).
    ``reader(source, geometry, allocate) -> Decoded`` decodes it; use ``read``.
    """

    kind: str
    root: Path
    files: tuple[Path, ...]
    description: str
    plan: object
    reader: Callable[..., Decoded] = field(repr=False)

    def read(self, geometry=None, allocate: Allocate = in_memory) -> Decoded:
        """Decode the source at ``geometry`` (an ``images.Geometry``), or with None only
        check every image (``SourceSplit.images`` is then None)."""
        return self.reader(self, geometry, allocate)
