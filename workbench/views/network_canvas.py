"""The network canvas: the network drawn as a graph, top to bottom, beside the layer stack.

Blocks sit where workbench.models.graph_layout puts them (a Sugiyama layout: a chain is a
column, shortcuts run beside their block, Inception branches side by side); arrows carry the
shape of the tensor that flows along them. The canvas shares the stack's selection model, so
a click here selects the layer there and the inspector edits it, and the stack's edits
(Delete, Cut, Copy, Paste, Duplicate, Undo) act on what is selected here too.

Gestures, each one undoable document edit (engine.graph_edits does the rewiring):
- Ctrl+wheel zooms about the mouse, Ctrl+0 fits the graph, the middle button pans, the wheel
  scrolls; a drag on the background selects blocks with a rubber band;
- a drag from a block's output port to a later block connects them (the person chooses add
  or concat); Delete on a selected connection removes it;
- a drop from the palette on an arrow inserts the layer on that connection (on a block:
  after it; elsewhere: at the end);
- ``add_residual`` (Edit ▸ Add residual connection) wraps the selected blocks in a shortcut.

Run alone: ``python -m workbench.views.network_canvas [SPEC]``.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsScene, QGraphicsView, QLabel, QMenu

from engine import graph_edits
from workbench import style
from workbench.document import Document
from workbench.models import format as fmt
from workbench.models.graph_layout import layout
from workbench.models.layer_stack_model import LayerStackModel, StackRole
from workbench.models.mime import decode
from workbench.views.canvas_items import BlockData, BlockItem, EdgeItem

MIN_ZOOM, MAX_ZOOM = 0.04, 3.0
WHEEL_STEP = 1.15
MERGE_CHOICES = (("add", "Add (sum the two)"), ("concat", "Concatenate channels"))


class NetworkCanvas(QGraphicsView):
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
        self._syncing = False
        self._pressed_row: int | None = None
        self._wire: tuple[int, QGraphicsLineItem] | None = None  # a connection being drawn
        self._pan: QPoint | None = None
        self._drop_edge: EdgeItem | None = None
        self.message = QLabel(self.viewport())  # why a gesture was refused, for a while
        self.message.setObjectName("canvasMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self._message_timer = QTimer(self, singleShot=True, interval=5000)
        self._message_timer.timeout.connect(self.message.hide)
        fit = QShortcut(QKeySequence("Ctrl+0"), self, self.fit)
        fit.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.scene().selectionChanged.connect(self._scene_selection)
        selection.selectionChanged.connect(self._model_selection)
        selection.currentRowChanged.connect(self._model_current)
        document.specChanged.connect(self.rebuild)
        self.rebuild()

    # ------------------------------------------------------------------ building

    def rebuild(self) -> None:
        """Lay the current spec out again and redraw every block and arrow."""
        import time

        spec, report = self.document.spec, self.document.report
        start = time.perf_counter()
        placed = layout(list(spec.wiring.inputs))
        self.layout_ms = (time.perf_counter() - start) * 1000
        self._syncing = True
        try:
            scene = self.scene()
            scene.clear()
            self.blocks, self.edges, self._wire, self._drop_edge = {}, [], None, None
            model = self.selection.model()
            for row, centre in placed.centres.items():
                item = BlockItem(_block_data(model, row), centre)
                scene.addItem(item)
                self.blocks[row] = item
            for e in placed.edges:
                row = report[e.dst - 1] if e.dst - 1 < len(report) else None
                shapes = row.input_shapes if row is not None else ()
                shape = fmt.shape_text(shapes[e.slot]) if e.slot < len(shapes) else "—"
                source = "the input" if e.src == 0 else spec.wiring.ids[e.src - 1]
                tip = f"{shape}: the output of {source} into {spec.wiring.ids[e.dst - 1]}"
                item = EdgeItem(e.src, e.dst, e.slot, e.points, shape, tip)
                scene.addItem(item)
                self.edges.append(item)
            scene.setSceneRect(-40, -30, placed.width + 80, placed.height + 60)
        finally:
            self._syncing = False
        self._model_selection()

    # ------------------------------------------------------------------ selection

    def selected_rows(self) -> list[int]:
        return sorted(ix.row() for ix in self.selection.selectedRows())

    def _scene_selection(self) -> None:
        """A click or rubber band here selects the same rows in the shared model."""
        if self._syncing:
            return
        rows = sorted(
            item.row for item in self.scene().selectedItems() if isinstance(item, BlockItem)
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
            for row, item in self.blocks.items():
                item.setSelected(row in rows)
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

    def fit(self) -> None:
        """The whole graph in view (never enlarged beyond its natural size)."""
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.zoom_by(1.0 / self.zoom())

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
        super().mouseReleaseEvent(event)

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

    def view_pos(self, item, scene_point: QPointF | None = None) -> QPoint:
        """Viewport coordinates of ``scene_point`` (default: the item's centre), for tests."""
        point = scene_point if scene_point is not None else item.sceneBoundingRect().center()
        return self.mapFromScene(point)

    # ------------------------------------------------------------------ edits

    def choose_merge(self, src: int, dst: int) -> str | None:
        """Ask how the two outputs meet: "add", "concat" or None (cancelled)."""
        menu = QMenu(self)
        menu.setObjectName("mergeChoice")
        for kind, text in MERGE_CHOICES:
            menu.addAction(text).setData(kind)
        chosen = menu.exec(self.cursor().pos())
        return chosen.data() if chosen is not None else None

    def connect_rows(self, src: int, dst: int) -> bool:
        """Connect row ``src``'s output into row ``dst`` (an earlier row into a later one)."""
        if dst < src:
            src, dst = dst, src
        if dst == 0:
            return False
        merge = self.choose_merge(src, dst)
        if merge is None:
            return False
        return self._apply(lambda s: graph_edits.connect(s, src - 1, dst - 1, merge),
                           f"Connect with {merge}")  # fmt: skip

    def delete_connection(self, edge: EdgeItem) -> bool:
        return self._apply(
            lambda s: (graph_edits.remove_connection(s, edge.src - 1, edge.dst - 1), None),
            "Delete connection",
        )

    def add_residual(self) -> bool:
        """Edit ▸ Add residual connection, on the selected (consecutive) blocks."""
        layers = [row - 1 for row in self.selected_rows() if row > 0]
        return self._apply(lambda s: graph_edits.add_residual(s, layers), "Add residual connection")

    def _apply(self, edit, text: str) -> bool:
        if self.document.locked:
            self.show_message(self.document.lock_reason or "the network cannot be changed now")
            return False
        try:
            spec, at = edit(self.document.spec)
        except graph_edits.GraphEditError as e:
            self.show_message(str(e))
            return False
        focus = None if at is None else at + 1
        return self.document.edit(
            spec, text, focus=focus if focus is not None else self.document.focus_row
        )

    def show_message(self, text: str) -> None:
        self.message.setText("⚠ " + text)
        self.message.setStyleSheet(
            f"background: {style.rgba(self.palette().base().color(), 0.94)};"
            f"border: 1px solid {style.PROBLEM_COLOR}; border-radius: 6px; padding: 6px;"
        )
        self.message.setFixedWidth(max(160, min(420, self.viewport().width() - 24)))
        self.message.adjustSize()
        self.message.move(12, 12)
        self.message.show()
        self.message.raise_()
        self._message_timer.start()

    def event(self, event) -> bool:
        # Delete on a selected connection removes it, before the stack's Delete shortcut.
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (
            Qt.Key.Key_Delete, Qt.Key.Key_Backspace
        ) and self._selected_edge() is not None:  # fmt: skip
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        edge = self._selected_edge()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and edge is not None:
            self.delete_connection(edge)
            return
        super().keyPressEvent(event)

    def _selected_edge(self) -> EdgeItem | None:
        edges = [i for i in self.scene().selectedItems() if isinstance(i, EdgeItem)]
        return edges[0] if len(edges) == 1 else None

    # ------------------------------------------------------------------ palette drops

    def dragEnterEvent(self, event) -> None:
        self.dragMoveEvent(event)

    def dragMoveEvent(self, event) -> None:
        if self.document.locked or decode(event.mimeData()) is None:
            event.ignore()
            return
        edge = self.edge_at(event.position().toPoint())
        if edge is not self._drop_edge:
            for item in (self._drop_edge, edge):
                if item is not None:
                    item.setSelected(item is edge)
            self._drop_edge = edge
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()

    def dragLeaveEvent(self, event) -> None:
        if self._drop_edge is not None:
            self._drop_edge.setSelected(False)
        self._drop_edge = None

    def dropEvent(self, event) -> None:
        dropped = decode(event.mimeData())
        pos = event.position().toPoint()
        self.dragLeaveEvent(event)
        if dropped is None or self.document.locked:
            event.ignore()
            return
        if self.drop_layers(dropped.layers, pos):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.setFocus()
        else:
            event.ignore()

    def drop_layers(self, layers, pos: QPoint) -> bool:
        """Insert ``layers`` where a drop at ``pos`` (viewport) puts them: on the arrow there,
        after the block there (on its first outgoing arrow), or at the end."""
        edge = self.edge_at(pos)
        block = self.block_at(pos)
        if edge is None and block is not None:
            edge = next((e for e in self.edges if e.src == block.row), None)
        doc = self.document
        if edge is None or len(layers) != 1:
            at = len(doc.spec.layers) if edge is None else edge.dst - 1
            if len(layers) == 1:
                return doc.insert_layer(at, layers[0])
            return doc.insert_layers(at, layers, f"Insert {len(layers)} layers")
        new = graph_edits.insert_on_edge(doc.spec, edge.src - 1, edge.dst - 1, layers[0])
        return doc.edit(new, f"Insert {layers[0].kind.label}", focus=edge.dst)


def _block_data(model, row: int) -> BlockData:
    ix = model.index(row, 0)
    params = ix.data(StackRole.PARAMS)
    detail = " · ".join(
        p for p in (ix.data(StackRole.DETAIL), f"{params} params" if params else "") if p
    )
    return BlockData(
        row=row,
        type=ix.data(StackRole.TYPE),
        family=ix.data(StackRole.FAMILY),
        title=ix.data(),
        detail=detail or ("image in" if row == 0 else "no parameters"),
        shape=ix.data(StackRole.OUTPUT),
        problems=tuple(ix.data(StackRole.PROBLEMS) or ()),
        tooltip=ix.data(Qt.ItemDataRole.ToolTipRole) or "",
    )


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
