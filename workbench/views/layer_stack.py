"""The layer stack: the network drawn as the tutorials draw it, input → conv → relu → … → dense.

Each layer is a block coloured by family, with its type, key hyperparameters, parameter count
and output shape; a broken layer is outlined in red with the engine's message. Every drop,
real or synthetic, goes through ``dropEvent`` → ``LayerStackModel.dropMimeData``, which turns
it into an undoable document edit. Run alone: ``python -m workbench.views.layer_stack``.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAccessible,
    QAccessibleTableModelChangeEvent,
    QDrag,
    QFontMetrics,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from workbench import style
from workbench.document import Document
from workbench.layer_edits import copies_of
from workbench.models.layer_stack_model import LayerStackModel, StackRole
from workbench.models.mime import decode, layers_mime, new_layer

GAP = 18  # vertical room between blocks, where the connecting arrow is drawn
MAX_BLOCK_WIDTH = 460


class BlockDelegate(QStyledItemDelegate):
    """Paints one layer as a rounded block with a family stripe and an arrow above it."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = option.fontMetrics
        return QSize(200, GAP + 2 * fm.height() + 20)

    def block_rect(self, rect: QRect) -> QRect:
        r = rect.adjusted(12, GAP, -12, -2)
        if r.width() > MAX_BLOCK_WIDTH:
            r.setLeft(r.center().x() - MAX_BLOCK_WIDTH // 2)
            r.setWidth(MAX_BLOCK_WIDTH)
        return r

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        family = index.data(StackRole.FAMILY)
        problems = index.data(StackRole.PROBLEMS) or []
        red = style.problem_color(pal)
        colour = red if problems else style.accent(family)
        block = self.block_rect(option.rect)
        if index.row() > 0:
            self._arrow(painter, block.center().x(), block.top() - GAP + 3, block.top() - 2, pal)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        fill = style.problem_fill(pal) if problems else style.block_fill(family, pal)
        path = QPainterPath()
        path.addRoundedRect(QRectF(block).adjusted(0.5, 0.5, -0.5, -0.5), 7, 7)
        painter.fillPath(path, fill)
        border = (
            colour
            if (problems or selected)
            else style.mix(pal.color(QPalette.ColorRole.Base), colour, 0.45)
        )
        painter.setPen(QPen(border, 2.2 if (selected or problems) else 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if selected:  # a halo in the highlight colour, so selection reads in both palettes
            halo = QPen(pal.color(QPalette.ColorRole.Highlight), 1.2, Qt.PenStyle.DashLine)
            painter.setPen(halo)
            painter.drawRoundedRect(QRectF(block).adjusted(-3.5, -3.5, 3.5, 3.5), 9, 9)
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(block.left(), block.top(), 10, block.height()), 7, 7)
        painter.save()
        painter.setClipRect(QRect(block.left(), block.top(), 6, block.height()))
        painter.fillPath(stripe, colour)
        painter.restore()

        fm = option.fontMetrics
        icon = QRect(block.left() + 14, block.center().y() - 12, 24, 24)
        style.layer_icon(index.data(StackRole.TYPE)).paint(painter, icon)
        left = icon.right() + 10
        shape_text = index.data(StackRole.OUTPUT)
        bold = style.heading_font(option.widget)
        bfm = QFontMetrics(bold)
        pill_w = bfm.horizontalAdvance(shape_text) + 18
        pill = QRect(block.right() - pill_w - 10, block.top() + 8, pill_w, fm.height() + 6)
        line1 = QRect(left, block.top() + 8, pill.left() - left - 8, fm.height() + 4)
        line2 = QRect(left, line1.bottom() + 2, block.right() - left - 12, fm.height() + 2)

        painter.setFont(bold)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        title = bfm.elidedText(index.data(), Qt.TextElideMode.ElideRight, line1.width())
        painter.drawText(line1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.mix(fill, colour, 0.22))
        painter.drawRoundedRect(QRectF(pill), pill.height() / 2, pill.height() / 2)
        painter.setFont(bold)
        painter.setPen(red if problems else pal.color(QPalette.ColorRole.Text))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, shape_text)

        painter.setFont(option.font)
        if problems:
            painter.setPen(red)
            more = f"  (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            text = fm.elidedText(
                "⚠ " + problems[0] + more, Qt.TextElideMode.ElideRight, line2.width()
            )
        else:
            painter.setPen(style.muted_text(pal))
            params = index.data(StackRole.PARAMS)
            parts = [index.data(StackRole.DETAIL), f"{params} parameters" if params else ""]
            text = fm.elidedText(
                " · ".join(p for p in parts if p) or _no_params(index),
                Qt.TextElideMode.ElideRight,
                line2.width(),
            )
        painter.drawText(line2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def _arrow(self, painter: QPainter, x: int, y0: int, y1: int, pal: QPalette) -> None:
        colour = style.muted_text(pal)
        painter.setPen(QPen(colour, 1.6))
        painter.drawLine(QPointF(x, y0), QPointF(x, y1 - 5))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawPolygon(
            QPolygonF([QPointF(x - 4.5, y1 - 6), QPointF(x + 4.5, y1 - 6), QPointF(x, y1)])
        )


def _no_params(index: QModelIndex) -> str:
    return "image in" if index.row() == 0 else "no parameters"


class LayerStackView(QListView):
    """The blocks. ``rowSelected(row)``: row 0 is the input, row i + 1 is layer i."""

    rowSelected = Signal(int)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerStack")
        self.setAccessibleName("Layer stack")
        self.document = document
        self.setModel(LayerStackModel(document, self))
        self.setItemDelegate(BlockDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDropIndicatorShown(False)  # drawn by paintEvent, between blocks
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(280)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self._drop_row: int | None = None
        self.selectionModel().currentRowChanged.connect(self._current)
        document.focusRequested.connect(self.select_row)
        document.lockedChanged.connect(self._locked)

    def dataChanged(self, top_left: QModelIndex, bottom_right: QModelIndex, roles=()) -> None:
        """Redraw the changed blocks that are in view. QListView repaints its whole viewport
        for any change, even of one row; an edit on resnet50 changes a range of 70 rows,
        of which a few are in view at most. Every block has the same size (uniform item
        sizes), so nothing moves: only those blocks' rectangles are painted again."""
        if not top_left.isValid() or not bottom_right.isValid():
            super().dataChanged(top_left, bottom_right, roles)
            return
        view = self.viewport().rect()
        first = self.indexAt(QPoint(view.center().x(), view.top()))
        last = self.indexAt(QPoint(view.center().x(), view.bottom()))
        lo = max(top_left.row(), first.row() if first.isValid() else 0)
        hi = min(bottom_right.row(), last.row() if last.isValid() else bottom_right.row())
        model = self.model()
        for row in range(lo, hi + 1):
            self.update(model.index(row, 0))
        if QAccessible.isActive():  # what QAbstractItemView tells assistive technology
            change = QAccessibleTableModelChangeEvent(
                self, QAccessibleTableModelChangeEvent.ModelChangeType.DataChanged
            )
            change.setFirstRow(top_left.row())
            change.setLastRow(bottom_right.row())
            change.setFirstColumn(0)
            change.setLastColumn(0)
            QAccessible.updateAccessibility(change)

    # ------------------------------------------------------------------ selection

    def select_row(self, row: int) -> None:
        """Select block ``row`` (a view that allows no selection, a preview, stays clear)."""
        ix = self.model().index(row, 0)
        if ix.isValid() and self.selectionMode() != QAbstractItemView.SelectionMode.NoSelection:
            flags = QItemSelectionModel.SelectionFlag
            self.selectionModel().setCurrentIndex(ix, flags.ClearAndSelect | flags.Rows)
            self.scrollTo(ix)

    def selected_layers(self) -> list[int]:
        """Indices into spec.layers of the selected blocks (the input is never one)."""
        return sorted(ix.row() - 1 for ix in self.selectionModel().selectedRows() if ix.row() > 0)

    def current_row(self) -> int:
        ix = self.currentIndex()
        return ix.row() if ix.isValid() else 0

    def _locked(self, locked: bool, _reason: str) -> None:
        self.setDragEnabled(not locked)

    def _current(self, index: QModelIndex, _previous: QModelIndex | None = None) -> None:
        row = index.row() if index.isValid() else 0
        self.document.set_focus_row(row)
        self.rowSelected.emit(row)

    # ------------------------------------------------------------------ editing

    def insert_type(self, layer_type: str) -> bool:
        """Add a new layer of ``layer_type`` after the current block (the palette's Enter)."""
        return self.document.insert_layer(self.current_row(), new_layer(layer_type))

    def delete_selected(self) -> bool:
        return self.document.remove_layers(self.selected_layers())

    def copy_selected(self) -> bool:
        indices = self.selected_layers()
        if not indices:
            return False
        layers, entry = copies_of(self.document.spec, indices)
        QGuiApplication.clipboard().setMimeData(layers_mime(layers, entry=entry))
        return True

    def cut_selected(self) -> bool:
        return self.copy_selected() and self.delete_selected()

    def paste(self) -> bool:
        """Insert the clipboard's layers (from this or another window, or JSON text)."""
        dropped = decode(QGuiApplication.clipboard().mimeData())
        if dropped is None:
            return False
        return self.document.insert_layers(
            self.current_row(), dropped.layers, "Paste", entry=dropped.entry
        )

    def duplicate_selected(self) -> bool:
        indices = self.selected_layers()
        if not indices:
            return False
        # copies_of: the copies keep their wiring among themselves (a residual block's add
        # still takes its own branch) and hang from the last selected layer
        layers, entry = copies_of(self.document.spec, indices)
        return self.document.insert_layers(indices[-1] + 1, layers, "Duplicate", entry=entry)

    # ------------------------------------------------------------------ drag and drop

    def drop_row_at(self, pos: QPoint) -> int:
        """Where a drop at ``pos`` (viewport coordinates) inserts: a row ≥ 1, or -1 for the end."""
        model = self.model()
        for row in range(1, model.rowCount()):
            if pos.y() < self.visualRect(model.index(row, 0)).center().y():
                return row
        return -1

    def insertion_y(self, row: int) -> int:
        model = self.model()
        if row < 0:
            last = self.visualRect(model.index(model.rowCount() - 1, 0))
            return last.bottom() + GAP // 2
        return self.visualRect(model.index(row, 0)).top() + GAP // 2

    def startDrag(self, supported: Qt.DropAction) -> None:
        rows = [ix for ix in self.selectionModel().selectedRows() if ix.row() > 0]
        if not rows or self.document.locked:
            return
        drag = QDrag(self)
        drag.setMimeData(self.model().mimeData(rows))
        rect = self.visualRect(rows[0])
        pixmap = QPixmap(rect.size() * self.devicePixelRatioF())
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        pixmap.fill(Qt.GlobalColor.transparent)
        self.viewport().render(pixmap, QPoint(), rect)
        drag.setPixmap(pixmap)
        drag.setHotSpot(QPoint(rect.width() // 2, GAP + 10))
        # The drop (here or elsewhere) makes the edit; nothing to remove afterwards.
        drag.exec(Qt.DropAction.CopyAction | Qt.DropAction.MoveAction, Qt.DropAction.MoveAction)

    def dragEnterEvent(self, event) -> None:
        self._drag_over(event)

    def dragMoveEvent(self, event) -> None:
        self._drag_over(event)

    def dragLeaveEvent(self, event) -> None:
        self._drop_row = None
        self.viewport().update()

    def _drag_over(self, event) -> None:
        if self.document.locked or decode(event.mimeData()) is None:
            event.ignore()
            return
        self._drop_row = self.drop_row_at(event.position().toPoint())
        event.setDropAction(self._action_for(event))
        event.accept()
        self.viewport().update()

    def _action_for(self, event) -> Qt.DropAction:
        """Move blocks dragged within this stack (Ctrl copies them); insert anything else."""
        dropped = decode(event.mimeData())
        internal = dropped is not None and dropped.indices and dropped.token == self.model().token()
        copy = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        return Qt.DropAction.MoveAction if internal and not copy else Qt.DropAction.CopyAction

    def dropEvent(self, event) -> None:
        row = self.drop_row_at(event.position().toPoint())
        self._drop_row = None
        self.viewport().update()
        action = self._action_for(event)
        if self.model().dropMimeData(event.mimeData(), action, row, 0, QModelIndex()):
            event.setDropAction(action)
            event.accept()
            self.setFocus()
        else:
            event.ignore()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._drop_row is None:
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = self.palette().color(QPalette.ColorRole.Highlight)
        y = self.insertion_y(self._drop_row)
        painter.setPen(QPen(colour, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(24, y, self.viewport().width() - 24, y)
        painter.setBrush(colour)
        painter.drawEllipse(QPointF(24, y), 4, 4)
        painter.end()

    # ------------------------------------------------------------------ context menu

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for action in self.actions():
            menu.addAction(action)
        report = self.document.report
        ix = self.indexAt(pos)
        layer = ix.row() - 1 if ix.isValid() else None
        fixes = [
            fix
            for problem in report.problems
            if ix.isValid() and problem.layer == (None if layer == -1 else layer)
            for fix in problem.fixes
        ]
        if fixes:
            menu.addSeparator()
            for fix in fixes:
                menu.addAction(f"Fix: {fix.label}", lambda f=fix: self.document.apply_fix(f))
        if not menu.isEmpty():
            menu.exec(self.viewport().mapToGlobal(pos))
