"""The canvas's overview: the whole graph in a corner, with the part in view outlined; a click
or a drag there moves the view. Shown only while the graph does not fit.

It draws the canvas's own scene (no copy to keep in step); blocks draw themselves as plain
coloured boxes at its scale (workbench.views.canvas_items' level of detail), so it stays
cheap on DenseNet-121. Run alone: ``python -m workbench.views.canvas_minimap [BOXES]``.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGraphicsView

SIZE = (124, 180)  # width, height in pixels
MARGIN = 10  # from the canvas's corner


class Minimap(QGraphicsView):
    """The overview of ``canvas`` (a QGraphicsView), placed in its bottom right corner."""

    def __init__(self, canvas: QGraphicsView):
        super().__init__(canvas.scene(), canvas)
        self.setObjectName("canvasMinimap")
        self.setAccessibleName("Overview of the network")
        self.canvas = canvas
        self.setFixedSize(*SIZE)
        self.setInteractive(False)  # its items are the canvas's: no selection from here
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setBackgroundBrush(canvas.palette().alternateBase())  # set apart from the canvas
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click or drag to move the view")
        for bar in (canvas.horizontalScrollBar(), canvas.verticalScrollBar()):
            bar.valueChanged.connect(self.viewport().update)

    def refresh(self) -> None:
        """Fit the whole scene, place the overview, and show it only if the graph does not
        fit in the canvas at the canvas's zoom."""
        canvas = self.canvas
        self.setScene(canvas.scene())
        self.fitInView(canvas.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        vp = canvas.viewport()
        self.move(vp.x() + vp.width() - SIZE[0] - MARGIN, vp.y() + vp.height() - SIZE[1] - MARGIN)
        seen = self.visible_area()
        scene = canvas.scene().sceneRect()
        big = seen.width() + 1 < scene.width() or seen.height() + 1 < scene.height()
        fits = vp.height() > SIZE[1] + 2 * MARGIN and vp.width() > 2 * SIZE[0]
        self.setVisible(big and fits)
        self.raise_()
        self.viewport().update()

    def visible_area(self) -> QRectF:
        """The part of the scene the canvas shows now."""
        return self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        seen = self.visible_area().intersected(self.scene().sceneRect())
        colour = self.palette().highlight().color()
        fill = QColor(colour)
        fill.setAlphaF(0.14)
        painter.setPen(QPen(colour, 0))  # cosmetic: one pixel at any scale
        painter.setBrush(fill)
        painter.drawRect(seen)

    def mousePressEvent(self, event) -> None:
        self._move_to(event)

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move_to(event)

    def mouseReleaseEvent(self, event) -> None:
        event.accept()

    def wheelEvent(self, event) -> None:
        event.ignore()  # the overview does not scroll itself

    def _move_to(self, event) -> None:
        self.canvas.centerOn(self.mapToScene(event.position().toPoint()))
        self.viewport().update()
        event.accept()


if __name__ == "__main__":
    # A tall scene of coloured boxes stands in for a network (the canvas imports this module;
    # ``python -m workbench.views.network_canvas densenet121`` shows it on a real one).
    import sys

    from PySide6.QtWidgets import QApplication, QGraphicsScene

    from workbench import style

    app = QApplication(sys.argv)
    style.apply_theme(app, "system")
    scene = QGraphicsScene()
    families = list(style.FAMILY_COLORS)
    for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 200):
        scene.addRect(0, i * 90, 240, 54, QPen(Qt.PenStyle.NoPen), style.accent(families[i % 8]))
    view = QGraphicsView(scene)
    view.resize(600, 800)
    view.show()
    minimap = Minimap(view)
    view.horizontalScrollBar().rangeChanged.connect(minimap.refresh)
    minimap.refresh()
    sys.exit(app.exec())
