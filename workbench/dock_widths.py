"""The Design page's docks get their width back when the window grows again.

Qt's main window takes width from the docks when the window shrinks (down to a title of three
letters, "Lay…") but gives every pixel of a later growth to the centre: after a shrink to the
smallest size and a maximise, the palette and the inspector stayed unusable until dragged
open by hand. ``DockWidths`` remembers the width each dock should have (the first width, or
the one the person last dragged it to) and, whenever the window grows, hands the centre's
spare width back to the docks narrower than that.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow

__all__ = ["DockWidths"]

#: A dock at least this wide on the first show (a layout restored from the last session) is
#: as the person left it, and that width is the one kept; a narrower one was squeezed.
USABLE = 160


class DockWidths(QObject):
    """Keeps ``docks`` of ``window`` at their wanted ``widths`` (pixels) when room allows."""

    def __init__(self, window: QMainWindow, docks: Sequence[QDockWidget], widths: Sequence[int]):
        super().__init__(window)
        self.window = window
        self.docks = list(docks)
        self.wanted = {d.objectName(): int(w) for d, w in zip(docks, widths, strict=True)}
        self._width = window.width()
        self._shown = False
        self._tries = 0  # regrow passes in a row (Qt's own layout may come in between)
        self._regrow = QTimer(self, singleShot=True, interval=20)
        self._regrow.timeout.connect(self.regrow)
        window.installEventFilter(self)
        for dock in self.docks:
            dock.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Show and obj is self.window and not self._shown:
            self._shown = True
            QTimer.singleShot(0, self, self._take_restored)
        if event.type() == QEvent.Type.Resize:
            if obj is self.window:
                grew = event.size().width() > self._width
                self._width = event.size().width()
                if grew:
                    self._regrow.start()  # once Qt's layout has placed the docks
            elif self._dragged(obj):
                self.wanted[obj.objectName()] = obj.width()
        return False

    def _dragged(self, dock) -> bool:
        """A dock resized with a mouse button down while the window keeps its width: the
        person drags the separator, and the new width is the one they want."""
        pressed = QApplication.mouseButtons() & Qt.MouseButton.LeftButton
        return bool(pressed) and self.window.width() == self._width and dock.isVisible()

    def _take_restored(self) -> None:
        for dock in self.docks:
            if dock.isVisible() and not dock.isFloating() and dock.width() >= USABLE:
                self.wanted[dock.objectName()] = dock.width()

    def regrow(self) -> None:
        """Give docks narrower than wanted the centre's spare width, as far as it goes."""
        centre = self.window.centralWidget()
        spare = centre.width() - centre.minimumSizeHint().width() if centre is not None else 0
        docks, widths = [], []
        for dock in self.docks:
            want = self.wanted[dock.objectName()]
            if spare <= 0 or dock.isHidden() or dock.isFloating() or dock.width() >= want:
                continue
            grow = min(want - dock.width(), spare)
            spare -= grow
            docks.append(dock)
            widths.append(dock.width() + grow)
        if docks:
            self.window.resizeDocks(docks, widths, Qt.Orientation.Horizontal)
            if self._tries < 3:  # a layout still pending may undo it: look again after it
                self._tries += 1
                self._regrow.start()
                return
        self._tries = 0
