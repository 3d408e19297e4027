"""The shape table: per layer the output shape, parameters, multiply-adds, memory and (for a
network with branches; in a chain each layer takes the one before) the ids of its inputs,
with totals (and the frozen parameters, when some are); broken rows in red; hover a row for
its arithmetic. Selection follows the stack.

Columns are as wide as their contents; when the table is too narrow for all of them, the
layer names and then the settings give up width (elided, whole on hover) before anything
scrolls sideways, so the numbers stay readable. Run alone:
``python -m workbench.views.shape_table [SPEC]``.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from workbench.document import Document
from workbench.models.row_changes import RowCache
from workbench.models.shape_table_model import (
    COL_INDEX,
    COL_INPUTS,
    COL_LAYER,
    COL_OUTPUT,
    COL_SETTINGS,
    COLUMNS,
    STACK_ROW_ROLE,
    ShapeTableModel,
)

#: Columns that narrow (eliding their text) when the table lacks room, in order, and the
#: width each keeps at least (an icon and a short name; a short setting).
#: Cells per column measured by the delegate (the widest by their text; a bold or iconed
#: cell a little narrower in plain text still counts).
_MEASURED = 4

# Narrowed in this order, each to its floor: the inputs (ids, whole in the tooltip) give way
# first, then the layer's name (its icon stays), the settings, and the inputs to their least.
SHRINKABLE = ((COL_INPUTS, 120), (COL_LAYER, 72), (COL_SETTINGS, 56), (COL_INPUTS, 52),
              (COL_OUTPUT, 64))  # fmt: skip


class ShapeTable(QTableView):
    """``rowSelected(row)`` uses the stack's numbering: 0 is the input, i + 1 is layer i."""

    rowSelected = Signal(int)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("shapeTable")
        self.setAccessibleName("Shape table")
        self.document = document
        self.setModel(ShapeTableModel(document, self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setMouseTracking(True)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # fit_columns decides
        header.setMinimumSectionSize(24)
        self._fitting = False
        self._widths_seen: dict[tuple, int] = {}
        #: Per row: its cells' texts, boldness and text widths, kept until an edit changes
        #: the row; ``_measured_font`` the font they were measured in.
        self._measured = RowCache(document)
        self._measured_font = ""
        self._advances: dict[tuple[str, bool], int] = {}  # (text, bold) -> its width
        model = self.model()
        # The natural widths of the last fit, until the contents change: a resize (the
        # problems area growing after an edit) only re-fits them to the new width.
        self._natural: tuple | None = None
        for signal in (model.modelReset, model.rowsRefreshed, model.layoutChanged,
                       model.dataChanged):  # fmt: skip
            signal.connect(self._contents_changed)  # connected first: runs before the fit
        # Once per edit (rowsRefreshed), not per run of changed rows (dataChanged).
        for signal in (model.modelReset, model.rowsRefreshed, model.layoutChanged):
            signal.connect(self.fit_columns)
        self.selectionModel().currentRowChanged.connect(self._current)
        document.focusRequested.connect(self.select_row)
        self.fit_columns()

    def natural_widths(self) -> list[int]:
        """The width each column needs to show its header and every cell whole (0: hidden).

        Qt's ``sizeHintForColumn`` asks every cell for every role through the delegate
        (about 1,300 model calls per row of resnet50 per fit); instead each cell's text is
        measured with the font once (again only when an edit changes its row), and only
        each column's few widest cells go through the delegate."""
        header, model = self.horizontalHeader(), self.model()
        rows = model.rowCount()
        font = self.font().key()
        if font != self._measured_font:
            self._measured.clear()
            self._advances.clear()
            self._measured_font = font
        self._measured.always = {rows - 1}  # the totals
        measured = [self._measure(r) for r in range(rows)]
        widths = []
        for col in range(len(COLUMNS)):
            if header.isSectionHidden(col):
                widths.append(0)
                continue
            advances = [m[2][col] for m in measured]
            widest = sorted(range(rows), key=lambda r: -advances[r])[:_MEASURED]
            key = (col, font, tuple((measured[r][0][col], measured[r][1][col]) for r in widest))
            width = self._widths_seen.get(key)
            if width is None:
                width = max((self.sizeHintForIndex(model.index(r, col)).width()
                             for r in widest), default=0)  # fmt: skip
                if len(self._widths_seen) > 256:
                    self._widths_seen.clear()
                self._widths_seen[key] = width
            widths.append(max(width, header.sectionSizeHint(col)))
        return widths

    def _measure(self, row: int) -> tuple[tuple, tuple, tuple]:
        """(texts, bold flags, text widths) of ``row``'s cells, kept until it changes."""
        values = self._measured.values(row)
        got = values.get("cells")
        if got is None:
            texts, bolds = self.model().row_cells(row)
            known = self._advances
            advances = []
            for col, (text, bold) in enumerate(zip(texts, bolds, strict=True)):
                width = known.get((text, bold))
                if width is None:
                    if bold:
                        font = self.model().cell(row, col, Qt.ItemDataRole.FontRole)
                        width = QFontMetrics(font).horizontalAdvance(text)
                    else:
                        width = self.fontMetrics().horizontalAdvance(text)
                    if len(known) > 8192:
                        known.clear()
                    known[(text, bold)] = width
                advances.append(width)
            got = values["cells"] = (texts, bolds, tuple(advances))
        return got

    def fit_columns(self, *_args) -> None:
        """Size columns to their contents, narrowing ``SHRINKABLE`` ones to fit the width."""
        if self._fitting:
            return
        self._fitting = True
        try:
            # A chain's layers each take the one before: its inputs column would say nothing.
            chain = self.document.spec.is_chain
            header = self.horizontalHeader()
            if header.isSectionHidden(COL_INPUTS) != chain:
                header.setSectionHidden(COL_INPUTS, chain)
            key = (self.font().key(), chain)
            if self._natural is None or self._natural[0] != key:
                self._natural = (key, tuple(self.natural_widths()))
            widths = list(self._natural[1])
            excess = sum(widths) - self.viewport().width()
            for col, least in SHRINKABLE:
                give = max(0, min(excess, widths[col] - least))
                widths[col] -= give
                excess -= give
            stretch = excess <= 0  # when it all fits, the last one fills the rest
            header.setStretchLastSection(stretch)
            last = max((col for col, width in enumerate(widths) if width), default=-1)
            for col, width in enumerate(widths):
                # Sizing a stretched last column would undo the stretch, and each resize
                # repaints the table once more, later.
                if width and not (stretch and col == last):
                    header.resizeSection(col, width)
        finally:
            self._fitting = False

    def _contents_changed(self, *_args) -> None:
        self._natural = None

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def select_row(self, row: int) -> None:
        """Select the table row showing stack row ``row``."""
        ix = self.model().index(row, COL_INDEX)
        if ix.isValid() and self.currentIndex().row() != row:
            self.blockSignals(True)
            self.setCurrentIndex(ix)
            self.blockSignals(False)
            self.scrollTo(ix)

    def _current(self, index: QModelIndex, _previous: QModelIndex) -> None:
        row = index.data(STACK_ROW_ROLE) if index.isValid() else None
        if row is not None and row >= 0 and not self.signalsBlocked():
            self.rowSelected.emit(row)

    def output_text(self, row: int) -> str:
        """The output shape shown for stack row ``row`` (what a person reads in the table)."""
        return self.model().index(row, COL_OUTPUT).data()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.spec import load_spec
    from workbench import style

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    table = ShapeTable(Document(load_spec(sys.argv[1] if len(sys.argv) > 1 else "lenet5")))
    table.resize(760, 480)
    table.show()
    sys.exit(app.exec())
