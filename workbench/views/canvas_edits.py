"""The network canvas's gestures that change the network, each one undoable document edit
(engine.graph_edits does the rewiring): a connection drawn from an output port (add or
concat, as the person chooses), Delete on a selected connection, Edit ▸ Add residual
connection on the selected blocks, Edit ▸ Make Inception block on one (through
workbench.views.inception_dialog), a block dragged onto an arrow (or onto a block: after
it) to move that layer there, and drops from the palette (on an arrow: on that
connection; on a block: after it; elsewhere: at the end). A gesture that does not apply says
why on the canvas, briefly, instead of a dialog.

A mixin of workbench.views.network_canvas.NetworkCanvas: it uses the canvas's ``document``,
``blocks``, ``edges``, ``selected_rows``, ``block_at`` and ``edge_at``.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsPathItem,
    QGraphicsSimpleTextItem,
    QLabel,
    QMenu,
)

from engine import graph_edits
from workbench import style
from workbench.layer_edits import move_onto
from workbench.models.graph_layout import BLOCK_H, BLOCK_W
from workbench.models.mime import decode
from workbench.views.canvas_items import BlockItem, EdgeItem

MERGE_CHOICES = (("add", "Add (sum the two)"), ("concat", "Concatenate channels"))
MESSAGE_MS = 5000
NEAR_EDGE_PX = 18  # a block dropped this close to an arrow (in the viewport) goes on it


class CanvasEdits:
    """Network edits from the canvas; ``message`` shows why one was refused."""

    def _init_edits(self) -> None:
        self.message = QLabel(self.viewport())
        self.message.setObjectName("canvasMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self._message_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._message_timer.timeout.connect(self.message.hide)
        self._drop_edge: EdgeItem | None = None
        self._press: tuple[QPoint, BlockItem] | None = None  # a left press on a block
        self._moving: _Move | None = None  # a block being dragged to another place
        self.inception_dialog = None  # the Make Inception block dialog last opened

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
        spec = self.document.spec
        kind = spec.layers[dst - 1].type
        if kind in graph_edits.MERGES:
            merge = kind  # they meet in the merge that is there: nothing to choose
        else:
            try:  # refused whatever the choice (it feeds it already): say so, ask nothing
                graph_edits.connect(spec, src - 1, dst - 1, "add")
            except graph_edits.GraphEditError as e:
                self.show_message(str(e))
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
        rows = self.selected_rows()
        if 0 in rows:  # the shortcut would start inside the block: refuse, not wrap the rest
            self.show_message(
                "the input cannot be inside a residual connection: select only the layers "
                "the shortcut should go around (from the first layer, it starts at the input)"
            )
            return False
        layers = [row - 1 for row in rows]
        return self._apply(lambda s: graph_edits.add_residual(s, layers), "Add residual connection")

    def make_inception(self) -> bool:
        """Edit ▸ Make Inception block, on the one selected block: opens the dialog
        (``inception_dialog``, window-modal) whose OK replaces the layer, one undo step.
        False (and a message on the canvas) when it does not apply."""
        from engine.inception_edit import default_counts, make_inception, preview_inception
        from workbench.views.inception_dialog import InceptionDialog

        layers = [row - 1 for row in self.selected_rows() if row > 0]
        if len(layers) != 1:
            self.show_message("select one layer to make into an Inception block")
            return False
        if self.document.locked:
            self.show_message(self.document.lock_reason or "the network cannot be changed now")
            return False
        spec, index = self.document.spec, layers[0]
        try:
            preview_inception(spec, index, default_counts(spec, index))
        except graph_edits.GraphEditError as e:
            self.show_message(str(e))
            return False
        dialog = InceptionDialog(spec, index, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.inception_dialog = dialog

        def accepted() -> None:
            if self.document.spec != spec:  # changed meanwhile (it is window-modal)
                self.show_message("the network changed while the dialog was open; try again")
                return
            counts = dialog.counts()
            self._apply(lambda s: make_inception(s, index, counts), "Make Inception block")

        dialog.accepted.connect(accepted)
        dialog.open()
        return True

    def contextMenuEvent(self, event) -> None:
        """The stack's edits, Add residual connection, Delete connection, and the engine's
        fixes for the block (or the merge an arrow goes into), one click away."""
        pos = event.pos()
        block, edge = self.block_at(pos), self.edge_at(pos)
        menu = QMenu(self)
        menu.setObjectName("canvasMenu")
        if block is not None and not block.isSelected():
            self.scene().clearSelection()
            block.setSelected(True)
        if block is not None or edge is None:
            menu.addActions(self.actions())  # Cut, Copy, Paste, Duplicate, Delete
            menu.addAction("Add residual connection", self.add_residual)
            menu.addAction("Make Inception block…", self.make_inception)
        if edge is not None and block is None:
            menu.addAction("Delete connection", lambda e=edge: self.delete_connection(e))
        collapse = menu.addAction("Collapse repeated blocks")
        collapse.setCheckable(True)
        collapse.setChecked(self.collapse_repeats)
        collapse.toggled.connect(self.set_collapsed)
        row = block.row if block is not None else edge.dst if edge is not None else None
        for fix in self.fixes_for(row):
            menu.addAction(f"Fix: {fix.label}", lambda f=fix: self.document.apply_fix(f))
        if not menu.isEmpty():
            self.popup(menu, event.globalPos())

    def popup(self, menu: QMenu, at) -> None:
        """Show ``menu`` at ``at`` (global) until a choice is made (tests answer here)."""
        menu.exec(at)

    def fixes_for(self, row: int | None) -> list:
        """The engine's fixes for the problems of block ``row`` (0: the input)."""
        if row is None:
            return []
        layer = None if row == 0 else row - 1
        report = self.document.report
        return [fix for p in report.problems if p.layer == layer for fix in p.fixes]

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
        """Say on the canvas, briefly, why a gesture was refused; in the window's status bar
        too while the canvas is not shown (Edit ▸ Add residual connection from another page)."""
        self.message.setText("⚠ " + text)
        window = self.window()
        if not self.isVisible() and hasattr(window, "statusBar"):
            window.statusBar().showMessage("⚠ " + text, MESSAGE_MS)
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
        if event.key() == Qt.Key.Key_Escape and self.cancel_move():
            return
        edge = self._selected_edge()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and edge is not None:
            self.delete_connection(edge)
            return
        super().keyPressEvent(event)

    def _selected_edge(self) -> EdgeItem | None:
        """The one connection selected, with no block: what Delete removes then. With blocks
        (a rubber band round two blocks catches the arrow between them) Delete removes them."""
        items = self.scene().selectedItems()
        edges = [i for i in items if isinstance(i, EdgeItem)]
        if len(edges) != 1 or any(isinstance(i, BlockItem) for i in items):
            return None
        return edges[0]

    # ------------------------------------------------------------------ moving a block

    def press_block(self, pos: QPoint, block: BlockItem | None) -> None:
        """A left press at ``pos`` (viewport): on a block, a move may start from it."""
        self._press = (pos, block) if block is not None else None

    def drag_block(self, pos: QPoint) -> bool:
        """The mouse moved with the button held: start or follow a block's move. True when
        the move takes the event (the view must not rubber-band or select)."""
        if self._moving is None:
            if self._press is None:
                return False
            start, block = self._press
            if (pos - start).manhattanLength() < QApplication.startDragDistance():
                return False
            self._press = None
            if block.row == 0 or len(block.rows) > 1 or self.document.locked:
                if self.document.locked:
                    self.show_message(self.document.lock_reason or "the network cannot change now")
                return False
            self._moving = _Move(self, block, self.mapToScene(start))
        self._moving.follow(self.mapToScene(pos), self.move_target(pos))
        return True

    def drop_block(self, pos: QPoint) -> bool | None:
        """The button released: finish a move (True when the layer moved, False when it
        could not); None when no move was under way."""
        self._press = None
        moving, self._moving = self._moving, None
        if moving is None:
            return None
        target = self.move_target(pos)
        row = moving.block.row
        moving.finish()
        if target is None:
            return False
        return self.move_block(row, target)

    def cancel_move(self) -> bool:
        moving, self._moving = self._moving, None
        if moving is not None:
            moving.finish()
        return moving is not None

    def move_target(self, pos: QPoint) -> EdgeItem | None:
        """The arrow a block dropped at ``pos`` (viewport) goes on: the one there (or within
        a few pixels), else the first arrow out of the block there; never one of the moved
        block's own arrows (it is there already)."""
        row = self._moving.block.row if self._moving is not None else None
        edge = self.edge_at(pos)
        if edge is None:
            block = self.block_at(pos)
            if block is not None and block.row != row:
                edge = next((e for e in self.edges if e.src == block.row), None)
            elif block is None:
                edge = self._edge_near(pos)
        if edge is not None and row in (edge.src, edge.dst):
            return None
        return edge

    def _edge_near(self, pos: QPoint) -> EdgeItem | None:
        d = QPoint(NEAR_EDGE_PX, NEAR_EDGE_PX)
        box = QRect(pos - d, pos + d)
        near = [item for item in self.items(box) if isinstance(item, EdgeItem)]
        at = QPointF(pos)

        def distance(edge: EdgeItem) -> float:
            points = [QPointF(self.mapFromScene(p)) for p in edge.points]
            return min(_to_segment(at, a, b) for a, b in itertools.pairwise(points))

        best = min(near, key=distance, default=None)
        return best if best is not None and distance(best) <= NEAR_EDGE_PX else None

    def move_block(self, row: int, edge: EdgeItem) -> bool:
        """Move the layer of block ``row`` onto the arrow ``edge`` (one undo step)."""
        label = self.document.spec.layers[row - 1].kind.label
        dsts = [t - 1 for t in edge.targets]
        return self._apply(lambda s: move_onto(s, row - 1, edge.src - 1, dsts), f"Move {label}")

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
        if edge is None:
            at = len(doc.spec.layers)
            if len(layers) == 1:
                return doc.insert_layer(at, layers[0])
            return doc.insert_layers(at, layers, f"Insert {len(layers)} layers")
        if len(layers) != 1 or len(edge.targets) != 1:  # after the arrow's source, into its
            text = f"Insert {layers[0].kind.label}" if len(layers) == 1 else (  # head only
                f"Insert {len(layers)} layers")  # fmt: skip
            return doc.insert_layers(edge.src, layers, text, into=[t - 1 for t in edge.targets])
        new = graph_edits.insert_on_edge(doc.spec, edge.src - 1, edge.dst - 1, layers[0])
        return doc.edit(new, f"Insert {layers[0].kind.label}", focus=edge.dst)


class _Move:
    """What a block's move draws while the mouse is held: the block dimmed in its place, a
    translucent copy under the cursor, and the arrow it would go on, highlighted."""

    def __init__(self, canvas, block: BlockItem, grab: QPointF):
        self.canvas, self.block = canvas, block
        self.offset = block.pos() - grab
        scene = canvas.scene()
        highlight = canvas.palette().highlight().color()
        path = QPainterPath()
        path.addRoundedRect(QRectF(-BLOCK_W / 2, -BLOCK_H / 2, BLOCK_W, BLOCK_H), 7, 7)
        self.ghost = QGraphicsPathItem(path)
        fill = QColor(highlight)
        fill.setAlphaF(0.18)
        self.ghost.setBrush(fill)
        self.ghost.setPen(QPen(highlight, 1.6, Qt.PenStyle.DashLine))
        self.ghost.setZValue(5)
        self.ghost.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        text = QGraphicsSimpleTextItem(f"Move {block.data_.title}", self.ghost)
        text.setBrush(canvas.palette().text().color())
        text.setPos(-text.boundingRect().width() / 2, -text.boundingRect().height() / 2)
        scene.addItem(self.ghost)
        self.mark = QGraphicsPathItem()
        self.mark.setPen(QPen(highlight, 5.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        self.mark.setZValue(4)
        self.mark.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        scene.addItem(self.mark)
        block.setOpacity(0.35)
        canvas.viewport().setCursor(Qt.CursorShape.DragMoveCursor)

    def follow(self, scene_pos: QPointF, target: EdgeItem | None) -> None:
        self.ghost.setPos(scene_pos + self.offset)
        self.target = target
        self.mark.setPath(target.path() if target is not None else QPainterPath())

    def finish(self) -> None:
        scene = self.canvas.scene()
        for item in (self.ghost, self.mark):
            if item.scene() is scene:
                scene.removeItem(item)
        if self.block.scene() is scene:
            self.block.setOpacity(1.0)
        self.canvas.viewport().unsetCursor()


def _to_segment(p: QPointF, a: QPointF, b: QPointF) -> float:
    """Distance from ``p`` to the segment ``a``-``b``."""
    line = QLineF(a, b)
    length2 = line.dx() ** 2 + line.dy() ** 2
    if length2 <= 1e-9:
        return QLineF(p, a).length()
    t = max(0.0, min(1.0, ((p.x() - a.x()) * line.dx() + (p.y() - a.y()) * line.dy()) / length2))
    return QLineF(p, QPointF(a.x() + t * line.dx(), a.y() + t * line.dy())).length()
