"""pyqtgraph's plot widgets, painted by Qt without holding the interpreter lock.

pyqtgraph's ``GraphicsView`` overrides ``paintEvent`` in Python only to emit its scene's
``sigPrepareForPaint`` first: the view boxes bring their auto range and transform up to date
then. A Python override makes Qt's whole scene paint a C++ call made from Python, and PySide
holds the interpreter lock through such a call (it lets go only where the event loop waits).
Every C++ part of a paint (walking the scene, blitting the cached axis pixmaps, the raster
engine's work for native items) then stops each thread that needs the lock, a training run's
engine threads among them, between their kernels. In a resnet20 run with every view open a
sampling profiler (``py-spy --gil``) found a quarter of the window thread's time with the lock
inside that call, in no Python function.

Here the signal is sent from an event filter on the viewport, which returns before Qt paints;
the paint runs with the lock free and takes it only for the items' own Python ``paint``
methods. What is painted is the same: the signal still comes right before every paint of the
viewport, ``grab()`` included.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGraphicsView

__all__ = ["GraphicsLayoutWidget", "PlotWidget", "paints_without_lock"]


class _PaintInCpp:
    """Mixin for a pyqtgraph ``GraphicsView`` subclass: Qt's own ``paintEvent`` (the attribute
    is Qt's method, so PySide sees no Python override) and the scene's prepare-for-paint from
    a viewport event filter. Call ``_prepare_before_paint()`` at the end of ``__init__``."""

    paintEvent = QGraphicsView.paintEvent

    def _prepare_before_paint(self) -> None:
        self.viewport().installEventFilter(self)

    def setViewport(self, widget) -> None:
        # pyqtgraph's useOpenGL swaps the viewport, and its close() sets None (Qt then makes
        # a plain one, which is about to go with the view)
        super().setViewport(widget)
        if widget is not None:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            scene = self.scene()
            if scene is not None:
                scene.prepareForPaint()
        return False


class PlotWidget(_PaintInCpp, pg.PlotWidget):
    """``pg.PlotWidget`` whose paint runs without the interpreter lock (see the module)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_before_paint()


class GraphicsLayoutWidget(_PaintInCpp, pg.GraphicsLayoutWidget):
    """``pg.GraphicsLayoutWidget`` whose paint runs without the interpreter lock."""

    #: The methods pyqtgraph's widget takes over from its layout, bound to the layout.
    _DELEGATED = (
        "nextRow", "nextCol", "nextColumn", "addPlot", "addViewBox", "addItem", "getItem",
        "addLayout", "addLabel", "removeItem", "itemIndex", "clear",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_before_paint()

    def replace_layout(self) -> pg.GraphicsLayout:
        """An empty layout in place of the current one, which leaves the scene with all its
        items in one call. ``clear()`` takes the items out one by one, each removal laying
        the grid out again: 0.43 s of the 1.2 s the feature maps took to lay resnet50 out."""
        old = self.ci
        self.ci = pg.GraphicsLayout()
        for name in self._DELEGATED:
            setattr(self, name, getattr(self.ci, name))
        self.setCentralItem(self.ci)  # removes the old layout from the scene
        old.deleteLater()
        return self.ci


def paints_without_lock(view: QGraphicsView) -> bool:
    """Whether Qt paints ``view`` without calling Python around the paint (for tests)."""
    return type(view).paintEvent is QGraphicsView.paintEvent
