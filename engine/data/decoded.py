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

__all__ = ["SPLITS", "Allocate", "DataSource", "Decoded", "SourceSplit", "in_memory"]

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
