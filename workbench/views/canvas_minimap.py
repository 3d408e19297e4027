"""The canvas's overview: the whole graph in a corner, with the part in view outlined; a click
or a drag there moves the view. Shown only while the graph does not fit.

It shows the canvas's own blocks and arrows (no copy of them to keep in step). At its scale
blocks are plain coloured boxes and arrows bare lines (workbench.views.canvas_items' level
of detail), so it draws them itself into a picture, in one loop rather than a call into
each item, and draws that picture again until one of them looks different (a block turns
red, an arrow is selected): repainting the scene's few hundred items on every edit cost
resnet50's edits 17 of their 90 ms. A graph small enough to be drawn in detail here is
rendered by the scene itself. Transient items (a connection being drawn, a block being
moved) are rendered over the picture. Run alone:
``python -m workbench.views.canvas_minimap [BOXES]``.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView

from workbench.views.canvas_items import OVERVIEW_LOD, BlockItem, EdgeItem

SIZE = (124, 180)  # width, height in pixels
MARGIN = 10  # from the canvas's corner
#: More items than this look different at once: the whole picture is drawn again.
MAX_PATCHES = 24


class Minimap(QGraphicsView):
    """The overview of ``canvas`` (a NetworkCanvas: ``blocks``, ``edges``,
    ``gesture_items()`` and a scene), placed in its bottom right corner.

    Its own scene is empty and only lends the canvas scene's rectangle (so ``mapToScene``
    and ``fitInView`` work as on the canvas); ``picture`` is the drawn overview (a QImage
    in viewport pixels)."""

    def __init__(self, canvas: QGraphicsView):
        self._frame = QGraphicsScene()
        super().__init__(self._frame, canvas)
        self._frame.setParent(self)
        self.setObjectName("canvasMinimap")
        self.setAccessibleName("Overview of the network")
        self.canvas = canvas
        self.picture: QImage | None = None
        self._picture_key: tuple | None = None
        self.setFixedSize(*SIZE)
        self.setInteractive(False)  # the canvas's items are not here: no selection from here
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
        canvas.scene().changed.connect(self.viewport().update)

    def changeEvent(self, event) -> None:
        # A theme switch: the background and the picture follow the new palette (they kept
        # the light theme's white on a dark window).
        if event.type() == QEvent.Type.PaletteChange:
            self.setBackgroundBrush(self.canvas.palette().alternateBase())
            self.invalidate()
        super().changeEvent(event)

    def invalidate(self) -> None:
        """Draw the picture afresh at the next paint (the canvas rebuilt its items)."""
        self._picture_key = None
        self.viewport().update()

    def refresh(self) -> None:
        """Fit the whole scene, place the overview, and show it only if the graph does not
        fit in the canvas at the canvas's zoom."""
        canvas = self.canvas
        scene = canvas.scene().sceneRect()
        if self._frame.sceneRect() != scene:
            self._frame.setSceneRect(scene)
        self.fitInView(scene, Qt.AspectRatioMode.KeepAspectRatio)
        vp = canvas.viewport()
        self.move(vp.x() + vp.width() - SIZE[0] - MARGIN, vp.y() + vp.height() - SIZE[1] - MARGIN)
        seen = self.visible_area()
        big = seen.width() + 1 < scene.width() or seen.height() + 1 < scene.height()
        fits = vp.height() > SIZE[1] + 2 * MARGIN and vp.width() > 2 * SIZE[0]
        self.setVisible(big and fits)
        self.raise_()
        self.viewport().update()

    def visible_area(self) -> QRectF:
        """The part of the scene the canvas shows now."""
        return self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()

    # ------------------------------------------------------------------ the picture

    def _to_pixels(self) -> QTransform:
        """Scene to picture pixels: the view's own transform at the screen's pixel ratio."""
        ratio = self.devicePixelRatioF()
        return self.viewportTransform() * QTransform.fromScale(ratio, ratio)

    def _draw_picture(self, blocks: list[BlockItem], edges: list[EdgeItem],
                      areas: list[QRectF] | None = None) -> None:  # fmt: skip
        """Arrows, then blocks over them (their z order), as their paint() draws them at
        overview scale: into a fresh ``picture``, or only over ``areas`` (scene
        rectangles, cleared first) of the one there."""
        to_pixels = self._to_pixels()
        whole = areas is None or self.picture is None
        if whole:
            ratio = self.devicePixelRatioF()
            size = self.viewport().size() * ratio
            self.picture = QImage(max(1, size.width()), max(1, size.height()),
                                  QImage.Format.Format_ARGB32_Premultiplied)  # fmt: skip
            self.picture.setDevicePixelRatio(ratio)
            self.picture.fill(Qt.GlobalColor.transparent)
            areas = [to_pixels.inverted()[0].mapRect(QRectF(self.picture.rect()))]
        pal = self.canvas.viewport().palette()
        from_pixels = to_pixels.inverted()[0]
        painter = QPainter(self.picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for area in areas:
            pixels = to_pixels.mapRect(area).toAlignedRect().adjusted(-2, -2, 2, 2)
            area = from_pixels.mapRect(QRectF(pixels))
            painter.resetTransform()
            painter.setClipRect(pixels)  # in pixels: the clearing and the drawing agree
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(pixels, Qt.GlobalColor.transparent)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
            painter.setTransform(to_pixels)
            if whole:
                near_edges, near_blocks = edges, blocks
            else:  # the scene's index finds the few items there
                near = self.canvas.scene().items(
                    area,
                    Qt.ItemSelectionMode.IntersectsItemBoundingRect,
                    Qt.SortOrder.AscendingOrder,
                )
                near_edges = [item for item in near if isinstance(item, EdgeItem)]
                near_blocks = [item for item in near if isinstance(item, BlockItem)]
            for edge in near_edges:
                painter.setPen(edge.line_pen(pal))
                painter.drawPath(edge.path().translated(edge.pos()))
            for block in near_blocks:
                box = block.block_rect().translated(block.pos())
                if box.intersects(area):
                    painter.setOpacity(block.opacity())  # dimmed while it is being moved
                    painter.fillRect(box, block.overview_colour(pal))
            painter.setOpacity(1.0)
        painter.end()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        source = self.canvas.scene()
        scene_rect = self._frame.sceneRect()
        if self.transform().m11() >= OVERVIEW_LOD:  # small enough to show in detail
            source.render(painter, scene_rect, scene_rect)
            return
        self._update_picture()
        painter.save()
        painter.resetTransform()  # the picture is in viewport pixels already
        painter.drawImage(QPointF(0, 0), self.picture)
        painter.restore()
        # Items of a gesture in progress (a connection drawn, a block moved), over it.
        for item in getattr(self.canvas, "gesture_items", list)():
            area = item.sceneBoundingRect()
            source.render(painter, area, area)

    def _update_picture(self) -> None:
        """Draw again what looks different since the last paint: a few items' areas, or
        the whole picture (another size, zoom, palette or set of items)."""
        blocks = list(getattr(self.canvas, "blocks", {}).values())
        edges = list(getattr(self.canvas, "edges", ()))
        items = (*blocks, *edges)
        frame = (
            self.viewport().size(), self.devicePixelRatioF(), self.viewportTransform(),
            self.canvas.viewport().palette().cacheKey(), tuple(map(id, items)),
        )  # fmt: skip
        looks = [item.overview_key() for item in items]
        previous = self._picture_key
        if self.picture is None or previous is None or previous[0] != frame:
            self._draw_picture(blocks, edges)
        else:
            changed = [item.sceneBoundingRect() for item, old, new
                       in zip(items, previous[1], looks, strict=True) if old != new]  # fmt: skip
            if len(changed) > MAX_PATCHES:
                self._draw_picture(blocks, edges)
            elif changed:
                self._draw_picture(blocks, edges, changed)
        self._picture_key = (frame, looks, items)  # the items: their ids stay theirs

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        seen = self.visible_area().intersected(self._frame.sceneRect())
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
