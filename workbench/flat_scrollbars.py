"""Fusion with flat scroll bars: the same look everywhere else, a scroll bar a tenth as dear.

Fusion paints a scroll bar with gradients over its whole length: 1.6-1.9 ms per paint for
one as tall as the window (measured with QScrollBar paint events in a 1600×1000 window, this
2-core machine), against 0.03 ms for the flat one here. Every view beside the shape table,
the layer stack and the canvas has one, and an edit that resizes them (a problem card
appears) repaints five: 8 of the 50 ms that an edit on resnet50 took to reach the screen,
and as much again every time a training view scrolled or resized.

The bar drawn here: the groove in the window colour, the slider a rounded bar of the text
colour mixed into it (darker while hovered, darker still while dragged), the arrow buttons
with the base style's (cached) arrows. Geometry, hit testing and every other control are
Fusion's own (``QProxyStyle``), so nothing moves and every widget still behaves as before.

    app.setStyle(FlatScrollBarStyle())     # workbench.style.apply_theme does this
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleFactory, QStyleOptionSlider, QWidget

__all__ = ["FlatScrollBarStyle", "slider_colour"]

_CC = QStyle.ComplexControl
_SC = QStyle.SubControl
_S = QStyle.StateFlag


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def slider_colour(palette: QPalette, hovered: bool, pressed: bool) -> QColor:
    """The slider's colour: the text colour 30 % (hovered 45 %, dragged 58 %) of the way
    from the window colour, so it reads on light and dark palettes alike."""
    share = 0.58 if pressed else 0.45 if hovered else 0.30
    return _mix(
        palette.color(QPalette.ColorRole.Window), palette.color(QPalette.ColorRole.WindowText),
        share,
    )  # fmt: skip


class FlatScrollBarStyle(QProxyStyle):
    """Fusion (``QStyleFactory.create("Fusion")``) whose scroll bars are drawn flat; see the
    module docstring. Everything but ``CC_ScrollBar`` is the base style's."""

    def __init__(self, base: str = "Fusion"):
        super().__init__(QStyleFactory.create(base))
        self.setObjectName("flatScrollBarStyle")

    def drawComplexControl(
        self, control, option, painter: QPainter, widget: QWidget | None = None
    ) -> None:
        if control != _CC.CC_ScrollBar or not isinstance(option, QStyleOptionSlider):
            super().drawComplexControl(control, option, painter, widget)
            return
        pal = option.palette
        window = pal.color(QPalette.ColorRole.Window)
        groove = _mix(window, pal.color(QPalette.ColorRole.Mid), 0.25)
        painter.fillRect(option.rect, groove)
        enabled = bool(option.state & _S.State_Enabled)
        if option.subControls & _SC.SC_ScrollBarSlider and option.maximum > option.minimum:
            rect = self.subControlRect(control, option, _SC.SC_ScrollBarSlider, widget)
            active = option.activeSubControls & _SC.SC_ScrollBarSlider
            hovered = bool(active and option.state & _S.State_MouseOver)
            pressed = bool(active and option.state & _S.State_Sunken)
            colour = slider_colour(pal, hovered and enabled, pressed and enabled)
            # 3 px clear of the groove's long edges, 1 px of its ends
            dx, dy = (3, 1) if option.orientation == Qt.Orientation.Vertical else (1, 3)
            bar = QRectF(rect).adjusted(dx, dy, -dx, -dy)
            radius = min(bar.width(), bar.height()) / 2
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(bar, radius, radius)
            painter.restore()
        vertical = option.orientation == Qt.Orientation.Vertical
        arrows = (
            (_SC.SC_ScrollBarSubLine,
             QStyle.PrimitiveElement.PE_IndicatorArrowUp if vertical
             else QStyle.PrimitiveElement.PE_IndicatorArrowLeft),
            (_SC.SC_ScrollBarAddLine,
             QStyle.PrimitiveElement.PE_IndicatorArrowDown if vertical
             else QStyle.PrimitiveElement.PE_IndicatorArrowRight),
        )  # fmt: skip
        for sub, arrow in arrows:
            if not option.subControls & sub:
                continue
            rect = self.subControlRect(control, option, sub, widget)
            if rect.isEmpty():
                continue
            if option.activeSubControls & sub and option.state & _S.State_Sunken:
                painter.fillRect(rect, _mix(groove, pal.color(QPalette.ColorRole.WindowText), 0.15))
            arrow_option = QStyleOptionSlider(option)
            arrow_option.rect = rect
            arrow_option.state = option.state & ~(_S.State_Sunken | _S.State_MouseOver)
            self.drawPrimitive(arrow, arrow_option, painter, widget)
