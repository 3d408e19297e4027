"""The comparison of two or more runs (``runComparison``): a row per run with its figures (the
later runs' with their change against the first: "+82%", "-2.5 pts", "1.5×"), each later run's
row followed by one spanning the table that says what it changes against the first run, in
words ("B vs A: adds batch_norm after the 2nd conv2d; lr 0.01 → 0.001"); Export CSV… and
Export curves PNG….

It shows what :func:`engine.compare.compare_runs` computes (nothing is computed here) and
puts the runs' curves over the live ones in a ``TrainingCurves`` when it is given one. The run
history panel (workbench.runs) creates it beside its list and fills it when 2+ runs are
selected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
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

from engine.compare import Comparison, RunInput, compare_runs
from engine.io import atomic_write_text

__all__ = ["COLUMNS", "RunComparisonView"]

COLUMNS = ("", "Run", "Parameters", "Multiply-adds", "Best val acc", "Epochs", "Epoch time")
_FIGURES = {"Parameters": 3, "Multiply-adds": 4, "Best val acc": 5, "Epochs": 7, "Epoch time": 8}


class RunComparisonView(QWidget):
    """``runComparison``: ``table`` (``comparisonTable``), ``title`` (``comparisonTitle``),
    ``csv_button`` and ``png_button``. ``show_runs`` fills it; ``clear`` empties it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runComparison")
        self._comparison: Comparison | None = None
        self._run_rows: list[int] = []
        self._curves = None
        self.title = QLabel(objectName="comparisonTitle", wordWrap=True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.csv_button = QPushButton("Export CSV…", objectName="exportComparisonCsvButton")
        self.csv_button.setToolTip("A row per run: settings, parameters, multiply-adds, "
                                   "accuracy, epochs, epoch time and the differences")  # fmt: skip
        self.csv_button.clicked.connect(self._ask_csv)
        self.png_button = QPushButton("Export curves PNG…",
                                      objectName="exportComparisonPngButton")  # fmt: skip
        self.png_button.setToolTip("The loss and accuracy plots with these runs overlaid")
        self.png_button.clicked.connect(self._ask_png)
        self.table = QTableWidget(0, len(COLUMNS), objectName="comparisonTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.csv_button)
        head.addWidget(self.png_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.table, 1)
        self.clear()

    # ------------------------------------------------------------------ content

    def set_curves(self, curves) -> None:
        """The ``TrainingCurves`` that shows the compared runs overlaid (None: none)."""
        if self._curves is not None and curves is not self._curves:
            self._curves.set_overlays([])
        self._curves = curves
        self.png_button.setEnabled(curves is not None and self._comparison is not None)

    def show_runs(self, runs: Sequence[RunInput]) -> Comparison | None:
        """Compare ``runs`` (the first is the reference, "A") and overlay their curves.
        A run that cannot be read is named in the title and the table stays empty."""
        try:
            comparison = compare_runs(list(runs))
        except ValueError as e:
            self._comparison = None
            self.table.setRowCount(0)
            self.title.setText(f"Cannot compare these runs: {e}")
            self._overlay(runs, [chr(ord("A") + k) for k in range(len(runs))])
            self._enable()
            return None
        self._comparison = comparison
        self.title.setText(f"Comparing {len(runs)} runs: B" + (f"–{comparison.letters[-1]}"
                           if len(runs) > 2 else "") + " against A")  # fmt: skip
        self._overlay(runs, comparison.letters)  # first: the table's letters take its colours
        self._fill(comparison)
        self._enable()
        return comparison

    def clear(self) -> None:
        """No comparison: the table empties and the overlays leave the curves."""
        self._comparison = None
        self.table.setRowCount(0)
        self.title.setText("Select two or more runs (Ctrl-click) to compare them")
        if self._curves is not None:
            self._curves.set_overlays([])
        self._enable()

    def comparison(self) -> Comparison | None:
        return self._comparison

    def _enable(self) -> None:
        self.csv_button.setEnabled(self._comparison is not None)
        self.png_button.setEnabled(self._comparison is not None and self._curves is not None)

    def _overlay(self, runs: Sequence[RunInput], letters: Sequence[str]) -> None:
        if self._curves is not None:
            names = [f"{letter} {run.name}" for letter, run in zip(letters, runs, strict=False)]
            self._curves.set_overlays([(n, r.history) for n, r in zip(names, runs, strict=False)])

    def _fill(self, c: Comparison) -> None:
        """A row of figures per run; under each later run, a row spanning the table with what
        it changes (its full sentence, results included, as the tooltip)."""
        colors = self._curves.overlays.colors() if self._curves is not None else []
        self.table.clearSpans()
        self.table.setRowCount(2 * len(c.letters) - 1)
        self._run_rows = []
        for k, row in enumerate(c.rows()):
            r = max(0, 2 * k - 1)
            self._run_rows.append(r)
            diff = c.differences[k - 1] if k else None
            tip = (
                diff.sentence()
                if diff
                else f"{c.names[0]}: the reference the others are told against"
            )
            cells = [row[0], f"{row[1]} · {row[2]}", *(row[i] for i in _FIGURES.values())]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if col >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, col, item)
            if k < len(colors):  # the letter in its curves' colour
                letter = self.table.item(r, 0)
                letter.setForeground(QColor(colors[k]))
                font = letter.font()
                font.setBold(True)
                letter.setFont(font)
            if diff is not None:
                what = "; ".join(diff.changes) or "the same network and settings"
                words = QTableWidgetItem(f"{diff.run} vs {diff.reference}: {what}")
                words.setToolTip(tip)
                self.table.setItem(r + 1, 0, words)
                self.table.setSpan(r + 1, 0, 1, len(COLUMNS))
        self.table.resizeRowsToContents()

    def difference_text(self, k: int) -> str:
        """The words row of run ``k`` (1 = B), as shown."""
        item = self.table.item(self._run_rows[k] + 1, 0)
        return item.text() if item is not None else ""

    def figures(self, k: int) -> dict[str, str]:
        """Run ``k``'s row (0 = A) as {column: text}."""
        r = self._run_rows[k]
        return {COLUMNS[c]: self.table.item(r, c).text() for c in range(1, len(COLUMNS))}

    # ------------------------------------------------------------------ export

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the comparison (engine.compare.COMPARISON_CSV_HEADER rows), atomically.
        Raises ValueError when nothing is compared, OSError when the disk refuses."""
        if self._comparison is None:
            raise ValueError("select two or more runs to compare first")
        atomic_write_text(path, self._comparison.to_csv())

    def export_png(self, path: str | os.PathLike[str]) -> None:
        """Save the curves, the compared runs overlaid, as a PNG picture."""
        if self._curves is None:
            raise ValueError("there are no curves to export")
        self._curves.export_png(path)

    def _ask(self, title: str, name: str, kind: str, write) -> None:
        path, _ = QFileDialog.getSaveFileName(self, title, name, kind)
        if not path:
            return
        try:
            write(path)
        except (OSError, ValueError) as e:
            self.title.setText(f"Cannot export to {path}: {getattr(e, 'strerror', None) or e}")

    def _ask_csv(self) -> None:
        self._ask("Export comparison", "comparison.csv", "CSV (*.csv)", self.export_csv)

    def _ask_png(self) -> None:
        self._ask("Export compared curves", "comparison.png", "PNG (*.png)", self.export_png)


def _demo():
    """Three LeNet-5 runs compared (B adds batch norm, C also widens a conv), their curves
    overlaid, as the run history shows them on the Train page."""
    import math

    from PySide6.QtWidgets import QSplitter

    from engine.spec import LayerSpec, load_spec
    from engine.train_config import TrainConfig
    from workbench.views.curves import TrainingCurves

    a = load_spec("lenet5")
    b = a.insert_layer(4, LayerSpec.create("batch_norm"))
    c = b.replace_layer(3, b.layers[3].replace(filters=32))
    plan = [(a, TrainConfig(), 0.4, 3.0), (b, TrainConfig(lr=0.001), 0.6, 3.3),
            (c, TrainConfig(), 0.8, 5.0)]  # fmt: skip
    runs = []
    for n, (spec, config, rate, seconds) in enumerate(plan):
        e = list(range(1, 9))
        curve = [1 - math.exp(-rate * k) for k in e]
        history = {"epoch": e, "train_loss": [2.3 * (1.05 - c) for c in curve],
                   "val_loss": [2.3 * (1.1 - c) for c in curve], "train_accuracy": curve,
                   "val_accuracy": [0.95 * c for c in curve],
                   "elapsed_s": [seconds * k for k in e]}  # fmt: skip
        runs.append(RunInput(f"run-2026120{n + 1}-120000", spec, config, history))
    page = QSplitter(Qt.Orientation.Vertical)
    curves, view = TrainingCurves(), RunComparisonView()
    page.addWidget(curves)
    page.addWidget(view)
    view.set_curves(curves)
    view.show_runs(runs)
    return page


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(1150, 620)
    demo.show()
    if len(sys.argv) > 1:
        app.processEvents()
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
