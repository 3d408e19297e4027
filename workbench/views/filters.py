"""Inside the layers: conv filters as images, weight and activation histograms, dead ReLUs.

Fed by training snapshots (a copy of the weights and the probe activations). The numbers
(normalised filter images, histograms, dead-unit fractions and their warnings) come from
``engine.inspect``; this module lays them out. Redraws happen at most twice a second, one plot
per turn of the event loop (workbench.views.view_turns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.inspect import (
    DEAD_WARNING,
    DeadUnits,
    dead_relu_fractions,
    filter_images,
    histogram,
    layer_labels,
)
from engine.spec import NetworkSpec
from workbench.models.mosaic import Mosaic
from workbench.style import problem_color
from workbench.views.image_grid import apply_plot_theme, cache_axes, nice_ceiling, plot_colors
from workbench.views.plot_widgets import PlotWidget
from workbench.views.view_turns import view_turns

__all__ = ["FiltersView"]

REDRAW_MS = 500
WEIGHT_COLOR = "#7c3aed"
ACTIVATION_COLOR = "#059669"
HEALTHY_COLOR = "#059669"


class FiltersView(QWidget):
    """``filtersView``: the filters and histograms of one chosen layer, and the share of
    never-active units after every ReLU with a warning when it is high."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filtersView")
        self._spec: NetworkSpec | None = None
        self._weights: Mapping[str, np.ndarray] = {}
        self._activations: Sequence[np.ndarray] | None = None
        self._dead: list[DeadUnits] = []
        self._counted: list[DeadUnits] | None = None  # from set_dead_units
        self._dirty = False
        # What the axes show now, so that a redraw moves them only when the data outgrows
        # them (an axis that moves is laid out and painted again, text and all: that was
        # most of this view's cost per snapshot).
        self._titles: dict[int, str] = {}
        self._ranges: dict[int, tuple] = {}
        self._dead_names: list[str] | None = None
        self._filter_layout: tuple | None = None

        self.layer_box = QComboBox()
        self.layer_box.setObjectName("filtersLayer")
        # Its width does not follow the layer names: filling it with a network's layers
        # would otherwise lay the whole page out again (every plot's axes redrawn).
        self.layer_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.layer_box.setMinimumContentsLength(24)
        self.layer_box.currentIndexChanged.connect(lambda _i: self._mark())

        self.filter_plot = PlotWidget(title="Filters")
        self.filter_plot.setObjectName("filterImages")
        self.filter_plot.invertY(True)
        self.filter_plot.setAspectLocked(True)
        self.filter_plot.setMenuEnabled(False)
        self.filter_plot.setLabel("left", "filter")
        self.filter_plot.setLabel("bottom", "input channel")
        self._filters = pg.ImageItem()
        self.filter_plot.addItem(self._filters)

        self.weight_plot = self._hist_plot("weightHistogram", "Weights", "weight value")
        self._weight_curve = self.weight_plot.plot(
            stepMode="center", fillLevel=0, brush=WEIGHT_COLOR + "90", pen=pg.mkPen(WEIGHT_COLOR)
        )
        self.activation_plot = self._hist_plot(
            "activationHistogram", "Activations (probe)", "output value"
        )
        self._activation_curve = self.activation_plot.plot(
            stepMode="center",
            fillLevel=0,
            brush=ACTIVATION_COLOR + "90",
            pen=pg.mkPen(ACTIVATION_COLOR),
        )

        self.dead_plot = PlotWidget(title="Filters / units that never fire (%, after each ReLU)")
        self.dead_plot.setObjectName("deadReluPlot")
        self.dead_plot.setMenuEnabled(False)
        self.dead_plot.setMouseEnabled(False, False)
        self.dead_plot.hideButtons()
        self.dead_plot.setLabel("left", "never active (%)")
        self.dead_plot.setYRange(0, 100, padding=0.02)
        self._dead_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brushes=[])
        self.dead_plot.addItem(self._dead_bars)
        self._threshold = pg.InfiniteLine(
            pos=100 * DEAD_WARNING, angle=0, pen=pg.mkPen("#dc2626", style=Qt.PenStyle.DashLine)
        )
        self.dead_plot.addItem(self._threshold)
        self.warning_label = QLabel("Dead filters and units are counted once the network has run.")
        self.warning_label.setObjectName("deadReluWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # The label scrolls inside a box of a fixed height (three lines; more scroll), so a
        # count with more or fewer warnings leaves the plots above where they are. When the
        # label grew or shrank with its text, the page was laid out anew and all four plots
        # resized and repainted their axes: 25-90 ms in one turn when a live count changed
        # (benchmarks/bench_gui.py on densenet-cifar, its longest stalls).
        self.warning_area = QScrollArea(objectName="deadReluWarningArea")
        self.warning_area.setWidget(self.warning_label)
        self.warning_area.setWidgetResizable(True)
        self.warning_area.setFrameShape(QFrame.Shape.NoFrame)
        self.warning_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.warning_area.viewport().setAutoFillBackground(False)
        self.warning_label.setAutoFillBackground(False)
        bold = QFont(self.warning_label.font())
        bold.setBold(True)  # warnings are bold: whole lines of that font, none cut in half
        self.warning_area.setFixedHeight(3 * QFontMetrics(bold).lineSpacing())

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Layer"))
        bar.addWidget(self.layer_box, 1)
        grid = QGridLayout()
        grid.addWidget(self.filter_plot, 0, 0, 2, 1)
        grid.addWidget(self.weight_plot, 0, 1)
        grid.addWidget(self.activation_plot, 1, 1)
        grid.addWidget(self.dead_plot, 2, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(grid, 1)
        layout.addWidget(self.warning_area)
        for plot in (self.filter_plot, self.weight_plot, self.activation_plot, self.dead_plot):
            cache_axes(plot)  # redrawn when their ranges change, not with every histogram
        self._timer = QTimer(self, interval=REDRAW_MS)
        self._timer.timeout.connect(self._redraw_if_visible)
        self._timer.start()
        self._apply_theme()

    def _hist_plot(self, name: str, title: str, xlabel: str) -> pg.PlotWidget:
        plot = PlotWidget(title=title)
        plot.setObjectName(name)
        plot.setMenuEnabled(False)
        plot.setLabel("bottom", xlabel)
        plot.setLabel("left", "count")
        plot.showGrid(x=True, y=True, alpha=0.15)
        return plot

    # ------------------------------------------------------------------ data in

    def update_snapshot(
        self,
        weights: Mapping[str, np.ndarray],
        activations: Sequence[np.ndarray] | None,
        spec: NetworkSpec,
    ) -> None:
        """A training snapshot: ``weights`` keyed like a state dict ("0.weight" is a conv's
        (K, C, F, F)), the probe ``activations`` (one (N, ...) array per layer; several probe
        images make the dead-unit count meaningful) or None, and the ``spec`` they belong to.
        Kept here; drawn by the timer. Raises ValueError when the activations do not match
        the spec's layers."""
        if activations is not None and len(activations) != len(spec.layers):
            raise ValueError(f"{len(activations)} activations for {len(spec.layers)} layers")
        if spec != self._spec:
            self._spec = spec
            self._counted = None  # counted for another network
            self._fill_layers(spec, weights)
        self._weights = weights
        self._activations = activations
        self._mark()

    def select_layer(self, index: int) -> None:
        """Show the filters and histograms of layer ``index`` of the spec."""
        pos = self.layer_box.findData(index)
        if pos < 0:
            raise ValueError(f"layer {index} has no weights to show")
        self.layer_box.setCurrentIndex(pos)
        self.redraw()

    def dead_units(self) -> list[DeadUnits]:
        """The latest dead-ReLU figures, one per ReLU layer."""
        return list(self._dead)

    def warnings(self) -> list[str]:
        return [d.warning for d in self._dead if d.warning]

    def _fill_layers(self, spec: NetworkSpec, weights: Mapping[str, np.ndarray]) -> None:
        names = layer_labels(spec)
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        for i, name in enumerate(names):
            w = weights.get(f"{i}.weight")
            if w is not None:
                self.layer_box.addItem(f"{name}  ({'×'.join(map(str, w.shape))})", i)
        self.layer_box.blockSignals(False)

    def _mark(self) -> None:
        self._dirty = True

    # ------------------------------------------------------------------ drawing

    def _redraw_if_visible(self) -> None:
        # Off screen, a snapshot only marks the view dirty: it is drawn when shown. On
        # screen, each plot's part is drawn in a turn of its own (workbench.views.view_turns):
        # the four plots' layout and paint in one turn were the longest stall of a run.
        if self.isVisible() and self._dirty and self._spec is not None:
            self._dirty = False
            turns = view_turns()
            for name, step in self._steps():
                turns.request(self, name, step)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraw()

    def redraw(self) -> None:
        """Draw the latest snapshot now, every plot (the timer draws one plot per turn of
        the event loop instead; tests and a layer chosen in the box call this)."""
        if not self._dirty or self._spec is None:
            return
        self._dirty = False
        for _name, step in self._steps():
            step()

    def _steps(self) -> list[tuple[str, Callable[[], None]]]:
        """(name, step) per plot to draw; each step reads the newest snapshot when it runs."""
        steps = [("filters", self._draw_filter_step), ("weights", self._draw_weight_step),
                 ("activations", self._draw_activation_step)]  # fmt: skip
        if self._counted is None and self._activations is not None:
            steps.append(("dead", self._draw_dead_step))
        return steps

    def _layer_weights(self) -> tuple[int, np.ndarray] | None:
        index = self.layer_box.currentData()
        if index is None or self._spec is None:
            return None
        return index, np.asarray(self._weights[f"{index}.weight"])

    def _draw_filter_step(self) -> None:
        if (got := self._layer_weights()) is not None:
            self._draw_filters(got[1])

    def _draw_weight_step(self) -> None:
        if (got := self._layer_weights()) is None:
            return
        w = got[1]
        counts, edges = histogram(w, bins=60)
        self._weight_curve.setData(edges, counts)
        self._fit_histogram(self.weight_plot, edges, counts)
        name = self.layer_box.currentText().split()[0]
        self._title(self.weight_plot, f"Weights of {name}: {w.size} values")

    def _draw_activation_step(self) -> None:
        if (got := self._layer_weights()) is None or self._activations is None:
            return
        counts, edges = histogram(self._activations[got[0]], bins=60)
        self._activation_curve.setData(edges, counts)
        self._fit_histogram(self.activation_plot, edges, counts)
        name = self.layer_box.currentText().split()[0]
        self._title(self.activation_plot, f"Outputs of {name} (probe images)")

    def _draw_dead_step(self) -> None:
        if self._counted is None and self._activations is not None and self._spec is not None:
            self._dead = dead_relu_fractions(list(self._activations), self._spec)
            self._draw_dead()

    def _fit_histogram(self, plot: pg.PlotWidget, edges: np.ndarray, counts: np.ndarray) -> None:
        """Show ``edges`` and up to the largest count, moving the axes only when the
        histogram leaves them or shrinks to under half of them (then with a 10% margin,
        the count axis to a round number)."""
        lo, hi = float(edges[0]), float(edges[-1])
        top = nice_ceiling(float(counts.max()) if counts.size else 1.0)
        old = self._ranges.get(id(plot))
        if old is not None:
            (x0, x1), old_top = old
            inside = x0 <= lo and hi <= x1 and (hi - lo) >= 0.5 * (x1 - x0)
            if inside and old_top == top:
                return
            if inside:
                lo, hi = x0, x1
        if old is None or (lo, hi) != old[0]:
            margin = 0.1 * (hi - lo)
            lo, hi = lo - margin, hi + margin
        self._ranges[id(plot)] = ((lo, hi), top)
        plot.setRange(xRange=(lo, hi), yRange=(0, top), padding=0.02)

    def set_dead_units(self, dead: list[DeadUnits] | None) -> None:
        """Dead filters and units counted on a class-balanced sample of validation images
        (workers.predict_worker.dead_units_of); they replace the probe images' count, which
        a handful of images overstates. None: back to counting on the probe."""
        self._counted = dead
        if dead is not None:
            self._dead = list(dead)
            self._draw_dead()

    def _draw_filters(self, w: np.ndarray) -> None:
        # Labels, ticks and ranges follow the weights' shape: set again only when it changes.
        fresh = w.shape != self._filter_layout
        self._filter_layout = w.shape
        plot = self.filter_plot
        if w.ndim != 4:  # a dense layer: its weight matrix is the picture
            img = filter_images(w.reshape(w.shape[0], 1, 1, -1))[:, 0, 0]
            self._filters.setImage(img, autoLevels=False, levels=(0.0, 1.0))
            if fresh:
                self._title(plot, f"Weight matrix ({w.shape[0]} outputs × {w.shape[1]} inputs)")
                plot.setLabel("left", "output unit")
                plot.setLabel("bottom", "input")
                self._filters.setRect(0, 0, img.shape[1], img.shape[0])
                for axis in ("left", "bottom"):
                    plot.getAxis(axis).setTicks(None)
                plot.setRange(xRange=(0, img.shape[1]), yRange=(0, img.shape[0]), padding=0.02)
            return
        k, c, fh, fw = w.shape
        if c == 3:
            rgb = filter_images(w, rgb=True)  # (K, F, F, 3): colour filters, one tile each
            mosaic = Mosaic.for_shape((k, fh, fw))
            tiles = np.stack([mosaic.tile(rgb[..., j]) for j in range(3)], axis=-1)
            title, left, bottom = f"{k} filters of {fh}×{fw} (colour)", "filter", ""
            image = np.nan_to_num(tiles, nan=0.5)
        elif c == 1:  # one input channel: a near-square grid of filters, not a thin strip
            mosaic = Mosaic.for_shape((k, fh, fw))
            title, left, bottom = f"{k} filters of {fh}×{fw} (one input channel)", "", ""
            image = mosaic.tile(filter_images(w)[:, 0])
        else:
            img = filter_images(w).reshape(k * c, fh, fw)  # a row per filter, a column per channel
            mosaic = Mosaic(k * c, fh, fw, k, c)
            title = f"{k} filters × {c} input channels of {fh}×{fw}"
            left, bottom = "filter", "input channel"
            image = mosaic.tile(img)
        self._filters.setImage(image, autoLevels=False, levels=(0.0, 1.0))
        if fresh:
            self._title(plot, title)
            plot.setLabel("left", left)
            plot.setLabel("bottom", bottom)
            h, wd = mosaic.size
            self._filters.setRect(0, 0, wd, h)
            self._tile_ticks(mosaic, c not in (1, 3))
            plot.setRange(xRange=(0, wd), yRange=(0, h), padding=0.02)

    def _tile_ticks(self, mosaic: Mosaic, grid: bool) -> None:
        """Number the tiles (filters down, input channels across) instead of pixels."""
        left, bottom = self.filter_plot.getAxis("left"), self.filter_plot.getAxis("bottom")
        if not grid:
            left.setTicks([[]])
            bottom.setTicks([[]])
            return
        step_r = max(1, mosaic.rows // 16)
        step_c = max(1, mosaic.cols // 12)
        left.setTicks(
            [
                [
                    (r * (mosaic.height + 1) + mosaic.height / 2, str(r))
                    for r in range(0, mosaic.rows, step_r)
                ]
            ]
        )
        bottom.setTicks(
            [
                [
                    (c * (mosaic.width + 1) + mosaic.width / 2, str(c))
                    for c in range(0, mosaic.cols, step_c)
                ]
            ]
        )

    def _draw_dead(self) -> None:
        dead = self._dead
        x = np.arange(len(dead), dtype=float)
        heights = np.array([100.0 * d.fraction for d in dead])
        red = problem_color(self.palette())
        brushes = [pg.mkBrush(red if d.warning else HEALTHY_COLOR) for d in dead]
        self._dead_bars.setOpts(x=x, height=heights, width=0.6, brushes=brushes)
        names = [d.name for d in dead]
        if names != self._dead_names:  # the axis is laid out again only for other layers
            self._dead_names = names
            self.dead_plot.getAxis("bottom").setTicks([list(enumerate(names))])
            self.dead_plot.setXRange(-0.6, max(len(dead), 1) - 0.4, padding=0)
        warnings = self.warnings()
        if warnings:
            text = "⚠ " + "\n⚠ ".join(warnings)
            style = f"color: {red.name()}; font-weight: bold;"
        else:
            images = max((d.images for d in dead), default=0)
            text = (f"Every ReLU layer is healthy: fewer than {DEAD_WARNING:.0%} of its filters "
                    f"or units never fire on {images} validation images.")  # fmt: skip
            style = ""
        # Set only when they change: a style sheet set again re-polishes the label and the
        # page is laid out anew, which repainted all four plots after every live count
        # (densenet-cifar: 40 ms in one turn, a run's worst stall).
        if self.warning_label.text() != text:
            self.warning_label.setText(text)
        if self.warning_label.styleSheet() != style:
            self.warning_label.setStyleSheet(style)

    def _title(self, plot: pg.PlotWidget, text: str) -> None:
        if self._titles.get(id(plot)) != text:  # a new title lays the plot out again
            self._titles[id(plot)] = text
            plot.setTitle(text, color=plot_colors(self)[1].name())

    # ------------------------------------------------------------------ palette

    def _apply_theme(self) -> None:
        for plot in (self.filter_plot, self.weight_plot, self.activation_plot, self.dead_plot):
            apply_plot_theme(plot, self)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()
        super().changeEvent(event)


def _demo() -> FiltersView:
    import engine
    from engine.network import build

    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    rng = np.random.default_rng(0)
    probes = rng.normal(0, 1, (32, 1, 32, 32)).astype(np.float32)
    view = FiltersView()
    view.update_snapshot(net.state_dict(), net.forward_activations(probes), spec)
    view.select_layer(3)
    return view


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(1000, 720)
    demo.show()
    if len(sys.argv) > 1:
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
