"""The one handler for files dropped on the main window.

Dropping on the window (anywhere a view does not take the drop itself) does one of three
things, chosen by what the file is:

- a network spec (``*.json``) or a project (``*.cnnwb``): opened, after the unsaved-changes
  question, as File ▸ Open would;
- a folder: chosen as the data set (``on_folder``);
- an image file (``engine.data.IMAGE_EXTENSIONS``): classified with the newest weights
  (``on_image``).

``WindowDrops`` is an event filter on the window, so it sees the window's DragEnter,
DragMove and Drop events before ``MainWindow``'s own handlers would; it accepts and handles
every kind above, which leaves nothing for those handlers to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject

from engine.data import IMAGE_EXTENSIONS
from workbench.project import PROJECT_SUFFIX

__all__ = ["WindowDrops", "dropped_path", "kind_of"]

SPEC_SUFFIXES = (".json", PROJECT_SUFFIX)


def kind_of(path: str) -> str:
    """ "network" (a spec or project file), "folder", "image", or "" for anything else."""
    lower = path.lower()
    if lower.endswith(SPEC_SUFFIXES) and Path(path).is_file():
        return "network"
    if Path(path).is_dir():
        return "folder"
    if lower.endswith(tuple(IMAGE_EXTENSIONS)):
        return "image"
    return ""


def dropped_path(event) -> str:
    """The first local file or folder of a drag's data that ``kind_of`` knows, else ""."""
    data = event.mimeData()
    for url in data.urls() if data.hasUrls() else ():
        if url.isLocalFile() and kind_of(url.toLocalFile()):
            return url.toLocalFile()
    return ""


class WindowDrops(QObject):
    """Installed on ``window``: drops open networks, choose data folders, predict images."""

    def __init__(
        self,
        window,
        on_folder: Callable[[str], None],
        on_image: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self._on_folder = on_folder
        self._on_image = on_image
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window:
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and dropped_path(event):
                event.acceptProposedAction()
                return True
            if kind == QEvent.Type.Drop:
                path = dropped_path(event)
                if path:
                    event.acceptProposedAction()
                    self.handle(path)
                    return True
        return super().eventFilter(obj, event)

    def handle(self, path: str) -> None:
        """Do what a drop of ``path`` does (see the module's list)."""
        kind = kind_of(path)
        if kind == "network":
            if self.window.maybe_save():
                self.window.open_path(path)
        elif kind == "folder":
            self._on_folder(path)
        elif kind == "image":
            self._on_image(path)
