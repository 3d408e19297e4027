"""The shape table: per layer the output shape, parameters, multiply-adds and memory, with
totals; broken rows in red; hover a row for its arithmetic. Selection follows the stack.
Run alone: ``python -m workbench.views.shape_table [SPEC]``.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from workbench.document import Document
from workbench.models.shape_table_model import (
    COL_INDEX,
    COL_OUTPUT,
    COLUMNS,
    STACK_ROW_ROLE,
    ShapeTableModel,
)


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
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_INDEX, QHeaderView.ResizeMode.Fixed)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(36)
        self.setColumnWidth(COL_INDEX, 36)
        self.selectionModel().currentRowChanged.connect(self._current)
        document.focusRequested.connect(self.select_row)

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
