"""The health report of a data set: what is there, what was skipped and why, what looks wrong.

Built from one read of the source (the same read that loads the data, so checking costs
nothing extra before training), it counts images per class and split, lists native sizes and
modes, names every unusable file with its reason, reports exact duplicates shared between
train and val/test (leakage: validation scores would be too good) and warns about strong
class imbalance. What makes training impossible (no readable image, a single class, no
training images) raises ``DatasetError`` with one line instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from engine.data.decoded import SPLITS, Decoded, SourceSplit
from engine.data.errors import DatasetError
from engine.data.source import detect_source
from engine.data.split import assign_splits

__all__ = ["IMBALANCE_RATIO", "HealthReport", "Leak", "build_report", "check_dataset"]

#: Largest over smallest class count (training split) above which imbalance is warned about.
IMBALANCE_RATIO = 3.0
_LEAK_EXAMPLES = 20  # pairs listed per split; the count covers all of them


@dataclass(frozen=True)
class Leak:
    """An exact duplicate: ``train`` (a file path or "train[i]") equals ``other`` in
    ``split`` ("val" or "test")."""

    split: str
    train: str
    other: str


@dataclass(frozen=True)
class HealthReport:
    """What ``check_dataset`` and the loader found. All fields are JSON-ready via ``to_dict``.

    ``counts``: {split: {class name: images}} for the splits training will use.
    ``sizes``: {"WxH": images} of native sizes; ``modes``: {Pillow mode: images}.
    ``skipped``: ((path relative to the source, reason), ...) of files not used.
    ``leaks``: example duplicate pairs; ``leak_counts``: {split: images of that split whose
    exact bytes also occur in train}. ``warnings``: one line each, for a person to act on.
    """

    source: str
    kind: str
    class_names: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    sizes: dict[str, int]
    modes: dict[str, int]
    skipped: tuple[tuple[str, str], ...]
    leaks: tuple[Leak, ...]
    leak_counts: dict[str, int]
    warnings: tuple[str, ...]

    @property
    def total(self) -> int:
        """Usable images over all splits."""
        return sum(sum(c.values()) for c in self.counts.values())

    def to_dict(self) -> dict:
        """Plain dict for JSON: tuples become lists, skipped files ``{"path", "reason"}``."""
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        d["leaks"] = [asdict(leak) for leak in self.leaks]
        d["warnings"] = list(self.warnings)
        d["total"] = self.total
        return d

    def to_json(self) -> str:
        """``to_dict`` as one line of JSON."""
        return json.dumps(self.to_dict())

    def lines(self) -> list[str]:
        """The report as text lines for a terminal or a log panel."""
        out = [f"{self.source}", f"  {len(self.class_names)} classes, {self.total} images"]
        splits = list(self.counts)
        width = max(len(n) for n in self.class_names)
        out.append("  " + "class".ljust(width) + "".join(f"{s:>9}" for s in splits))
        for name in self.class_names:
            row = "".join(f"{self.counts[s].get(name, 0):>9}" for s in splits)
            out.append("  " + name.ljust(width) + row)
        out.append("  sizes: " + _tally(self.sizes))
        out.append("  modes: " + _tally(self.modes))
        if self.skipped:
            out.append(f"  skipped {len(self.skipped)} file(s):")
            out += [f"    {path}: {reason}" for path, reason in self.skipped]
        for split, count in self.leak_counts.items():
            if count:
                out.append(f"  leakage: {count} {split} image(s) also in train, e.g.:")
                out += [f"    {x.train} == {x.other}" for x in self.leaks if x.split == split]
        out += [f"  warning: {w}" for w in self.warnings]
        if not self.warnings and not self.skipped:
            out.append("  no problems found")
        return out


def _tally(counter: dict[str, int]) -> str:
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{k} ({v})" for k, v in items[:8])
    return shown + (f", and {len(items) - 8} more" if len(items) > 8 else "") or "none"


def _leaks(parts: dict[str, tuple[SourceSplit, np.ndarray]]) -> tuple[list[Leak], dict]:
    train, train_idx = parts["train"]
    train_digests = train.digests[train_idx]
    leaks: list[Leak] = []
    counts: dict[str, int] = {}
    for split in ("val", "test"):
        if split not in parts:
            continue
        other, other_idx = parts[split]
        other_digests = other.digests[other_idx]
        shared = np.isin(other_digests, train_digests)
        counts[split] = int(shared.sum())
        first_in_train = {}
        for k in np.flatnonzero(np.isin(train_digests, other_digests[shared])):
            first_in_train.setdefault(int(train_digests[k]), int(train_idx[k]))
        for k in np.flatnonzero(shared)[:_LEAK_EXAMPLES]:
            i = first_in_train[int(other_digests[k])]
            # A val split carved from train has indices into the train source.
            other_name = other.name("train" if other is train else split, int(other_idx[k]))
            leaks.append(Leak(split, train.name("train", i), other_name))
    return leaks, counts


def build_report(
    decoded: Decoded, parts: dict[str, tuple[SourceSplit, np.ndarray]], description: str
) -> HealthReport:
    """The report on ``decoded`` as split into ``parts`` (see ``split.assign_splits``).

    Raises ``DatasetError`` (one line, naming the folder) when nothing is readable, when
    fewer than two classes have training images, or when the training split is empty."""
    names = decoded.class_names
    root = decoded.root
    counts = {}
    for split in SPLITS:
        if split in parts:
            part, idx = parts[split]
            per_class = np.bincount(part.labels[idx], minlength=len(names))
            counts[split] = {n: int(c) for n, c in zip(names, per_class, strict=False)}
    total = sum(sum(c.values()) for c in counts.values())
    if total == 0 and decoded.kind != "folder":
        raise DatasetError(f"{root}: the {decoded.kind} files hold no images; download them again")
    if total == 0:
        first = f" (e.g. {decoded.skipped[0][0]}: {decoded.skipped[0][1]})" if decoded.skipped \
            else ""  # fmt: skip
        raise DatasetError(
            f"{root}: no readable image among {len(decoded.skipped)} file(s){first}; "
            "add PNG, JPEG, BMP, GIF, TIFF or WebP images"
        )
    train = counts["train"]
    populated = [n for n in names if train.get(n, 0) > 0]
    if not populated:
        raise DatasetError(f"{root}: the training split has no readable image; add images to "
                           "its class folders")  # fmt: skip
    if len(populated) < 2:
        raise DatasetError(
            f"{root}: only one class ({populated[0]}) has training images; a classifier needs "
            + ("at least two class folders with images" if decoded.kind == "folder"
               else "training images of at least two classes (labels)")
        )  # fmt: skip
    warnings = []
    for n in names:
        if train.get(n, 0) == 0:
            warnings.append(f"class {n!r} has no usable training images")
    most = max(populated, key=lambda n: train[n])
    least = min(populated, key=lambda n: train[n])
    ratio = train[most] / train[least]
    if ratio > IMBALANCE_RATIO:
        warnings.append(
            f"class imbalance: {most!r} has {train[most]} training images, {least!r} only "
            f"{train[least]} (ratio {ratio:.1f} > {IMBALANCE_RATIO:g}); collect more of the "
            "rare classes or expect them to be predicted less"
        )
    leaks, leak_counts = _leaks(parts)
    for split, count in leak_counts.items():
        if count:
            warnings.append(
                f"leakage: {count} {split} image(s) are exact copies of training images; "
                f"remove them from {split} for an honest score"
            )
    if decoded.skipped:
        warnings.append(f"{len(decoded.skipped)} file(s) skipped (listed above)")
    warnings += decoded.notes
    return HealthReport(
        source=description,
        kind=decoded.kind,
        class_names=names,
        counts=counts,
        sizes=dict(decoded.sizes),
        modes=dict(decoded.modes),
        skipped=tuple((str(p), str(r)) for p, r in decoded.skipped),
        leaks=tuple(leaks),
        leak_counts=leak_counts,
        warnings=tuple(warnings),
    )


def check_dataset(
    path: str | os.PathLike[str], *, val_fraction: float = 0.0, seed: int = 0
) -> HealthReport:
    """Check the data set at ``path`` without keeping its pixels: every image is decoded
    once to find unusable files, nothing is cached. With ``val_fraction`` > 0 the counts show
    the validation split training would carve (same ``seed``).

    Raises ``DatasetError`` with one line for a fatal problem (see ``build_report``)."""
    source = detect_source(path)
    decoded = source.read(None)
    return build_report(decoded, assign_splits(decoded, val_fraction, seed), source.description)
