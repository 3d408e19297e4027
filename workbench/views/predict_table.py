"""A folder's predictions: one row per image with its top class and confidence, sortable,
exportable to CSV. Part of the Predict tab (``PredictView``); it only shows rows it is given.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["FolderPredictions", "PredictionRow"]

#: (image path, top class, confidence 0..1) — or (path, "", None) with the reason in class
PredictionRow = tuple[str, str, float | None]
COLUMNS = ("Image", "Class", "Confidence")


class _Number(QTableWidgetItem):
    """Sorts by its value, not its text ("9.0%" after "10.0%" otherwise)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.data(Qt.ItemDataRole.UserRole)
        theirs = other.data(Qt.ItemDataRole.UserRole)
        return (mine if mine is not None else -1.0) < (theirs if theirs is not None else -1.0)


class FolderPredictions(QWidget):
    """``folderPredictions``: the table, a one-line summary and Export CSV…"""

    rowActivated = Signal(str)  # the image path of a double-clicked row

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("folderPredictions")
        self._rows: list[PredictionRow] = []
        self.summary = QLabel("", objectName="folderSummary")
        self.export_button = QPushButton("Export CSV…", objectName="exportPredictionsButton")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        self.table = QTableWidget(0, len(COLUMNS), objectName="folderPredictionsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        # Unsorted until a header is clicked: the images in the order they were given.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(
            lambda row, _c: self.rowActivated.emit(self.table.item(row, 0).toolTip())
        )
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.table)
        self.setVisible(False)

    def set_rows(self, rows: Sequence[PredictionRow], where: str = "") -> None:
        """Show one row per image (shown only once there are rows)."""
        self._rows = list(rows)
        table = self.table
        table.setSortingEnabled(False)
        table.setRowCount(len(self._rows))
        for r, (path, name, conf) in enumerate(self._rows):
            image = QTableWidgetItem(Path(path).name)
            image.setToolTip(path)
            table.setItem(r, 0, image)
            table.setItem(r, 1, QTableWidgetItem(name))
            number = _Number("" if conf is None else f"{conf:.1%}")
            number.setData(Qt.ItemDataRole.UserRole, conf)
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, 2, number)
        table.setSortingEnabled(True)
        bad = sum(1 for row in self._rows if row[2] is None)
        tail = f", {bad} unreadable" if bad else ""
        self.summary.setText(f"{len(self._rows)} images{f' in {where}' if where else ''}{tail}")
        self.export_button.setEnabled(bool(self._rows))
        self.setVisible(bool(self._rows))

    def rows(self) -> list[PredictionRow]:
        """The rows in the table's current (sorted) order."""
        by_path = {row[0]: row for row in self._rows}
        return [by_path[self.table.item(r, 0).toolTip()] for r in range(self.table.rowCount())]

    def export_csv(self, path: str | Path) -> None:
        """Write ``image,class,confidence`` rows (in the shown order); OSError on failure."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["image", "class", "confidence"])
            for image, name, conf in self.rows():
                out.writerow([image, name, "" if conf is None else f"{conf:.6f}"])

    def _export_dialog(self) -> None:
        start = str(Path(self._rows[0][0]).parent / "predictions.csv") if self._rows else ""
        path, _ = QFileDialog.getSaveFileName(self, "Export predictions", start, "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except OSError as e:
                self.summary.setText(f"Cannot write {path}: {e}")
