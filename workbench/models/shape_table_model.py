"""The shape table as a table model: input, one row per layer, then the totals.

Everything shown comes from engine.shapes' report; this model only formats it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont

from workbench import style
from workbench.document import Document
from workbench.models import format as fmt
from workbench.models.row_changes import RowCache, runs

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invisible root: rows of a list or table hang from it

# Inputs last: the numbers keep their places (scripts and tests read columns 0-6).
COLUMNS = ("#", "Layer", "Settings", "Output shape", "Parameters", "Mult-adds", "Memory", "Inputs")
COL_INDEX, COL_LAYER, COL_SETTINGS, COL_OUTPUT, COL_PARAMS, COL_MACS, COL_MEMORY = range(7)
COL_INPUTS = 7
_NUMERIC = (COL_PARAMS, COL_MACS, COL_MEMORY)
_BOLD_WHEN_BROKEN = COL_OUTPUT  # a broken row's shape is in bold
_HEADER_TIPS = {
    COL_OUTPUT: "channels × height × width of what the layer passes on (one number after flatten)",
    COL_PARAMS: "learned weights and biases",
    COL_MACS: "multiply-adds for one image: a rough measure of compute",
    COL_MEMORY: "activation memory for one image (float32)",
    COL_INPUTS: "the ids of the layers whose outputs this layer takes (input: the image)",
}

#: Extra role: the row of the layer stack (0 = input) that a table row shows; -1 for totals.
STACK_ROW_ROLE = Qt.ItemDataRole.UserRole + 1
#: Roles that depend on the palette too (colours): computed when asked. Every other role
#: of a row is kept until an edit changes that row (workbench.models.row_changes): fitting
#: the columns and painting ask every visible cell for every role, several times per edit.
_PALETTE_ROLES = frozenset({Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole})
_MISSING = object()


class ShapeTableModel(QAbstractTableModel):
    """``rowsRefreshed`` fires once per change of the document, after the ``dataChanged``
    of each run of changed rows (or the reset): the table fits its columns then."""

    rowsRefreshed = Signal()

    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self._doc = document
        self._rows = self._row_count()
        self._cache = RowCache(document)  # per row: {(col, role): value, "row": ...}
        self._cache.always = {self._rows - 1}  # the totals change with any row
        document.specChanged.connect(self._spec_changed)

    def _row_count(self) -> int:
        return len(self._doc.spec.layers) + 2  # input, layers, totals

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _align(section)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Painting asks each visible cell for seven roles: the kept value first, quickly.
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        got = self._cache.values(row).get((col, role), _MISSING)
        if got is not _MISSING:
            return got
        if role == Qt.ItemDataRole.CheckStateRole:
            return None
        return self.cell(row, col, role)

    def cell(self, row: int, col: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """``data`` of a cell without a QModelIndex (what the table measures columns by)."""
        values = self._cache.values(row)
        key = (col, int(role))
        try:
            return values[key]
        except KeyError:
            value = self._data(row, col, role)
            # A colour follows the palette: asked for again. No colour (a fine row) stays.
            if value is None or role not in _PALETTE_ROLES:
                values[key] = value
            return value

    def _data(self, row: int, col: int, role: int) -> Any:
        if role == STACK_ROW_ROLE:
            return row if row < self._rows - 1 else -1
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _align(col)
        if row == self._rows - 1:
            return self._totals(col, role)
        if row == 0:
            return self._input(col, role)
        return self._layer(row - 1, col, role)

    # ------------------------------------------------------------------ rows

    def _input(self, col: int, role: int) -> Any:
        spec, report = self._doc.spec, self._doc.report
        problems = [p.message for p in report.problems if p.layer is None]
        if role == Qt.ItemDataRole.DisplayRole:
            shown = {COL_LAYER: "Input", COL_OUTPUT: fmt.shape_text(spec.input.shape)}
            return shown.get(col, "")
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_INPUTS:
            return "The network's input; layers refer to it as “input”"
        if role == Qt.ItemDataRole.DecorationRole and col == COL_LAYER:
            return style.family_icon("input")
        return self._problem_roles(role, col, "Input", "", problems)

    def _row(self, i: int):
        """(layer, its report row or None, its problem messages), kept until the next edit."""
        values = self._cache.values(i + 1)
        got = values.get("row")
        if got is None:
            layer = self._doc.spec.layers[i]
            report = self._doc.report
            info = report[i] if i < len(report) else None
            problems = [p.message for p in info.problems] if info is not None else []
            got = values["row"] = (layer, info, problems)
        return got

    def row_cells(self, row: int) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        """Every cell's text ("" for none) and whether it is bold, of table row ``row``, in
        column order: what the table measures its columns by (kept until the row changes)."""
        values = self._cache.values(row)
        got = values.get("cells")
        if got is None:
            if 0 < row < self._rows - 1:
                texts = self._layer_texts(row - 1)
                broken = bool(self._row(row - 1)[2])
                bold = tuple(broken and col == _BOLD_WHEN_BROKEN for col in range(len(COLUMNS)))
            else:
                texts = tuple(self.cell(row, col) or "" for col in range(len(COLUMNS)))
                bold = tuple(
                    self.cell(row, col, Qt.ItemDataRole.FontRole) is not None
                    for col in range(len(COLUMNS))
                )  # every font this model gives is bold
            got = values["cells"] = (texts, bold)
        return got

    def _layer_texts(self, i: int) -> tuple[str, ...]:
        """The texts of layer ``i``'s row, all columns at once (kept until it changes)."""
        values = self._cache.values(i + 1)
        got = values.get("texts")
        if got is None:
            layer, info, _problems = self._row(i)
            texts = [""] * len(COLUMNS)
            texts[COL_INDEX] = str(i + 1)
            # A frozen layer says so here, as its block does on the canvas.
            label = layer.kind.label
            texts[COL_LAYER] = label if layer.trainable else f"{label} · frozen"
            texts[COL_SETTINGS] = layer.describe()
            texts[COL_INPUTS] = ", ".join(self._input_ids(i))
            if info is None:
                texts[COL_OUTPUT] = texts[COL_PARAMS] = texts[COL_MACS] = "—"
                texts[COL_MEMORY] = "—"
            else:
                texts[COL_OUTPUT] = fmt.shape_text(info.output_shape)
                texts[COL_PARAMS] = fmt.count_text(info.params)
                texts[COL_MACS] = fmt.compact_count(info.macs)
                texts[COL_MEMORY] = fmt.bytes_text(info.memory)
            got = values["texts"] = tuple(texts)
        return got

    def _layer(self, i: int, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._layer_texts(i)[col]
        layer, info, problems = self._row(i)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_LAYER:
            return style.layer_icon(layer.type)
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_INPUTS:
            return self._inputs_tip(i)
        formula = info.formula if info is not None else ""
        if info is not None and info.notes:
            # Notes (a floor-rounded size, say) do not block training: shown with the arithmetic.
            formula = "; ".join([formula, *(n.split(": ", 1)[-1] for n in info.notes)])
        return self._problem_roles(role, col, layer.kind.label, formula, problems)

    def _input_ids(self, i: int) -> list[str]:
        spec = self._doc.spec
        return ["input" if j < 0 else spec.wiring.ids[j] for j in spec.inputs_of(i)]

    def _inputs_tip(self, i: int) -> str:
        """Which rows those ids are, and this layer's own id (what later layers call it)."""
        spec = self._doc.spec
        own = spec.wiring.ids[i]
        lines = [
            f"{ref}: "
            + ("the network's input" if j < 0 else f"#{j + 1} {spec.layers[j].kind.label}")
            for j, ref in zip(spec.inputs_of(i), self._input_ids(i), strict=True)
        ]
        return "<br>".join([f"<b>#{i + 1} {own}</b> takes", *lines])

    def _problem_roles(
        self, role: int, col: int, title: str, formula: str, problems: list[str]
    ) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole:
            return fmt.hover_html(title, formula, problems)
        if not problems:
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            return style.problem_fill()
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_OUTPUT, COL_LAYER):
            return style.problem_color()
        if role == Qt.ItemDataRole.FontRole and col == _BOLD_WHEN_BROKEN:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _totals(self, col: int, role: int) -> Any:
        report = self._doc.report
        trainable, frozen = report.trainable_params, report.frozen_params
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                COL_LAYER: "Total",
                COL_SETTINGS: (
                    f"{fmt.count_text(trainable)} trainable · {fmt.count_text(frozen)} frozen"
                    if frozen
                    else ""
                ),
                COL_OUTPUT: fmt.shape_text(report.output_shape) if report.ok else "—",
                COL_PARAMS: fmt.count_text(report.total_params),
                COL_MACS: fmt.compact_count(report.total_macs),
                COL_MEMORY: fmt.bytes_text(report.total_memory),
            }.get(col, "")
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"Trainable parameters: {fmt.count_text(trainable)}<br>"
                f"Frozen parameters: {fmt.count_text(frozen)}<br>"
                f"Weights: {fmt.bytes_text(report.param_memory)} (float32)<br>"
                f"Activations for a batch of 32: {fmt.bytes_text(report.memory_for_batch(32))}"
            )
        return None

    # ------------------------------------------------------------------ updates

    def _spec_changed(self) -> None:
        self._cache.sync()
        changed = self._doc.changed_rows()
        rows = self._row_count()
        last = len(COLUMNS) - 1
        if rows != self._rows:
            self._cache.clear()
            self.beginResetModel()
            self._rows = rows
            self._cache.always = {rows - 1}
            self.endResetModel()
        elif changed is None:
            self.dataChanged.emit(self.index(0, 0), self.index(rows - 1, last))
        else:  # the rows that look different, and the totals
            for first, end in runs(changed | {rows - 1}):
                self.dataChanged.emit(self.index(first, 0), self.index(end, last))
        self.rowsRefreshed.emit()


def _align(col: int) -> int:
    if col in _NUMERIC or col == COL_INDEX:
        return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
