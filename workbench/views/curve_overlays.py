"""Other runs' curves drawn over the live ones (run comparison), in the same two plots.

Each overlaid run gets its own colour and one legend entry (its name): its validation values
as a solid line with dots, its per-epoch training values dashed. Plot items are made once per
slot and reused with ``setData``; a slot that is not needed is emptied and leaves the legend.
The live run's items are never touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

__all__ = ["OVERLAY_COLORS", "CurveOverlays"]

# Distinct from the live run's blue and orange, and from each other in both themes.
OVERLAY_COLORS = ("#16a34a", "#9333ea", "#dc2626", "#0891b2", "#a16207", "#db2777", "#4d7c0f")


def _column(history: Mapping[str, Sequence[Any]], key: str, n: int, scale: float) -> np.ndarray:
    out = np.full(n, np.nan)
    for i, v in enumerate(list(history.get(key, ()))[:n]):
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[i] = f * scale
    return out


class _Slot:
    """One overlaid run's four items: (training, validation) in the loss and accuracy plots."""

    def __init__(self, loss_plot: pg.PlotWidget, acc_plot: pg.PlotWidget, color: str) -> None:
        self.items = []
        for plot in (loss_plot, acc_plot):
            train = plot.plot(pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                              connect="finite")  # fmt: skip
            val = plot.plot(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                            symbolBrush=color, symbolPen=None, connect="finite")  # fmt: skip
            self.items.append((plot, train, val))
        self.name: str | None = None

    def show(self, name: str, history: Mapping[str, Sequence[Any]]) -> None:
        epochs = _column(history, "epoch", len(history.get("epoch", ())), 1.0)
        n = len(epochs)
        columns = (("train_loss", "val_loss", 1.0), ("train_accuracy", "val_accuracy", 100.0))
        for (plot, train, val), (tk, vk, scale) in zip(self.items, columns, strict=True):
            train.setData(epochs, _column(history, tk, n, scale))
            val.setData(epochs, _column(history, vk, n, scale))
            if self.name != name:
                legend = plot.getPlotItem().legend
                if self.name is not None:
                    legend.removeItem(val)
                legend.addItem(val, name)
        self.name = name

    def hide(self) -> None:
        for plot, train, val in self.items:
            train.setData([], [])
            val.setData([], [])
            if self.name is not None:
                plot.getPlotItem().legend.removeItem(val)
        self.name = None


class CurveOverlays:
    """The overlaid runs of a ``TrainingCurves``' loss and accuracy plots."""

    def __init__(self, loss_plot: pg.PlotWidget, acc_plot: pg.PlotWidget) -> None:
        self._plots = (loss_plot, acc_plot)
        self._slots: list[_Slot] = []
        self._runs: list[tuple[str, Mapping[str, Sequence[Any]]]] = []

    def set_runs(self, runs: Sequence[tuple[str, Mapping[str, Sequence[Any]]]]) -> None:
        """Draw ``runs``: (legend name, per-epoch history with "epoch", "train_loss",
        "train_accuracy", "val_loss", "val_accuracy"; accuracies as fractions). An empty list
        removes every overlay."""
        self._runs = [(str(name), dict(history)) for name, history in runs]
        while len(self._slots) < len(self._runs):
            color = OVERLAY_COLORS[len(self._slots) % len(OVERLAY_COLORS)]
            self._slots.append(_Slot(*self._plots, color))
        for k, slot in enumerate(self._slots):
            if k < len(self._runs):
                slot.show(*self._runs[k])
            else:
                slot.hide()
        # Two columns once two runs are overlaid: a legend of five entries in one column would
        # be taller than the plot and cover the curves.
        for plot in self._plots:
            plot.getPlotItem().legend.setColumnCount(2 if len(self._runs) >= 2 else 1)

    def names(self) -> list[str]:
        """The overlaid runs' legend names, in order."""
        return [name for name, _ in self._runs]

    def colors(self) -> list[str]:
        return [OVERLAY_COLORS[k % len(OVERLAY_COLORS)] for k in range(len(self._runs))]

    def last_epoch(self) -> float:
        """The largest epoch any overlaid run reached (0 without overlays)."""
        ends = [_column(h, "epoch", len(h.get("epoch", ())), 1.0) for _, h in self._runs]
        finite = [e[np.isfinite(e)] for e in ends]
        return max((float(e.max()) for e in finite if e.size), default=0.0)

    def losses(self) -> np.ndarray:
        """Every overlaid loss value (training and validation), NaN left out."""
        parts = [
            _column(h, key, len(h.get("epoch", ())), 1.0)
            for _, h in self._runs
            for key in ("train_loss", "val_loss")
        ]
        values = np.concatenate(parts) if parts else np.empty(0)
        return values[np.isfinite(values)]
