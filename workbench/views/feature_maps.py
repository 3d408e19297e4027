"""Feature maps of a probe image: every layer's activations, with receptive fields on hover.

Each layer is one ImageItem showing a mosaic of its channels (one item per layer, never one
per channel, so a redraw is a handful of array copies). Vectors (flatten, dense) are shown as
grids of units. Every layer of every branch is shown, labelled as the views name layers
(``engine.inspect.layer_labels``: conv1 in a chain, the layer's id in a graph) and grouped
by block (``workbench.models.branch_grid``: the branches of a block one row each, their
layers lined up). Hovering a pixel of a conv, pool or activation output outlines, as in Adam
Harley's interactive MNIST visualisation, the pixels it depends on in every earlier layer
and in the input, along every path (``engine.receptive_graph``: an Inception pixel shows
the 1×1, 3×3 and 5×5 patches of its branches, nested). Clicking a layer shows it enlarged
in the focus pane.

Activations arrive at any rate and are only kept; a timer takes the latest at most 5 times a
second, while the view is on screen, and hands it to a background call that tiles and
colour-maps every layer (``workbench.models.map_picture``) into RGBA bytes. The GUI thread
then only sets the pictures of the cells in the scroll area's viewport; the others are set
when scrolled into view. So a graph network's 70 maps cost the window a few cheap image
swaps per snapshot instead of 70 rescales, masks and colour look-ups inside its paints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.inspect import Box, layer_labels
from engine.receptive_graph import path_fields
from engine.shapes import infer_shapes
from engine.spec import NetworkSpec
from workbench.models.branch_grid import arrange
from workbench.models.map_picture import layer_picture, layer_pictures
from workbench.models.mosaic import Mosaic
from workbench.views.image_grid import display_array, plot_colors
from workbench.views.plot_widgets import GraphicsLayoutWidget
from workbench.views.view_turns import view_turns
from workbench.workers.background import BackgroundCall

__all__ = ["FeatureMapsView", "Mosaic"]  # Mosaic: from workbench.models.mosaic, as before

REDRAW_MS = 200
COLUMNS = 4
LONG_TITLE = 14  # a longer title and shape put the shape on a line of its own
ROW_PX = 150  # the least height of a row of pictures with its titles
COLUMN_PX = 120  # the least width of a column (wider grids scroll sideways)
HIGHLIGHT = "#f59e0b"
_SIGNED = pg.colormap.get("CET-D1").getLookupTable(nPts=256)
_POSITIVE = pg.colormap.get("inferno").getLookupTable(nPts=256)


@contextlib.contextmanager
def _one_layout_pass(layout):
    """pyqtgraph's ``GraphicsLayout.addItem`` lays the whole grid out again after every item
    it adds (``layout.activate()``), so filling a grid of n cells resized every cell already
    there: n² resizes, 52,885 ViewBox resize events and 4.7 s for densenet121's 428 cells.
    Inside this block those calls do nothing; the grid is laid out once at its end."""
    layout.activate = lambda: None  # shadows the method for pyqtgraph's calls
    try:
        yield
    finally:
        del layout.activate
        layout.activate()


class _Cell:
    """One layer's picture: a title, a ViewBox, the mosaic ImageItem and a highlight path."""

    def __init__(self, index: int, title: str, mosaic: Mosaic, spatial: bool) -> None:
        self.index, self.title, self.mosaic, self.spatial = index, title, mosaic, spatial
        # No context menu, from the start: a ViewBox's menu is built in its constructor
        # (3 ms each; the 176 cells of resnet50 took 0.5 s of a new window's 1.2 s here).
        self.view = pg.ViewBox(
            lockAspect=True, invertY=True, enableMouse=False, enableMenu=False
        )
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self.path = QGraphicsPathItem(self.image)  # in mosaic pixel coordinates
        pen = pg.mkPen(HIGHLIGHT, width=2)
        pen.setCosmetic(True)
        self.path.setPen(pen)
        self.path.setBrush(pg.mkBrush(245, 158, 11, 60))
        self.path.setZValue(10)
        h, w = mosaic.size
        self.view.setRange(QRectF(0, 0, w, h), padding=0.02)
        self.label: pg.LabelItem | None = None

    def show_boxes(self, boxes: Sequence[Box] | Box | None, channel: int | None = None) -> None:
        """Outline ``boxes`` (one per path that reaches this layer differently, nested) in
        one channel's tile (or in every tile when channel is None)."""
        path = QPainterPath()
        if isinstance(boxes, Box):
            boxes = [boxes]
        channels = range(self.mosaic.channels) if channel is None else [channel]
        for box in boxes or ():
            for ch in channels:
                oy, ox = self.mosaic.tile_origin(ch)
                path.addRect(QRectF(ox + box.left, oy + box.top, box.width, box.height))
        self.path.setPath(path)


class FeatureMapsView(QWidget):
    """``featureMaps``: the overview of all layers (left) and the enlarged layer (right).

    Double-clicking a pixel of a conv, pool or relu output emits ``explainRequested(layer,
    channel, row, column)``: "Explain this pixel" (the step-by-step view shows its arithmetic).
    """

    explainRequested = Signal(int, int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("featureMaps")
        self._spec: NetworkSpec | None = None
        self._cells: list[_Cell] = []  # [0] is the input; [i + 1] is layer i
        self._focus: _Cell | None = None
        self._probe: np.ndarray | None = None
        self._values: list[np.ndarray | None] = []  # by cell: what it shows, for hover
        self._pictures: list[np.ndarray | None] = []  # by cell: uint8 RGBA to show
        self._stale: set[int] = set()  # cells whose ImageItem lags their picture
        self._pending: tuple[Sequence[np.ndarray], int] | None = None
        # The layers a background render is drawing now (flush draws them itself).
        self._inflight: list | None = None
        self._generation = 0  # a render started before the latest change is dropped
        self._view_cache: tuple[tuple, frozenset[int]] | None = None  # _in_view's answer
        self._render = BackgroundCall(self)
        self._render.result.connect(self._rendered)
        self._highlight: dict[int, Box] = {}
        self._paths: dict[int, list[Box]] = {}  # the distinct boxes of every path, by layer

        self.overview = GraphicsLayoutWidget()
        self.overview.setObjectName("featureMapsOverview")
        self.focus_view = GraphicsLayoutWidget()
        self.focus_view.setObjectName("featureMapsFocus")
        self._status = QLabel(
            "Hover a pixel to see its receptive field; click a layer to enlarge it; "
            "double-click a pixel to explain it step by step."
        )
        self._status.setWordWrap(True)
        # A deep network's rows scroll (each keeps a readable height) rather than shrink
        self.overview_scroll = QScrollArea(objectName="featureMapsScroll")
        self.overview_scroll.setWidgetResizable(True)
        self.overview_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.overview_scroll.setWidget(self.overview)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.overview_scroll)
        split.addWidget(self.focus_view)
        split.setSizes([640, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split, 1)
        layout.addWidget(self._status)
        for view in (self.overview, self.focus_view):
            view.scene().sigMouseMoved.connect(self._on_hover)
        self.overview.scene().sigMouseClicked.connect(self._on_click)
        self.focus_view.scene().sigMouseClicked.connect(self._on_focus_click)
        self._render.error.connect(self._status.setText)
        for bar in (
            self.overview_scroll.verticalScrollBar(),
            self.overview_scroll.horizontalScrollBar(),
        ):
            bar.valueChanged.connect(self._show_visible)
        self._timer = QTimer(self, interval=REDRAW_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._apply_theme()

    # ------------------------------------------------------------------ data in

    def set_spec(self, spec: NetworkSpec) -> None:
        """Lay out one cell per layer of ``spec`` (call when the network changes)."""
        report = infer_shapes(spec)
        self._spec = spec
        self._cells, self._values, self._highlight, self._paths = [], [], {}, {}
        self._view_cache = None
        self._pictures, self._stale = [], set()
        self._generation += 1  # a render in flight drew another network
        self._inflight = None
        self.overview.replace_layout()
        self.focus_view.clear()
        self._focus = None
        if not report.ok:
            self._status.setText("Fix the network's problems to see its feature maps.")
            return
        names = layer_labels(spec)
        shapes = [report.input_shape] + [row.output_shape for row in report]
        titles = ["input", *names]
        for i, (title, shape) in enumerate(zip(titles, shapes, strict=True)):
            mosaic = Mosaic.for_shape(shape)
            if i == 0 and shape[0] in (1, 3):  # the probe is one picture, grey or colour
                mosaic = Mosaic(1, shape[1], shape[2], 1, 1)
            self._cells.append(_Cell(i - 1, title, mosaic, len(shape) == 3))
            self._values.append(None)
            self._pictures.append(None)
        _bg, fg, _muted = plot_colors(self)
        places = arrange(spec, COLUMNS)
        self.overview.setMinimumHeight(ROW_PX * (1 + max(r for r, _ in places)))
        self.overview.setMinimumWidth(COLUMN_PX * (1 + max(c for _, c in places)))
        with _one_layout_pass(self.overview.ci.layout):
            for cell, (r, c) in zip(self._cells, places, strict=True):
                n = cell.index + 1
                shape = "×".join(str(s) for s in shapes[n])
                long = len(cell.title) + len(shape) > LONG_TITLE  # ids run long
                gap = "<br>" if long else "&nbsp;&nbsp;"
                cell.label = self.overview.addLabel(
                    f"<b>{cell.title}</b>{gap}{shape}", row=2 * r, col=c, color=fg.name()
                )
                self.overview.addItem(cell.view, row=2 * r + 1, col=c)
        first_conv = next(
            (i for i, layer in enumerate(spec.layers) if layer.kind.family == "conv"), 0
        )
        self.select_layer(first_conv)
        if self._probe is not None:
            self.set_probe(self._probe)

    def set_probe(self, image: np.ndarray) -> None:
        """The probe image, as the network sees it: (C, H, W) float32, or a batch (P, C, H, W)
        of which the first is shown."""
        probe = np.asarray(image)
        probe = probe[0] if probe.ndim == 4 else probe
        shown = self._values[0] if self._cells else None
        self._probe = probe
        if not self._cells:
            return
        self._values[0] = probe
        if shown is not None and shown.shape == probe.shape and np.array_equal(shown, probe):
            return  # Train sets the image the data's loading showed: nothing to repaint
        self._cells[0].image.setImage(display_array(probe), autoLevels=False, levels=(0, 255))
        if self._focus is not None and self._focus.index == -1:
            self._focus.image.setImage(display_array(probe), autoLevels=False, levels=(0, 255))

    def update_activations(self, activations: Sequence[np.ndarray], example: int = 0) -> None:
        """The output of every layer for the probe, one array per layer of the spec, with or
        without a leading batch axis (``example`` picks the image of a batch). Only kept
        here: the timer draws the latest at most every 200 ms while the view is shown."""
        self._pending = (activations, example)

    def flush(self) -> None:
        """Draw pending activations now, every cell, on this thread (tests and callers that
        need the pictures at once; the timer renders in the background instead)."""
        layers = self._take_pending()
        if layers is None:
            # Taken by the timer and still rendering in the background: draw those here.
            layers = self._inflight
        if layers is not None:
            self._generation += 1  # a background render of older activations is dropped
            self._inflight = None
            self._install([v for v, _ in layers], layer_pictures(layers, _SIGNED, _POSITIVE))
        for i in sorted(self._stale):
            self._put(self._cells[i], self._picture(i))
        self._stale.clear()

    def layer_values(self, index: int) -> np.ndarray | None:
        """What layer ``index`` (−1: the input) shows now: float32 (C, H, W) or (F,) for the
        probe, or None before its first activations."""
        return self._values[index + 1]

    def _take_pending(self) -> list[tuple[np.ndarray, Mosaic]] | None:
        """The pending activations as (values, mosaic) per layer, the probe's example picked;
        None when nothing is pending or they do not fit the network (said in the status)."""
        if self._pending is None or not self._cells:
            return None
        activations, example = self._pending
        self._pending = None
        if len(activations) != len(self._cells) - 1:
            self._status.setText(
                f"{len(activations)} activations for {len(self._cells) - 1} layers: "
                "the network changed; waiting for the next snapshot."
            )
            return None
        layers = []
        for cell, act in zip(self._cells[1:], activations, strict=True):
            a = np.asarray(act)
            if a.ndim == (3 if cell.spatial else 1) + 1:
                a = a[example]
            layers.append((a, cell.mosaic))
        return layers

    def _tick(self) -> None:
        """The timer: start rendering the newest activations (off this thread) while the
        view is on screen, and set the pictures of cells scrolled into view since. Only the
        cells in view and the enlarged one are rendered in the background (11 of resnet20's
        73 in the Train page's pane: the render's numpy work holds the GIL the training
        thread needs); the others are rendered here when they are scrolled into view."""
        if not self.isVisible():
            return  # kept pending: drawn when shown
        if self._pending is not None and not self._render.is_busy():
            layers = self._take_pending()
            if layers is not None:
                self._generation += 1
                generation = self._generation
                self._inflight = layers
                wanted = self._in_view()
                if self._focus is not None and self._focus.index >= 0:
                    wanted.add(self._focus.index + 1)

                def render():
                    pictures = [
                        layer_picture(v, m, _SIGNED, _POSITIVE)[0] if i in wanted else None
                        for i, (v, m) in enumerate(layers, start=1)
                    ]
                    return generation, layers, pictures

                self._render.start(render)
        self._show_visible()

    def _rendered(self, result) -> None:
        # Set in a turn of the event loop of its own, apart from the other live views'
        # drawing (workbench.views.view_turns); flush() draws them first if asked sooner.
        view_turns().request(self, "pictures", lambda: self._install_rendered(result))

    def _install_rendered(self, result) -> None:
        generation, layers, pictures = result
        if generation == self._generation:
            self._inflight = None
            self._install([v for v, _ in layers], pictures)

    def _install(self, values: list[np.ndarray], pictures: list[np.ndarray | None]) -> None:
        """Keep every layer's values and picture (None: rendered when first shown); show
        those on screen now."""
        for i, (v, picture) in enumerate(zip(values, pictures, strict=True), start=1):
            self._values[i], self._pictures[i] = v, picture
        self._stale.update(range(1, len(self._cells)))
        if self._focus is not None and self._focus.index >= 0:
            self._put(self._focus, self._picture(self._focus.index + 1))
        self._show_visible()

    def _picture(self, i: int) -> np.ndarray | None:
        """Cell ``i``'s picture, rendered now from its values if the background left it."""
        picture = self._pictures[i]
        if picture is None and i > 0 and self._values[i] is not None:
            mosaic = self._cells[i].mosaic
            picture = layer_picture(self._values[i], mosaic, _SIGNED, _POSITIVE)[0]
            self._pictures[i] = picture
        return picture

    def _in_view(self) -> set[int]:
        """The cells (by index into the cells, 0 = the input) the overview's viewport shows.
        Kept while the cells, the overview's size and the scroll position stay as they were
        (the timer asks five times a second, and the answer changes only when they do)."""
        port = self.overview.viewport()
        shown = port.visibleRegion().boundingRect()
        if shown.isEmpty():
            return set()
        size = self.overview.size()
        # The last cell's place changes when the overview's layout is (re)done.
        last = self._cells[-1].view.pos() if self._cells else QPointF()
        # (set_spec drops the kept answer with the cells.)
        key = (size.width(), size.height(), last.x(), last.y(),
               shown.x(), shown.y(), shown.width(), shown.height())  # fmt: skip
        if self._view_cache is not None and self._view_cache[0] == key:
            return set(self._view_cache[1])
        area = self.overview.mapToScene(shown).boundingRect()
        # Each cell's rectangle mapped in C++: sceneBoundingRect() asks the ViewBox for its
        # boundingRect, a Python method, and 74 such calls on every tick of resnet20 took
        # 1.8 ms of the interpreter lock the training thread needs.
        cells = {i for i, cell in enumerate(self._cells)
                 if cell.view.mapRectToScene(QRectF(QPointF(), cell.view.size()))
                 .intersects(area)}  # fmt: skip
        self._view_cache = (key, frozenset(cells))
        return cells

    def _show_visible(self, *_args) -> None:
        """Set the pictures of the stale cells that the overview's viewport shows."""
        if not self._stale or not self.isVisible():
            return
        for i in sorted(self._stale & self._in_view()):
            self._put(self._cells[i], self._picture(i))
            self._stale.discard(i)

    @staticmethod
    def _put(cell: _Cell, picture: np.ndarray | None) -> None:
        if picture is not None:
            cell.image.setImage(picture, autoLevels=False, levels=None)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._tick()

    # ------------------------------------------------------------------ focus and hover

    def select_layer(self, index: int) -> None:
        """Enlarge layer ``index`` (−1: the input) in the focus pane."""
        if not self._cells:
            return
        src = self._cells[index + 1]
        self.focus_view.clear()
        cell = _Cell(src.index, src.title, src.mosaic, src.spatial)
        _bg, fg, _muted = plot_colors(self)
        cell.label = self.focus_view.addLabel(
            f"<b>{src.title}</b> (enlarged)", row=0, col=0, color=fg.name()
        )
        self.focus_view.addItem(cell.view, row=1, col=0)
        self._focus = cell
        values = self._values[index + 1]
        if index == -1 and values is not None:
            cell.image.setImage(display_array(values), autoLevels=False, levels=(0, 255))
        elif values is not None:
            self._put(cell, self._picture(index + 1))

    def probe(self) -> np.ndarray | None:
        """The probe image shown, float32 (C, H, W) as the network sees it; None before one."""
        return self._probe

    def focused_layer(self) -> int | None:
        return None if self._focus is None else self._focus.index

    def hover(self, layer_index: int, channel: int, y: int, x: int) -> dict[int, Box]:
        """Highlight the receptive field of pixel (y, x) of ``channel`` in layer
        ``layer_index``'s output, every path's box in every layer; returns the union box by
        layer index (−1: the input); :meth:`path_boxes` has every path's."""
        if self._spec is None:
            raise ValueError("no network to trace: call set_spec first")
        fields = path_fields(self._spec, layer_index, y, x)
        self._highlight = {
            i: box for i in range(-1, layer_index + 1) if (box := fields.union(i)) is not None
        }
        self._paths = {i: list(fields[i]) for i in self._highlight}
        for cell in self._all_cells():
            boxes = self._paths.get(cell.index)
            cell.show_boxes(boxes, channel if cell.index == layer_index else None)
        value = self._values[layer_index + 1]
        v = f" = {value[channel, y, x]:.3g}" if value is not None else ""
        field = self._highlight[-1]
        where = f"rows {field.top}–{field.bottom - 1}, columns {field.left}–{field.right - 1}"
        sees = (
            f"sees a {field.height}×{field.width} patch of the input ({where})"
            if fields.paths() == 1
            else f"sees the input along {fields.describe()} (together {where})"
        )
        self._status.setText(
            f"{self._cells[layer_index + 1].title}, channel {channel}, "
            f"pixel (row {y}, column {x}){v} — {sees}"
        )
        return dict(self._highlight)

    def path_boxes(self) -> dict[int, list[Box]]:
        """The receptive-field boxes shown now, every path's, by layer index (−1: input)."""
        return {i: list(boxes) for i, boxes in self._paths.items()}

    def highlighted(self) -> dict[int, Box]:
        """The receptive-field boxes shown now, by layer index (−1: the input)."""
        return dict(self._highlight)

    def clear_highlight(self) -> None:
        self._highlight, self._paths = {}, {}
        for cell in self._all_cells():
            cell.show_boxes(None)

    def cell_image(self, layer_index: int) -> pg.ImageItem:
        """The ImageItem of a layer in the overview (−1: the input)."""
        return self._cells[layer_index + 1].image

    def _all_cells(self) -> list[_Cell]:
        return self._cells + ([self._focus] if self._focus is not None else [])

    def _cell_at(self, scene_pos: QPointF, sender_scene) -> tuple[_Cell, QPointF] | None:
        for cell in self._all_cells():
            if cell.view.scene() is sender_scene and cell.view.sceneBoundingRect().contains(
                scene_pos
            ):
                return cell, cell.image.mapFromScene(scene_pos)
        return None

    def _on_hover(self, scene_pos: QPointF) -> None:
        hit = self._cell_at(scene_pos, self.sender()) if self._spec is not None else None
        if hit is None or not hit[0].spatial or hit[0].index < 0:
            if self._highlight:
                self.clear_highlight()
            return
        cell, p = hit
        where = cell.mosaic.locate(p.y(), p.x())
        if where is None:
            self.clear_highlight()
            return
        self.hover(cell.index, *where)

    def _on_click(self, event) -> None:
        hit = self._cell_at(event.scenePos(), self.overview.scene())
        if hit is not None and not (event.double() and self._explain(*hit)):
            self.select_layer(hit[0].index)

    def _on_focus_click(self, event) -> None:
        hit = self._cell_at(event.scenePos(), self.focus_view.scene())
        if hit is not None and event.double():
            self._explain(*hit)

    def _explain(self, cell: _Cell, p: QPointF) -> bool:
        """Emit ``explainRequested`` for the pixel under ``p``; False when there is none."""
        where = cell.mosaic.locate(p.y(), p.x()) if cell.spatial and cell.index >= 0 else None
        if where is None:
            return False
        self.explainRequested.emit(cell.index, *where)
        return True

    # ------------------------------------------------------------------ palette

    def _apply_theme(self) -> None:
        bg, fg, _muted = plot_colors(self)
        for view in (self.overview, self.focus_view):
            view.setBackground(bg)
        for cell in self._all_cells():
            if cell.label is not None:
                cell.label.setText(cell.label.text, color=fg.name())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()
        super().changeEvent(event)


def _demo() -> FeatureMapsView:
    import engine
    from engine.network import build

    spec = engine.load_spec("lenet5")
    yy, xx = np.mgrid[0:32, 0:32]
    probe = ((np.abs(np.hypot(yy - 16, xx - 16) - 9) < 2.5) * 1.0 - 0.3).astype(np.float32)[None]
    net = build(spec, seed=0)
    view = FeatureMapsView()
    view.set_spec(spec)
    view.set_probe(probe)
    view.update_activations(net.forward_activations(probe[None]))
    view.flush()
    view.select_layer(3)
    view.hover(3, 2, 4, 6)
    return view


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(1200, 760)
    demo.show()
    if len(sys.argv) > 1:
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
