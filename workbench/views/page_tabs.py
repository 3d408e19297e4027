"""The window's pages (Design, Data, Train, ...) with their tabs in one fixed place.

The Layers and Inspector docks belong to the Design page and step aside on the others, so
the centre widget, and a QTabWidget's own tab bar with it, moved sideways by the docks'
width at every page change. ``PageTabs`` is the QTabWidget the rest of the code knows
(addTab, setCurrentIndex, currentChanged, ...), with its own tab bar hidden; ``bar`` is a
mirror QTabBar that the window puts in a toolbar above the docks, where it never moves.
"""

from __future__ import annotations

from PySide6.QtWidgets import QTabBar, QTabWidget, QWidget

__all__ = ["PageTabs"]


class PageTabs(QTabWidget):
    """A QTabWidget whose tabs are shown by ``bar`` (objectName "pageTabBar")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QTabBar(objectName="pageTabBar")
        self.bar.setDocumentMode(True)
        self.bar.setDrawBase(False)
        self.bar.setExpanding(False)
        self.tabBar().hide()
        self.bar.currentChanged.connect(self._bar_changed)
        self.currentChanged.connect(self._page_changed)

    def tabInserted(self, index: int) -> None:
        super().tabInserted(index)
        self.bar.blockSignals(True)
        self.bar.insertTab(index, self.tabIcon(index), self.tabText(index))
        self.bar.setTabToolTip(index, self.tabToolTip(index))
        self.bar.setCurrentIndex(self.currentIndex())
        self.bar.blockSignals(False)

    def tabRemoved(self, index: int) -> None:
        super().tabRemoved(index)
        self.bar.blockSignals(True)
        self.bar.removeTab(index)
        self.bar.setCurrentIndex(self.currentIndex())
        self.bar.blockSignals(False)

    def setTabText(self, index: int, text: str) -> None:
        super().setTabText(index, text)
        self.bar.setTabText(index, text)

    def _bar_changed(self, index: int) -> None:
        if index != self.currentIndex():
            self.setCurrentIndex(index)

    def _page_changed(self, index: int) -> None:
        if index != self.bar.currentIndex():
            self.bar.setCurrentIndex(index)
