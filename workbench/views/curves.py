"""Loss and accuracy curves: training per batch (raw and smoothed) and validation per epoch.

Calls only append to growable buffers; a 10 Hz timer redraws when something changed, so a
fast network sending hundreds of batches a second costs the GUI one redraw per 100 ms. The
x axis is in epochs (a batch half-way through epoch 3 sits at 2.5), so the per-batch training
curve and the per-epoch validation points share one scale. Smoothing is TensorBoard's
debiased exponential moving average. Other runs' per-epoch curves can be overlaid for a
comparison (``set_overlays``, workbench.views.curve_overlays): the live run's curves stay as
they are, and Export PNG… shows both.
"""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QEvent, QIODevice, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.io import atomic_write_bytes, atomic_write_text
from workbench.views.curve_overlays import CurveOverlays
from workbench.views.elided_label import ElidedLabel
from workbench.views.image_grid import apply_plot_theme, cache_axes, nice_ceiling
from workbench.views.live_curve import LiveCurve
from workbench.views.plot_widgets import PlotWidget
from workbench.views.view_turns import view_turns

__all__ = ["CURVE_CSV_HEADER", "TrainingCurves"]

CURVE_CSV_HEADER = ("series", "epoch", "loss", "accuracy")
TRAIN_COLOR = "#2563eb"
VAL_COLOR = "#ea580c"
#: 2 Hz. The batches arrive coalesced at 4 Hz at most, and each redraw runs pyqtgraph's
#: Python on the GUI thread, which then holds the interpreter lock the training thread needs
#: between its kernels: with this and the live feed's timer at 2 Hz instead of 5 and 4, a
#: resnet20 batch took 1.06x its headless time instead of 1.13x (median of 4 paired rounds
#: on a noisy host: a likely gain, not a firm one).
REDRAW_MS = 500


class _Series:
    """Growable float64 columns (amortised O(1) append, no list-to-array copies per frame)."""

    def __init__(self, columns: int) -> None:
        self._data = np.empty((256, columns))
        self.n = 0
        self.version = 0  # changes with every append and clear: what a redraw compares

    def append(self, *values: float) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.n] = values
        self.n += 1
        self.version += 1

    def column(self, j: int) -> np.ndarray:
        return self._data[: self.n, j]

    def clear(self) -> None:
        self.n = 0
        self.version += 1


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA of ``values`` (NaN entries are skipped and stay NaN)."""
    return _ema_continue(values, 0, np.empty(0), weight)


class TrainingCurves(QWidget):
    """Two pyqtgraph plots, ``lossPlot`` and ``accuracyPlot``, with smoothing, a log-scale
    option for the loss and CSV/PNG export. Accuracies are fractions in [0, 1] (plotted as
    percentages); x values are epochs elapsed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        self._train = _Series(3)  # epoch, loss, accuracy
        self._val = _Series(3)
        # The validation points each plot ("loss", "acc") has drawn: (series, version).
        self._val_drawn: dict[str, tuple[_Series, int]] = {}
        self._parts_due: set[str] = set()  # plots the timer has left to a later turn
        self._smoothing = 0.8
        self._smooth_cache: tuple[int, float, np.ndarray, np.ndarray] | None = None
        self._dirty = False
        self._loss_top: float | None = None  # the loss axis' upper end while not log-scale
        self._epochs: float | None = None  # the x axis' fixed length (None: auto range)

        self.loss_plot = self._make_plot("lossPlot", "Loss", "loss", (-10, 10))
        self.accuracy_plot = self._make_plot("accuracyPlot", "Accuracy", "accuracy (%)", (-10, -40))
        self.accuracy_plot.setYRange(0, 100, padding=0.02)
        self._items = {}
        for key, plot in (("loss", self.loss_plot), ("acc", self.accuracy_plot)):
            # The per-batch lines are LiveCurves: drawn at every redraw, they are the
            # training's cost of watching (workbench.views.live_curve).
            raw = LiveCurve(pg.mkPen(TRAIN_COLOR + "40", width=1))
            smooth = LiveCurve(pg.mkPen(TRAIN_COLOR, width=2), name="training (smoothed)")
            plot.addItem(raw)
            plot.addItem(smooth)
            val = plot.plot(
                pen=pg.mkPen(VAL_COLOR, width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=VAL_COLOR,
                symbolPen=None,
                name="validation",
            )
            self._items[key] = (raw, smooth, val)
        self.overlays = CurveOverlays(self.loss_plot, self.accuracy_plot)
        self._live_legend = True  # the live run's entries are in the legends

        self._smoothing_box = QDoubleSpinBox(minimum=0.0, maximum=0.99, singleStep=0.05)
        self._smoothing_box.setValue(self._smoothing)
        self._smoothing_box.setToolTip(
            "Weight of the moving average over training batches: 0 shows raw values, "
            "0.99 a very smooth trend"
        )
        self._smoothing_box.valueChanged.connect(self.set_smoothing)
        self.log_scale = QCheckBox("Log-scale loss")
        self.log_scale.toggled.connect(self.set_log_scale)
        self._readout = ElidedLabel()  # shortened, never over the export buttons
        self._readout.setObjectName("curvesReadout")
        csv_button = QPushButton("Export CSV…", objectName="exportCurvesCsv")
        csv_button.clicked.connect(self._ask_csv)
        png_button = QPushButton("Export PNG…", objectName="exportCurvesPng")
        png_button.clicked.connect(self._ask_png)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self._smoothing_box)
        bar.addWidget(self.log_scale)
        bar.addSpacing(12)
        bar.addWidget(self._readout, 1)
        bar.addWidget(csv_button)
        bar.addWidget(png_button)
        self._plots = QWidget()
        plots = QHBoxLayout(self._plots)
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self._plots, 1)

        self._timer = QTimer(self, interval=REDRAW_MS)
        self._timer.timeout.connect(self._redraw_in_turn)
        self._timer.start()
        self._apply_theme()
        self._update_readout()

    def _make_plot(self, name: str, title: str, ylabel: str, legend_at) -> pg.PlotWidget:
        plot = PlotWidget()
        plot.setObjectName(name)
        plot.setTitle(title)
        plot.setLabel("bottom", "epoch")
        plot.setLabel("left", ylabel)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.addLegend(offset=legend_at)
        plot.setMenuEnabled(False)
        plot.setMinimumSize(220, 160)
        cache_axes(plot)
        return plot

    # ------------------------------------------------------------------ data in

    def add_batch(self, epoch: float, loss: float, accuracy: float | None = None) -> None:
        """One training batch: ``epoch`` elapsed (fractional), its loss, its accuracy (0..1)."""
        acc = math.nan if accuracy is None else float(accuracy)
        self._train.append(float(epoch), float(loss), acc)
        self._dirty = True

    def add_epoch(self, epoch: float, val_loss: float | None, val_accuracy: float | None) -> None:
        """The validation result at the end of epoch ``epoch`` (1 after the first epoch)."""
        loss = math.nan if val_loss is None else float(val_loss)
        acc = math.nan if val_accuracy is None else float(val_accuracy)
        self._val.append(float(epoch), loss, acc)
        self._dirty = True

    def set_epoch_range(self, epochs: float) -> None:
        """Fix the x axis at 0..``epochs`` (a run's length). With both ranges fixed the axes
        stay still while points arrive: pyqtgraph repaints an axis only when its range moves,
        and axis painting was most of the GUI thread's time during a run."""
        self._epochs = float(epochs)
        self._fit_x_axis()

    def _fit_x_axis(self) -> None:
        """0 to the run's length, or to the longest overlaid run when that is longer."""
        if self._epochs is None:
            return
        end = max(1.0, self._epochs, self.overlays.last_epoch())
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setXRange(0, end, padding=0.02)

    def set_overlays(self, runs) -> None:
        """Overlay other runs' per-epoch curves: ``runs`` is a list of (legend name, history)
        with the engine's history keys ("epoch", "train_loss", "val_accuracy", ...;
        accuracies as fractions). An empty list removes the overlays; the live curves stay."""
        self.overlays.set_runs(runs)
        self._sync_live_legend()
        self._fit_x_axis()
        self._loss_top = None
        self._dirty = True
        self.redraw()

    def clear(self, epochs: float | None = None, in_turns: bool = False) -> None:
        """Forget every point (a new run). ``epochs``: the new run's length, its x axis
        0..``epochs`` at once (left where it is when it is that already: Train then repaints
        no axis); None: the x axis follows the data. ``in_turns``: the emptied plots are
        drawn in turns of the event loop of their own (Train: the press already repaints the
        settings, the actions and the progress), else now."""
        self._train.clear()
        self._val.clear()
        self._smooth_cache = None
        self._loss_top = None
        self._epochs = None if epochs is None else float(epochs)
        if epochs is None:
            for plot in (self.loss_plot, self.accuracy_plot):
                plot.enableAutoRange(x=True)
        else:
            self._fit_x_axis()
        self._dirty = True
        if in_turns:
            self._redraw_in_turn()
        else:
            self.redraw()

    def preview_epoch_range(self, epochs: float) -> None:
        """While no run is drawn (nothing to clear, no overlays), lay the x axis out for a
        run of ``epochs`` (the training settings'): pressing Train then moves no axis, and
        the two plots' axes are not laid out and painted again as the run starts."""
        if not self._train.n and not self._val.n and not self.overlays.last_epoch():
            self.set_epoch_range(epochs)

    def set_smoothing(self, weight: float) -> None:
        """EMA weight in [0, 1): 0 draws the raw values."""
        self._smoothing = min(max(float(weight), 0.0), 0.99)
        if abs(self._smoothing_box.value() - self._smoothing) > 1e-9:
            self._smoothing_box.setValue(self._smoothing)
        self._smooth_cache = None
        self._dirty = True

    def set_log_scale(self, on: bool) -> None:
        """Draw the loss on a logarithmic axis (useful once it has dropped by decades)."""
        if self.log_scale.isChecked() != on:
            self.log_scale.setChecked(on)
        self.loss_plot.setLogMode(y=bool(on))
        self._loss_top = None
        if on:
            self.loss_plot.enableAutoRange(y=True)
        self._dirty = True

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Copies of the data: {"train": (epoch, loss, accuracy), "validation": (...)}."""
        return {
            "train": tuple(self._train.column(j).copy() for j in range(3)),
            "validation": tuple(self._val.column(j).copy() for j in range(3)),
        }

    # ------------------------------------------------------------------ drawing

    def _smoothed(self) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed loss and accuracy, extended incrementally as batches arrive."""
        n, w = self._train.n, self._smoothing
        cache = self._smooth_cache
        if cache is not None and cache[1] == w and cache[0] <= n and cache[0] > 0:
            start = cache[0]
            tail_loss = _ema_continue(self._train.column(1), start, cache[2], w)
            tail_acc = _ema_continue(self._train.column(2), start, cache[3], w)
            loss, acc = np.concatenate([cache[2], tail_loss]), np.concatenate([cache[3], tail_acc])
        else:
            loss, acc = _ema(self._train.column(1), w), _ema(self._train.column(2), w)
        self._smooth_cache = (n, w, loss, acc)
        return loss, acc

    def _redraw_in_turn(self) -> None:
        # The timer: each plot is drawn in a turn of the event loop of its own, apart from
        # the other and from the other live views (workbench.views.view_turns). Both plots'
        # update and paint in one turn, 35-50 ms under training load, were part of a
        # resnet20 run's worst stalls (benchmarks/bench_gui.py).
        if self._dirty:
            self._dirty = False
            self._parts_due = {"loss", "acc"}
            turns = view_turns()
            turns.request(self, "loss curves", lambda: self._draw_due("loss"))
            turns.request(self, "accuracy curves", lambda: self._draw_due("acc"))

    def redraw(self) -> None:
        """Push the buffers to the plot items now, both plots (the timer has each plot done
        in a turn of its own; tests may call it)."""
        if not self._dirty and not self._parts_due:
            return
        self._dirty = False
        self._parts_due = set()
        self._draw_part("loss")
        self._draw_part("acc")

    def _draw_due(self, key: str) -> None:
        if key in self._parts_due:  # not drawn since by redraw()
            self._parts_due.discard(key)
            self._draw_part(key)

    def _draw_part(self, key: str) -> None:
        """Push the buffers to one plot's items: ``key`` "loss" or "acc"."""
        x = self._train.column(0)
        loss_s, acc_s = self._smoothed()
        raw, smooth, val = self._items[key]
        if key == "loss":
            raw.setData(x, self._train.column(1))
            smooth.setData(x, loss_s)
        else:
            raw.setData(x, 100.0 * self._train.column(2))
            smooth.setData(x, 100.0 * acc_s)
        if self._val_drawn.get(key) != (self._val, self._val.version):
            # The per-epoch points change a few times a run; their scatter items are the
            # dearest to update, so they are left alone between epochs.
            self._val_drawn[key] = (self._val, self._val.version)
            vx = self._val.column(0)
            scale = 1.0 if key == "loss" else 100.0
            val.setData(vx, scale * self._val.column(1 if key == "loss" else 2))
        if key == "loss":
            if not self.log_scale.isChecked():
                self._fit_loss_axis(loss_s)
            self._sync_live_legend()
        else:
            self._update_readout(loss_s, acc_s)

    def _sync_live_legend(self) -> None:
        """While runs are overlaid and the live run has no points, its legend entries (which
        would name empty curves) make room for the overlaid runs' names."""
        show = not self.overlays.names() or self._train.n > 0 or self._val.n > 0
        if show == self._live_legend:
            return
        self._live_legend = show
        for key, plot in (("loss", self.loss_plot), ("acc", self.accuracy_plot)):
            _raw, smooth, val = self._items[key]
            legend = plot.getPlotItem().legend
            for item, name in ((smooth, "training (smoothed)"), (val, "validation")):
                if show:
                    legend.addItem(item, name)
                else:
                    legend.removeItem(item)

    def _fit_loss_axis(self, smoothed: np.ndarray) -> None:
        """Loss from 0 to a round number above the smoothed and validation losses (the first
        tenth of the batches left out: the start-up spike would flatten the rest). The range,
        and so the axis, changes a few times a run instead of at every redraw."""
        losses = np.concatenate(
            [smoothed[len(smoothed) // 10 :], self._val.column(1), self.overlays.losses()]
        )
        finite = losses[np.isfinite(losses)]
        if not finite.size:
            return
        top = nice_ceiling(float(finite.max()))
        if top != self._loss_top:
            self._loss_top = top
            self.loss_plot.setYRange(0.0, top, padding=0.02)

    def _update_readout(self, loss_s=None, acc_s=None) -> None:
        parts = []
        if self._train.n:
            parts.append(f"loss {loss_s[-1]:.4g}")
            if math.isfinite(acc_s[-1]):
                parts.append(f"accuracy {acc_s[-1]:.1%}")
        if self._val.n:
            vl, va = self._val.column(1)[-1], self._val.column(2)[-1]
            parts.append(f"validation: loss {vl:.4g}, accuracy {va:.1%}")
        self._readout.setText("   ·   ".join(parts) if parts else "No training data yet")

    # ------------------------------------------------------------------ export

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write every point as CSV (series, epoch, loss, accuracy), atomically."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CURVE_CSV_HEADER)
        for name, s in (("train", self._train), ("validation", self._val)):
            for e, loss, acc in zip(s.column(0), s.column(1), s.column(2), strict=True):
                writer.writerow([name, repr(float(e)), repr(float(loss)), _cell(acc)])
        atomic_write_text(path, out.getvalue())

    def load_csv(self, path: str | os.PathLike[str]) -> None:
        """Replace the curves by those of a file written by ``export_csv``.

        Raises ValueError naming the line for a file of another shape; the curves are left
        untouched then."""
        train, val = _Series(3), _Series(3)
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows or tuple(rows[0]) != CURVE_CSV_HEADER:
            raise ValueError(f"{path}: expected a header {','.join(CURVE_CSV_HEADER)}")
        for lineno, row in enumerate(rows[1:], start=2):
            if len(row) != 4 or row[0] not in ("train", "validation"):
                raise ValueError(f"{path}, line {lineno}: not a curve row: {row}")
            try:
                values = [float(v) if v else math.nan for v in row[1:]]
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: not numbers: {row[1:]}") from None
            (train if row[0] == "train" else val).append(*values)
        self._train, self._val = train, val
        self._smooth_cache = None
        self._dirty = True
        self.redraw()

    def export_png(self, path: str | os.PathLike[str]) -> None:
        """Save both plots, overlaid runs included, as one PNG picture, atomically."""
        self.redraw()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not self._plots.grab().save(buffer, "PNG"):
            raise OSError(f"{path}: the picture could not be encoded as PNG")
        atomic_write_bytes(path, bytes(buffer.data()))

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    # ------------------------------------------------------------------ palette

    def _apply_theme(self) -> None:
        apply_plot_theme(self.loss_plot, self)
        apply_plot_theme(self.accuracy_plot, self)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()
        super().changeEvent(event)


def _ema_continue(values: np.ndarray, start: int, done: np.ndarray, w: float) -> np.ndarray:
    """EMA of ``values[start:]``, continuing the debiased EMA ``done`` of ``values[:start]``
    (undoing its debiasing recovers the running sum, so only new batches cost work)."""
    steps = int(np.isfinite(done).sum())
    last = done[np.isfinite(done)][-1] if steps else 0.0
    acc = last * (1.0 - w**steps) if steps else 0.0
    out = np.full(len(values) - start, np.nan)
    for i, v in enumerate(values[start:]):
        if math.isfinite(v):
            acc = w * acc + (1.0 - w) * v
            steps += 1
            out[i] = acc / (1.0 - w**steps)
    return out


def _cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def _demo() -> TrainingCurves:
    rng = np.random.default_rng(0)
    view = TrainingCurves()
    batches = 120
    for epoch in range(6):
        for b in range(batches):
            t = epoch + (b + 1) / batches
            loss = 2.3 * math.exp(-t * 1.1) + 0.08 + 0.12 * rng.standard_normal() ** 2
            view.add_batch(t, loss, min(1.0, 1.0 - loss / 2.6 + 0.04 * rng.standard_normal()))
        view.add_epoch(epoch + 1, 2.3 * math.exp(-(epoch + 1) * 1.0) + 0.12, 0.9 + 0.015 * epoch)
    view.redraw()
    return view


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(1000, 420)
    demo.show()
    if len(sys.argv) > 1:
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
