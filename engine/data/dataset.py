"""``load_dataset``: a data set on disk -> decoded, split, checked and ready to batch.

    from engine.data import Preprocessing, load_dataset
    pre = Preprocessing(channels=1, height=28, width=28, center="channel")
    ds = load_dataset("/usr/share/datasets/fashion-mnist", pre, val_fraction=0.1, seed=0)
    print("\\n".join(ds.report.lines()))
    for x, y in ds.iter_batches("train", 64, shuffle=True, rng=np.random.default_rng(0)):
        ...   # x float32 (64, 1, 28, 28), y int64 (64,)

The pixels stay uint8 in the (memory-mapped) cache arrays; a split is those arrays plus the
row indices that belong to it, so carving validation out of train copies nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.data.batches import Augmentation, BatchIterator
from engine.data.cache import load_or_read
from engine.data.errors import DatasetError
from engine.data.health import HealthReport, build_report
from engine.data.preprocess import Preprocessing
from engine.data.source import detect_source
from engine.data.split import Split, assign_splits

__all__ = ["Dataset", "Split", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A loaded data set. ``splits`` has "train" and, when present, "val" and "test";
    ``class_names`` index the labels; ``preprocessing`` is fitted on train (store it with
    the model); ``report`` is the health check of exactly these splits; ``cached`` says
    the pixels came from the disk cache."""

    source: str
    kind: str
    class_names: tuple[str, ...]
    splits: dict[str, Split]
    preprocessing: Preprocessing
    report: HealthReport
    cached: bool

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        """The split ``name``; raises ``DatasetError`` listing the splits there are."""
        try:
            return self.splits[name]
        except KeyError:
            raise DatasetError(
                f"{self.source}: no {name!r} split (have: {', '.join(self.splits)})"
            ) from None

    def iter_batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        rng: np.random.Generator | None = None,
        augment: Augmentation | None = None,
        *,
        drop_last: bool = False,
        prefetch: int = 0,
    ) -> BatchIterator:
        """Batches of split ``split``: ``(x float32 (B, C, H, W), y int64 (B,))``, the last
        one smaller unless ``drop_last``. ``shuffle`` and ``augment`` draw from ``rng`` at
        this call (a fixed amount per call). ``prefetch`` > 0 prepares that many batches
        ahead on a thread. Without shuffle and augment the batches are the same every time."""
        return BatchIterator(
            self.split(split), self.preprocessing, batch_size, shuffle, rng, augment,
            drop_last, prefetch,
        )  # fmt: skip


def _check_image_fits(geometry) -> None:
    """One image at the network's input size must fit in memory several times over (decoded,
    resized, as float32 in a batch): a 3x65536x65536 input would otherwise start decoding
    12.9 GB per picture and a cache file of hundreds of GB. Raises ``DatasetError``."""
    import math

    from engine.memory_budget import MemoryBudgetError, check_allocation

    c, h, w = geometry.shape
    try:
        check_allocation(
            (1 + 1 + 4) * math.prod((c, h, w)), f"images at {c}x{h}x{w} (decoded, resized, float32)"
        )
    except MemoryBudgetError as e:
        raise DatasetError(f"{e}; lower the network's input size") from None


def load_dataset(
    path: str | os.PathLike[str],
    preprocessing: Preprocessing,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    on_miss: Callable[[], None] | None = None,
) -> Dataset:
    """Load the image folder, IDX folder or CIFAR-10 batches at ``path``.

    ``preprocessing`` gives the geometry (from the network's input) and the steps; the
    returned ``Dataset.preprocessing`` has its statistics measured on the training split.
    Validation is the val/ folder when there is one, else a ``val_fraction`` of train
    (stratified, ``seed``). With ``cache`` the decoded pixels are kept in ``cache_dir``
    (default ``$CNN_WORKBENCH_CACHE`` or ``~/.cache/cnn-workbench``) and memory-mapped;
    ``on_miss`` is called when a slow decode starts.

    Raises ``DatasetError`` with one line for a missing or unusable data set; unusable
    single files are skipped and listed in ``report``."""
    source = detect_source(path)
    geometry = preprocessing.geometry
    _check_image_fits(geometry)
    if cache:
        decoded, hit = load_or_read(source, geometry, cache_dir, on_miss)
    else:
        if on_miss is not None:
            on_miss()
        decoded, hit = source.read(geometry), False
    parts = assign_splits(decoded, val_fraction, seed)
    report = build_report(decoded, parts, source.description)
    splits = {name: Split(name, part, idx) for name, (part, idx) in parts.items()}
    train = splits["train"]
    fitted = preprocessing.fit(train.source.images, train.indices)
    return Dataset(
        source=source.description,
        kind=source.kind,
        class_names=decoded.class_names,
        splits=splits,
        preprocessing=fitted,
        report=report,
        cached=hit,
    )
