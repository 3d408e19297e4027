"""The padlock of a canvas block (workbench.views.canvas_items): how it is drawn, and what a
click on it does (freeze the layer, or train it again, as one undoable edit)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

__all__ = ["draw_padlock", "toggle_frozen"]


def draw_padlock(
    painter: QPainter, rect: QRectF, closed: bool, colour: QColor, hole: QColor
) -> None:
    """A padlock in ``rect``: a body in ``colour`` with a keyhole in ``hole``, its shackle
    shut (``closed``) or swung open to the left."""
    painter.save()
    w, h = rect.width(), rect.height()
    body = QRectF(rect.left(), rect.top() + h * 0.45, w, h * 0.55)
    inset = w * 0.2
    shackle = QPainterPath()
    left, right = rect.left() + inset, rect.right() - inset
    top, base = rect.top() + 1.0, body.top()
    arc = QRectF(left, top, right - left, (right - left))
    lift = 0.0 if closed else h * 0.22
    shackle.moveTo(right, base)
    shackle.lineTo(right, arc.center().y() - lift)
    shackle.arcTo(arc.translated(0, -lift), 0, 180)
    shackle.lineTo(left, (base if closed else arc.center().y() + h * 0.05) - lift)
    pen = QPen(colour, max(1.4, w * 0.14))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(shackle)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(body, 2.0, 2.0)
    painter.setBrush(hole)
    keyhole = body.center()
    painter.drawEllipse(keyhole, w * 0.11, w * 0.11)
    painter.drawRect(QRectF(keyhole.x() - w * 0.04, keyhole.y(), w * 0.08, body.height() * 0.3))
    painter.restore()


def toggle_frozen(scene, index: int) -> bool:
    """Freeze layer ``index`` (or train it again) as one undoable edit of the document of the
    canvas showing ``scene``; while the network is locked (a run holds it), the canvas says
    why instead. True when the edit was made."""
    canvas = next((v for v in (scene.views() if scene else ()) if hasattr(v, "document")), None)
    if canvas is None:
        return False
    document = canvas.document
    spec = document.spec
    if not 0 <= index < len(spec.layers):
        return False
    if document.locked:
        if hasattr(canvas, "show_message"):
            canvas.show_message(document.lock_reason or "the network cannot change now")
        return False
    layer = spec.layers[index]
    verb = "Unfreeze" if not layer.trainable else "Freeze"
    new = spec.replace_layer(index, layer.with_trainable(not layer.trainable))
    return document.edit(new, f"{verb} {layer.kind.label}", focus=index + 1)
