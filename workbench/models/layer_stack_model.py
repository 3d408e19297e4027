"""The layer stack as a list model: row 0 is the input, row i + 1 is layer i.

Drops (from the palette, from the stack itself, from another window) arrive in
``dropMimeData`` whatever their origin, and become document edits there, so a drop is undone
like any other edit.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt

from workbench import style
from workbench.document import Document
from workbench.layer_edits import copies_of, move_layers
from workbench.models import format as fmt
from workbench.models.mime import LAYER_TYPE_MIME, LAYERS_MIME, decode, layers_mime
from workbench.models.row_changes import RowCache, runs
from workbench.style import family_of

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invisible root: rows of a list or table hang from it


class StackRole(IntEnum):
    TYPE = Qt.ItemDataRole.UserRole + 1  # layer type name, "input" for row 0
    FAMILY = TYPE + 1  # palette family ("input" for row 0)
    DETAIL = TYPE + 2  # key hyperparameters, "6@5×5 s2"
    OUTPUT = TYPE + 3  # output shape text, "6×28×28"
    PROBLEMS = TYPE + 4  # list of problem messages (empty when fine)
    FORMULA = TYPE + 5  # the arithmetic behind the shape and the parameters
    PARAMS = TYPE + 6  # parameter count text
    LAYER_INDEX = TYPE + 7  # index into spec.layers, -1 for the input


class LayerStackModel(QAbstractListModel):
    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self._doc = document
        self._rows = 1 + len(document.spec.layers)
        #: Per row, the roles asked for so far: kept until an edit changes that row (the
        #: stack's painting and the canvas's blocks ask for the same roles over and over).
        self._cache = RowCache(document)
        document.specChanged.connect(self._spec_changed)
        document.lockedChanged.connect(self._locked_changed)

    @property
    def document(self) -> Document:
        return self._doc

    def token(self) -> str:
        """Identifies this document in drag payloads (a drop from elsewhere copies)."""
        return f"{id(self._doc):x}"

    # ------------------------------------------------------------------ reading

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else self._rows

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._rows:
            return None
        values = self._cache.values(index.row())
        if role in values:  # what painting asks, over and over: the kept value, quickly
            return values[role]
        return self.row_data(index.row(), role)

    def row_data(self, row: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """``data`` of row ``row`` (0 <= row < rowCount) without a QModelIndex."""
        values = self._cache.values(row)
        role = int(role)
        if role in values:
            return values[role]
        if not values:  # every role of the row at once, once per change of the row
            values.update(self._input_roles() if row == 0 else self._layer_roles(row - 1))
        return values.get(role)

    def _layer_roles(self, i: int) -> dict[int, Any]:
        report = self._doc.report
        layer = self._doc.spec.layers[i]
        info = report[i] if i < len(report) else None
        problems = [p.message for p in info.problems] if info is not None else []
        label = layer.kind.label
        detail = layer.describe()
        shape = fmt.shape_text(info.output_shape if info else None)
        roles = {
            Qt.ItemDataRole.DisplayRole: label,
            Qt.ItemDataRole.ToolTipRole: fmt.hover_html(
                label, info.formula if info else "", problems
            ),
            Qt.ItemDataRole.AccessibleTextRole: f"{label} {detail}, output {shape}",
            StackRole.TYPE: layer.type,
            StackRole.FAMILY: family_of(layer.type),
            StackRole.DETAIL: detail,
            StackRole.OUTPUT: shape,
            # The block names its layer already.
            StackRole.PROBLEMS: [style.without_label(m, info.label) for m in problems],
            StackRole.FORMULA: info.formula if info else "",
            StackRole.PARAMS: fmt.compact_count(info.params) if info and info.params else "",
            StackRole.LAYER_INDEX: i,
        }
        return {int(role): value for role, value in roles.items()}

    def _input_roles(self) -> dict[int, Any]:
        spec, report = self._doc.spec, self._doc.report
        shape = spec.input.shape
        problems = [p.message for p in report.problems if p.layer is None]
        kind = {1: "grayscale", 3: "RGB"}.get(spec.input.channels, f"{spec.input.channels}-channel")
        roles = {
            Qt.ItemDataRole.DisplayRole: "Input",
            Qt.ItemDataRole.ToolTipRole: fmt.hover_html(
                "Input", f"{kind} images of {shape[1]}×{shape[2]} pixels", problems
            ),
            Qt.ItemDataRole.AccessibleTextRole: f"Input {fmt.shape_text(shape)}",
            StackRole.TYPE: "input",
            StackRole.FAMILY: "input",
            StackRole.DETAIL: {1: "grayscale", 3: "RGB"}.get(spec.input.channels, ""),
            StackRole.OUTPUT: fmt.shape_text(shape),
            StackRole.PROBLEMS: problems,
            StackRole.FORMULA: "",
            StackRole.PARAMS: "",
            StackRole.LAYER_INDEX: -1,
        }
        return {int(role): value for role, value in roles.items()}

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if not index.isValid():
            return (
                Qt.ItemFlag.ItemIsDropEnabled if not self._doc.locked else Qt.ItemFlag.NoItemFlags
            )
        if index.row() > 0 and not self._doc.locked:
            base |= Qt.ItemFlag.ItemIsDragEnabled
        return base

    # ------------------------------------------------------------------ drag and drop

    def mimeTypes(self) -> list[str]:
        return [LAYER_TYPE_MIME, LAYERS_MIME, "text/plain"]

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        rows = sorted({ix.row() for ix in indexes if ix.isValid() and ix.row() > 0})
        layers, entry = copies_of(self._doc.spec, [r - 1 for r in rows])
        return layers_mime(layers, [r - 1 for r in rows], self.token(), entry)

    def canDropMimeData(
        self, data: QMimeData, action, row: int, column: int, parent: _Index
    ) -> bool:
        return not self._doc.locked and decode(data) is not None

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent: _Index) -> bool:
        """Insert (palette, other windows) or move (this stack) layers before ``row``.

        ``row`` counts the input as row 0, so dropping before row 1 puts a layer first;
        -1 (dropped below the last block) appends.
        """
        dropped = decode(data)
        if dropped is None or self._doc.locked or action == Qt.DropAction.IgnoreAction:
            return False
        n = len(self._doc.spec.layers)
        at = n if row < 0 else max(0, min(row - 1, n))  # index into spec.layers
        is_move = (
            dropped.indices and dropped.token == self.token() and action == Qt.DropAction.MoveAction
        )
        if is_move:
            return self._move(list(dropped.indices), at)
        if len(dropped.layers) == 1:
            return self._doc.insert_layer(at, dropped.layers[0])
        return self._doc.insert_layers(
            at, dropped.layers, f"Insert {len(dropped.layers)} layers", entry=dropped.entry
        )

    def _move(self, indices: list[int], at: int) -> bool:
        if len(indices) == 1:
            src = indices[0]
            dst = at - 1 if at > src else at  # ``at`` counted the layer still in place
            return self._doc.move_layer(src, dst)
        # on a graph, the moved layers keep their wiring and what they left is rewired
        # (a reorder of the list made layers take later layers' outputs)
        spec, last = move_layers(self._doc.spec, indices, at)
        return self._doc.edit(spec, f"Move {len(indices)} layers", focus=last + 1)

    # ------------------------------------------------------------------ updates

    def _locked_changed(self, _locked: bool, _reason: str) -> None:
        # Flags (draggable, droppable) follow the lock: every row, though none changed.
        self.dataChanged.emit(self.index(0), self.index(self._rows - 1))

    def _spec_changed(self) -> None:
        rows = 1 + len(self._doc.spec.layers)
        self._cache.sync()
        changed = self._doc.changed_rows()
        if rows != self._rows:
            self._cache.clear()
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
        elif changed is None:  # same rows: keep the selection (and the inspector's focus)
            self.dataChanged.emit(self.index(0), self.index(rows - 1))
        else:  # only the rows that look different are drawn again
            for first, last in runs(changed):
                self.dataChanged.emit(self.index(first), self.index(last))
