"""The palette: every layer type, by family, with its icon and one line saying what it does.

Drag an entry into the layer stack, or double-click it (or press Enter) to add it after the
selected layer. Descriptions wrap to the palette's width (at most ``SUMMARY_LINES`` lines;
the tooltip has the whole text). Run alone: ``python -m workbench.views.palette``.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette, QTextLayout
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from workbench import style
from workbench.models.palette_model import FAMILY_ROLE, SUMMARY_ROLE, TYPE_ROLE, PaletteModel

SUMMARY_LINES = 3


def wrap_text(text: str, font: QFont, width: int, max_lines: int) -> list[str]:
    """``text`` broken at word boundaries into lines of at most ``width`` pixels in ``font``;
    past ``max_lines`` the last line ends in an ellipsis."""
    layout = QTextLayout(text, font)
    lines: list[str] = []
    layout.beginLayout()
    while (line := layout.createLine()).isValid():
        line.setLineWidth(max(1, width))
        lines.append(text[line.textStart() : line.textStart() + line.textLength()])
    layout.endLayout()
    if len(lines) > max_lines:
        rest = "".join(lines[max_lines - 1 :])
        lines = [
            *lines[: max_lines - 1],
            QFontMetrics(font).elidedText(rest, Qt.TextElideMode.ElideRight, width),
        ]
    return [line.rstrip() for line in lines]


class PaletteDelegate(QStyledItemDelegate):
    """Family headers in small capitals; entries as icon, bold name, muted description."""

    ICON = 28
    TEXT_LEFT = ICON + 16  # where the name and description start, from the row's left

    def _summary_width(self, option: QStyleOptionViewItem) -> int:
        view = self.parent()
        width = view.viewport().width() if isinstance(view, QTreeView) else option.rect.width()
        return width - self.TEXT_LEFT - 4

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = option.fontMetrics
        if not index.data(TYPE_ROLE):
            return QSize(200, fm.height() + 10)
        lines = wrap_text(
            index.data(SUMMARY_ROLE), option.font, self._summary_width(option), SUMMARY_LINES
        )
        return QSize(200, max(self.ICON + 8, fm.height() * (1 + len(lines)) + 8))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        pal = option.palette
        r = option.rect
        if not index.data(TYPE_ROLE):
            font = style.heading_font(option.widget, 0.85)
            font.setCapitalization(font.Capitalization.AllUppercase)
            font.setLetterSpacing(font.SpacingType.PercentageSpacing, 108)
            painter.setFont(font)
            painter.setPen(style.accent(index.data(FAMILY_ROLE)))
            head = r.adjusted(4, 0, -4, -2)
            text = painter.fontMetrics().elidedText(
                index.data(), Qt.TextElideMode.ElideRight, head.width()
            )
            painter.drawText(head, Qt.AlignmentFlag.AlignBottom, text)
            painter.restore()
            return
        selected = option.state & QStyle.StateFlag.State_Selected
        hover = option.state & QStyle.StateFlag.State_MouseOver
        if selected or hover:
            fill = style.block_fill(index.data(FAMILY_ROLE), pal)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(style.accent(index.data(FAMILY_ROLE)) if selected else Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(r.adjusted(1, 1, -2, -1), 6, 6)
        icon_rect = QRect(r.left() + 6, r.center().y() - self.ICON // 2, self.ICON, self.ICON)
        index.data(Qt.ItemDataRole.DecorationRole).paint(painter, icon_rect)
        text_left = r.left() + self.TEXT_LEFT
        fm = option.fontMetrics
        name_rect = QRect(text_left, r.top() + 4, r.right() - text_left - 4, fm.height())
        painter.setFont(style.heading_font(option.widget, 1.0))
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        # A narrow dock shortens the bold name with "…" (the tooltip has it whole), never
        # cuts it mid-letter ("Power-average poc").
        name = painter.fontMetrics().elidedText(
            index.data(), Qt.TextElideMode.ElideRight, name_rect.width()
        )
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft, name)
        painter.setFont(option.font)
        painter.setPen(style.muted_text(pal))
        line_rect = name_rect.translated(0, fm.height() + 1)
        for line in wrap_text(
            index.data(SUMMARY_ROLE), option.font, line_rect.width(), SUMMARY_LINES
        ):
            painter.drawText(line_rect, Qt.AlignmentFlag.AlignLeft, line)
            line_rect.translate(0, fm.height())
        painter.restore()


class _FamilyFilter(QSortFilterProxyModel):
    """Keeps entries whose name or description matches, and their family headers."""

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        ix = self.sourceModel().index(row, 0, parent)
        text = self.filterRegularExpression().pattern().lower()
        if not text:
            return True
        if not ix.data(TYPE_ROLE):  # a family: shown if any of its entries is
            return any(self.filterAcceptsRow(r, ix) for r in range(self.sourceModel().rowCount(ix)))
        haystack = f"{ix.data()} {ix.data(TYPE_ROLE)} {ix.data(SUMMARY_ROLE)}".lower()
        return text in haystack


class _PaletteTree(QTreeView):
    """Lays its rows out again when its width changes: descriptions wrap to it."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.doItemsLayout()


class PaletteView(QWidget):
    """A filter box over the tree of layer types. ``layerActivated`` on double-click/Enter."""

    layerActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.model = PaletteModel(self)
        self._proxy = _FamilyFilter(self)
        self._proxy.setSourceModel(self.model)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter layers…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.tree = _PaletteTree(self)
        self.tree.setObjectName("paletteTree")
        self.tree.setModel(self._proxy)
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setItemsExpandable(False)
        self.tree.setIndentation(0)
        self.tree.setUniformRowHeights(False)
        self.tree.setMouseTracking(True)
        self.tree.setItemDelegate(PaletteDelegate(self.tree))
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setFrameShape(QTreeView.Shape.NoFrame)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.expandAll()
        self.tree.activated.connect(self._activated)
        self.tree.setAccessibleName("Layer palette")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)

    def index_of(self, layer_type: str) -> QModelIndex:
        """The view index of a layer type's entry (for tests and keyboard navigation)."""
        return self._proxy.mapFromSource(self.model.index_of(layer_type))

    def mime_data_for(self, layer_type: str):
        """The exact payload a drag of this entry carries (the view's own model builds it)."""
        return self._proxy.mimeData([self.index_of(layer_type)])

    def set_editable(self, editable: bool) -> None:
        self.tree.setDragEnabled(editable)

    def _filter(self, text: str) -> None:
        self._proxy.setFilterFixedString(text.strip())
        self.tree.expandAll()

    def _activated(self, index: QModelIndex) -> None:
        name = index.data(TYPE_ROLE)
        if name:
            self.layerActivated.emit(name)


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    view = PaletteView()
    view.resize(300, 700)
    view.show()
    sys.exit(app.exec())
