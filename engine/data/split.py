"""The validation split carved out of the training images: seeded, stratified by class.

Stratified means every class gives the same fraction of its images (rounded, at least one
when it has two or more, never all of them), so a rare class is not left out of validation
by chance. The same labels, fraction and seed always give the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data.decoded import Decoded, SourceSplit
from engine.data.errors import DatasetError

__all__ = ["Split", "assign_splits", "stratified_split"]


@dataclass(frozen=True)
class Split:
    """The rows ``indices`` (int64, ascending) of a decoded ``source`` that form split
    ``name``. Pixels are uint8 (N, C, H, W) at the dataset's geometry."""

    name: str
    source: SourceSplit
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        """int64 (N,) class indices."""
        return self.source.labels[self.indices]

    @property
    def images(self) -> np.ndarray:
        """uint8 (N, C, H, W). The source array itself (read-only, maybe memory-mapped) when
        the split is all of it, else a gathered copy: prefer ``take`` or batches for big sets."""
        if len(self.indices) == len(self.source) and (
            len(self.indices) == 0 or self.indices[-1] == len(self.indices) - 1
        ):
            return self.source.images
        return self.source.images[self.indices]

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 (B, C, H, W) (a copy) and labels int64 (B,) of ``rows``, positions
        within this split."""
        picked = self.indices[rows]
        return np.asarray(self.source.images[picked]), self.source.labels[picked]

    def name_of(self, row: int) -> str:
        """The file (or "train[i]") that row ``row`` of this split came from."""
        source_split = "train" if self.name == "val" and self.source.names is None else self.name
        return self.source.name(source_split, int(self.indices[row]))


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) into ``labels`` (int (N,)), each int64, sorted ascending.

    ``fraction`` in [0, 1): the share of each class moved to validation; 0 gives an empty
    validation split. ``seed`` fixes which images move. Raises ``DatasetError`` for a
    fraction outside [0, 1)."""
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"validation fraction {fraction}: expected a number in [0, 1), e.g. 0.1")
    labels = np.asarray(labels)
    if fraction == 0.0 or len(labels) == 0:
        return np.arange(len(labels), dtype=np.int64), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    val_parts = []
    # Classes in sorted order and a stable sort of members: the split depends on nothing
    # but the labels, the fraction and the seed.
    order = np.argsort(labels, kind="stable")
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    for start, count in zip(starts, counts, strict=True):
        members = order[start : start + count]
        n_val = round(count * fraction)
        if count >= 2:
            n_val = min(max(n_val, 1), count - 1)
        else:
            n_val = 0
        val_parts.append(rng.permutation(members)[:n_val])
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[np.concatenate(val_parts)] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def assign_splits(
    decoded: Decoded, val_fraction: float, seed: int
) -> dict[str, tuple[SourceSplit, np.ndarray]]:
    """The final splits of a decoded source: ``{name: (source split, row indices)}``.

    An explicit val/ folder is used as is; otherwise, when ``val_fraction`` > 0, validation
    is a ``stratified_split`` of the training rows. Indices are int64, sorted ascending."""
    parts: dict[str, tuple[SourceSplit, np.ndarray]] = {}
    train = decoded.splits["train"]
    everything = np.arange(len(train), dtype=np.int64)
    if "val" in decoded.splits or val_fraction == 0.0:
        parts["train"] = (train, everything)
    else:
        train_idx, val_idx = stratified_split(train.labels, val_fraction, seed)
        parts["train"] = (train, train_idx)
        parts["val"] = (train, val_idx)
    for name in ("val", "test"):
        if name in decoded.splits:
            part = decoded.splits[name]
            parts[name] = (part, np.arange(len(part), dtype=np.int64))
    return parts
