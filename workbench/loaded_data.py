"""The loaded data set of one window, as a model object the views and controllers share.

The Data page (``views.dataset_panel.DatasetPanel``) loads a data set in the background and
announces it; the training controller puts each answer here. Everything else that needs the
data (the live feed's confusion images and model weights, the run controller's probe
images, predictions' dead-unit counts, the epoch estimate's split sizes) reads
``LoadedDataModel.current`` and listens to ``changed``, rather than reaching into the Data
page's widget.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

__all__ = ["LoadedDataModel"]


class LoadedDataModel(QObject):
    """``current``: the last successfully loaded ``LoadedData`` (request, engine Dataset,
    sample images), or None before one, after a failed load or while a new source loads.
    ``changed(LoadedData | None)`` fires whenever it is replaced by something else."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._current = None

    @property
    def current(self):
        return self._current

    @property
    def dataset(self):
        """The engine ``Dataset`` of ``current`` (None when nothing is loaded)."""
        return self._current.dataset if self._current is not None else None

    def set_current(self, loaded) -> None:
        """Replace the loaded data (a ``LoadedData`` or None); ``changed`` when it differs."""
        if loaded is not self._current:
            self._current = loaded
            self.changed.emit(loaded)

    def clear(self) -> None:
        """Nothing loaded: a load failed, or a new source is being loaded."""
        self.set_current(None)

    def probe(self, count: int) -> np.ndarray | None:
        """Up to ``count`` preprocessed images float32 (P, C, H, W) of the loaded data for
        the feature maps, or None when nothing is loaded (``LoadedData.probe``)."""
        return self._current.probe(count) if self._current is not None else None

    def split_sizes(self) -> tuple[int, int] | None:
        """(training images, validation images) of the loaded data, or None."""
        ds = self.dataset
        if ds is None:
            return None
        splits = ds.splits
        return len(splits["train"]), len(splits["val"]) if "val" in splits else 0

    def validation_images(self, count: int) -> np.ndarray | None:
        """The raw validation images (N, C, H, W) when the split holds exactly ``count``
        (the epoch's validation predictions are of them, in order), else None."""
        ds = self.dataset
        if ds is None or "val" not in ds.splits:
            return None
        val = ds.splits["val"]
        return val.images if len(val) == count else None
