"""The palette as a two-level model: families, each with its layer types.

Built from engine.layers.LAYER_TYPES, so a layer type added there appears here with its icon
and its one-line description. Dragging an entry carries its type name (models.mime).
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QModelIndex, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from engine.layers import LAYER_TYPES
from workbench import style
from workbench.models.mime import layer_type_mime

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1  # the layer type name ("" for a family header)
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 2  # the one-line description
FAMILY_ROLE = Qt.ItemDataRole.UserRole + 3


class PaletteModel(QStandardItemModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        families: dict[str, list] = {f: [] for f in style.FAMILY_TITLES}
        for info in LAYER_TYPES.values():
            families.setdefault(info.family, []).append(info)
        for family, infos in families.items():
            if not infos:
                continue
            header = QStandardItem(style.FAMILY_TITLES.get(family, family.title()))
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            header.setData("", TYPE_ROLE)
            header.setData(family, FAMILY_ROLE)
            for info in infos:
                item = QStandardItem(style.family_icon(family), info.label)
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                item.setData(info.name, TYPE_ROLE)
                item.setData(_sentence(info.summary), SUMMARY_ROLE)
                item.setData(family, FAMILY_ROLE)
                item.setToolTip(  # the whole description, however narrow the palette
                    f"<b>{info.label}</b><br>{_sentence(info.summary)}<br><i>Drag into the stack, "
                    "or double-click to add it after the selected layer.</i>"
                )
                item.setData(f"{info.label}: {info.summary}", Qt.ItemDataRole.AccessibleTextRole)
                header.appendRow(item)
            self.appendRow(header)

    def layer_type(self, index: QModelIndex) -> str:
        return index.data(TYPE_ROLE) or "" if index.isValid() else ""

    def index_of(self, layer_type: str) -> QModelIndex:
        """The palette entry of a layer type (invalid if unknown)."""
        for r in range(self.rowCount()):
            family = self.index(r, 0)
            for c in range(self.rowCount(family)):
                ix = self.index(c, 0, family)
                if ix.data(TYPE_ROLE) == layer_type:
                    return ix
        return QModelIndex()

    def mimeTypes(self) -> list[str]:
        from workbench.models.mime import LAYER_TYPE_MIME

        return [LAYER_TYPE_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        for ix in indexes:
            name = ix.data(TYPE_ROLE)
            if name:
                return layer_type_mime(name)
        return QMimeData()

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


def _sentence(summary: str) -> str:
    """The summary without its "name:" lead-in, since the entry shows the name already."""
    _head, sep, rest = summary.partition(": ")
    return rest[:1].upper() + rest[1:] if sep else summary
