"""The network canvas: the network drawn as a graph, top to bottom, beside the layer stack.

Blocks sit where workbench.models.graph_layout puts them (a Sugiyama layout: a chain is a
column, shortcuts run beside their block, Inception branches side by side); arrows carry the
shape of the tensor that flows along them. The canvas shares the stack's selection model, so
a click here selects the layer there and the inspector edits it, and the stack's edits
(Delete, Cut, Copy, Paste, Duplicate, Undo) act on what is selected here too.

Ctrl+wheel zooms about the mouse, Ctrl+0 fits the graph, the middle button pans, the wheel
scrolls, a drag on the background selects blocks with a rubber band, and a drag from a
block's output port draws a new connection, and a drag of a block itself onto an arrow moves
that layer there. The gestures that edit the network (connect,
Delete on a connection, Add residual connection, palette drops on an arrow) are in
workbench.views.canvas_edits. The layout is kept while the wiring stays the same, so typing
a kernel size moves no block.

Run alone: ``python -m workbench.views.network_canvas [SPEC]``.
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsScene, QGraphicsView

from engine.layers import LAYER_TYPES
from workbench import style
from workbench.document import Document
from workbench.models.graph_layout import layout
from workbench.models.layer_stack_model import LayerStackModel
from workbench.models.repeats import find_repeats
from workbench.models.row_changes import another_network
from workbench.views.canvas_edits import CanvasEdits
from workbench.views.canvas_hover import edge_mismatch, edge_tip
from workbench.views.canvas_items import BlockData, BlockItem, EdgeItem, block_data, edge_text
from workbench.views.canvas_minimap import Minimap

MIN_ZOOM, MAX_ZOOM = 0.04, 3.0
WHEEL_STEP = 1.15


class NetworkCanvas(CanvasEdits, QGraphicsView):
    """``blocks[row]`` and ``edges`` are the scene's items after each rebuild; ``selection``
    is the (shared) selection model of the stack's rows; ``layout_ms`` the last layout's
    time."""

    def __init__(self, document: Document, selection: QItemSelectionModel | None = None,
                 parent=None):  # fmt: skip
        super().__init__(parent)
        self.setObjectName("networkCanvas")
        self.setAccessibleName("Network graph")
        self.document = document
        if selection is None:  # run alone: a model of its own
            selection = QItemSelectionModel(LayerStackModel(document, self), self)
        self.selection = selection
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.blocks: dict[int, BlockItem] = {}
        self.edges: list[EdgeItem] = []
        self.layout_ms = 0.0
        self._placed: tuple[tuple, object] | None = None  # (wiring, layout) of the last build
        self._kinds: tuple[str, ...] | None = None  # the layer types of the last build
        self._seen = -1  # the document's generation its items show
        self._syncing = False
        self._pressed_row: int | None = None
        self._wire: tuple[int, QGraphicsLineItem] | None = None  # a connection being drawn
        self._pan: QPoint | None = None
        self._init_edits()
        self.collapse_repeats = False  # runs of identical blocks drawn as one "×n"
        self._expanded: set = set()  # keys of the repeats shown in full anyway
        self._group_items: dict = {}
        self.minimap = Minimap(self)
        fit = QShortcut(QKeySequence("Ctrl+0"), self, self.fit)
        fit.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.scene().selectionChanged.connect(self._scene_selection)
        selection.selectionChanged.connect(self._model_selection)
        selection.currentRowChanged.connect(self._model_current)
        document.specChanged.connect(self.rebuild)
        self.rebuild()

    # ------------------------------------------------------------------ building

    def rebuild(self) -> None:
        """Lay the current spec out again and redraw every block and arrow (with the same
        wiring as last time, only the texts change)."""
        spec, report = self.document.spec, self.document.report
        groups = self._groups(spec)
        merged = {row: g.last for g in groups.values() for row in g.rows}
        wiring = (spec.wiring.inputs, tuple(sorted(merged.items())))
        previous = self._placed
        if previous is not None and previous[0] == wiring and self._wire is None:
            self._refresh(spec, report)  # a field typed: every block stays, only texts change
            return
        start = time.perf_counter()
        placed = layout(list(spec.wiring.inputs), merged)
        self.layout_ms = (time.perf_counter() - start) * 1000
        self._placed = (wiring, placed)
        self._seen = self.document.generation
        self._group_items = groups
        kinds = tuple(layer.type for layer in spec.layers)
        fresh = another_network(self._kinds, kinds)
        self._kinds = kinds
        self.cancel_move()  # its items go with the scene
        self._press = None
        self._syncing = True
        try:
            scene = self.scene()
            scene.clear()
            self.blocks, self.edges, self._wire, self._drop_edge = {}, [], None, None
            model = self.selection.model()
            for row, centre in placed.centres.items():
                item = BlockItem(self._data(model, row), centre)
                if row in groups:
                    item.rows = groups[row].rows
                scene.addItem(item)
                self.blocks[row] = item
            for e in placed.edges:
                item = EdgeItem(e.src, e.dst, e.slot, e.points, *edge_text(spec, report, e))
                if e.dst in groups:  # into a collapsed repeat: the layers of it that take src
                    item.targets = tuple(
                        r for r in groups[e.dst].rows if e.src - 1 in spec.inputs_of(r - 1)
                    ) or (e.dst,)
                scene.addItem(item)
                self.edges.append(item)
            scene.setSceneRect(-40, -30, placed.width + 80, placed.height + 60)
            self._mark_mismatches(spec, report)
        finally:
            self._syncing = False
        self._model_selection()
        if fresh:
            self.show_top(placed.width)
        self.minimap.invalidate()
        self.minimap.refresh()

    def _refresh(self, spec, report) -> None:
        """Same wiring, new fields: new texts on the items that are there, those of the rows
        the edit changed (Document.changed_rows) when the canvas saw the spec before it."""
        now = self.document.generation
        changed = self.document.changed_rows() if self._seen == now - 1 else None
        self._seen = now
        model = self.selection.model()
        for row, item in self.blocks.items():
            if changed is not None and not changed.intersection(item.rows):
                continue
            data = self._data(model, row)
            if data != item.data_:
                item.data_ = data
                item.setToolTip(data.tooltip)
                item.update()
        edges = self.edges if changed is None else [
            e for e in self.edges if e.src in changed or e.dst in changed]  # fmt: skip
        for edge in edges:
            label, tip = edge_text(spec, report, edge)
            if label != edge.label:
                edge.label = label
                edge.setToolTip(tip)
                edge.update()
        self._mark_mismatches(spec, report, edges)
        self._model_selection()

    def _mark_mismatches(self, spec, report, edges=None) -> None:
        """Red arrows into a broken merge (canvas_hover.edge_mismatch); only ``edges`` when
        given (the others' rows did not change)."""
        for edge in self.edges if edges is None else edges:
            wrong = edge_mismatch(spec, report, edge)
            if wrong != edge.mismatch:
                edge.mismatch = wrong
                edge.update()

    # ------------------------------------------------------------------ repeats

    def set_collapsed(self, collapsed: bool) -> None:
        """Draw each run of identical blocks as one block "×n" (or every layer again)."""
        self.collapse_repeats = collapsed
        self._expanded.clear()
        self.rebuild()

    def expand(self, item: BlockItem) -> None:
        group = self._group_items.get(item.row)
        if group is not None:
            self._expanded.add(group.key)
            self.rebuild()

    def _groups(self, spec) -> dict:
        if not self.collapse_repeats:
            return {}
        found = find_repeats(spec)
        return {g.last: g for g in found if g.key not in self._expanded}

    def _data(self, model, row: int) -> BlockData:
        group = self._group_items.get(row) if hasattr(self, "_group_items") else None
        data = block_data(model, row)
        if group is None:
            return data
        problems = tuple(p for r in group.rows for p in (block_data(model, r).problems))
        return replace(
            data,
            type=group.types[-2] if group.types[-1] == "relu" else group.types[-1],
            family="merge",
            title=f"{group.count}× {group.title}",  # the count first: it survives eliding
            detail=" → ".join(LAYER_TYPES[t].short or t for t in group.types),
            problems=problems,
            tooltip=f"{group.count} identical blocks of {len(group.types)} layers: "
            "double-click to show them",
        )

    def mouseDoubleClickEvent(self, event) -> None:
        block = self.block_at(event.position().toPoint())
        if block is not None and len(block.rows) > 1:
            self.expand(block)
            return
        super().mouseDoubleClickEvent(event)

    def show_top(self, width: float) -> None:
        """Natural size, or as much smaller (down to half) as shows the graph's width."""
        self.resetTransform()
        room = self.viewport().width()
        if self.isVisible() and width + 80 > room > 0:
            self.zoom_by(max(0.5, room / (width + 80)))
        self.centerOn(width / 2, 0)

    # ------------------------------------------------------------------ selection

    def selected_rows(self) -> list[int]:
        return sorted(ix.row() for ix in self.selection.selectedRows())

    def _scene_selection(self) -> None:
        """A click or rubber band here selects the same rows in the shared model."""
        if self._syncing:
            return
        rows = sorted(
            row
            for item in self.scene().selectedItems()
            if isinstance(item, BlockItem)
            for row in item.rows
        )
        model = self.selection.model()
        chosen = QItemSelection()
        for row in rows:
            chosen.select(model.index(row, 0), model.index(row, 0))
        flags = QItemSelectionModel.SelectionFlag
        self._syncing = True
        try:
            current = (
                self._pressed_row if self._pressed_row in rows else (rows[-1] if rows else None)
            )
            if current is not None:
                self.selection.setCurrentIndex(model.index(current, 0), flags.NoUpdate)
            self.selection.select(chosen, flags.ClearAndSelect | flags.Rows)
        finally:
            self._syncing = False

    def _model_selection(self, *_args) -> None:
        if self._syncing:
            return
        rows = set(self.selected_rows())
        self._syncing = True
        try:
            for item in self.blocks.values():
                item.setSelected(any(row in rows for row in item.rows))
        finally:
            self._syncing = False

    def _model_current(self, index, _previous=None) -> None:
        item = self.blocks.get(index.row()) if index.isValid() else None
        if item is not None and not self._syncing:
            self.ensureVisible(item, 40, 40)

    # ------------------------------------------------------------------ zoom and pan

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        factor = max(MIN_ZOOM / self.zoom(), min(MAX_ZOOM / self.zoom(), factor))
        self.scale(factor, factor)
        self.minimap.refresh()

    def fit(self) -> None:
        """The whole graph in view (never enlarged beyond its natural size)."""
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.zoom_by(1.0 / self.zoom())
        self.minimap.refresh()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.minimap.refresh()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange,
                            QEvent.Type.FontChange):  # fmt: skip
            for item in (*self.blocks.values(), *self.edges):
                item.update()  # their kept pixmaps have the old colours (another theme)

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            self.zoom_by(WHEEL_STEP**steps)
            event.accept()
        else:
            super().wheelEvent(event)

    # ------------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        block = self.block_at(pos)
        self._pressed_row = block.row if block is not None else None
        scene_pos = self.mapToScene(pos)
        if event.button() == Qt.MouseButton.LeftButton:
            on_port = block is not None and block.on_output_port(scene_pos)
            self.press_block(pos, None if on_port else block)
        if (event.button() == Qt.MouseButton.LeftButton and block is not None
                and block.on_output_port(scene_pos) and not self.document.locked):  # fmt: skip
            line = QGraphicsLineItem(
                block.output_port().x(), block.output_port().y(), scene_pos.x(), scene_pos.y()
            )
            line.setPen(QPen(self.palette().highlight().color(), 2, Qt.PenStyle.DashLine))
            line.setZValue(3)
            self.scene().addItem(line)
            self._wire = (block.row, line)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position().toPoint()
        if self._pan is not None:
            delta = pos - self._pan
            self._pan = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            return
        if self._wire is not None:
            line = self._wire[1].line()
            end = self.mapToScene(pos)
            line.setP2(end)
            self._wire[1].setLine(line)
            return
        if event.buttons() & Qt.MouseButton.LeftButton and self.drag_block(pos):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan is not None:
            self._pan = None
            self.viewport().unsetCursor()
            return
        if self._wire is not None:
            src, line = self._wire
            self._wire = None
            self.scene().removeItem(line)
            target = self.block_at(event.position().toPoint())
            if target is not None and target.row != src:
                self.connect_rows(src, target.row)
            return
        if self.drop_block(event.position().toPoint()) is not None:
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def viewportEvent(self, event) -> bool:
        # An arrow's hover text (its shape's arithmetic) is written when it is asked for:
        # writing all of them on every keystroke cost resnet50's refresh 7 of its 47 ms.
        if event.type() == QEvent.Type.ToolTip:
            pos = event.pos()
            edge = self.edge_at(pos) if self.block_at(pos) is None else None
            if edge is not None:
                edge.setToolTip(edge_tip(self.document.spec, self.document.report, edge))
        return super().viewportEvent(event)

    def gesture_items(self) -> list:
        """The scene's items of a gesture in progress: the connection being drawn, the
        moved block's copy and the arrow it would go on (the overview draws them too)."""
        items = [self._wire[1]] if self._wire is not None else []
        if self._moving is not None:
            items += [self._moving.ghost, self._moving.mark]
        return items

    def block_at(self, pos: QPoint) -> BlockItem | None:
        """The block under ``pos`` (viewport coordinates), if any."""
        for item in self.items(pos):
            if isinstance(item, BlockItem):
                return item
        return None

    def edge_at(self, pos: QPoint) -> EdgeItem | None:
        for item in self.items(pos):
            if isinstance(item, EdgeItem):
                return item
        return None


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.spec import load_spec

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    canvas = NetworkCanvas(Document(load_spec(sys.argv[1] if len(sys.argv) > 1 else "resnet20")))
    canvas.resize(700, 900)
    canvas.show()
    print(f"layout: {canvas.layout_ms:.0f} ms")
    sys.exit(app.exec())
