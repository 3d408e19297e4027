"""The confusion matrix's counts (workbench.views.confusion._CountsItem) are drawn once into
a picture that every paint replays: the same pixels as drawing each cell's text, drawn
again when the counts or the cells' size on screen change."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from workbench.views.confusion import _CountsItem


def _paint(item: _CountsItem, sx: float, sy: float) -> QImage:
    image = QImage(640, 480, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.translate(10, 5)
    painter.scale(sx, sy)
    item.paint(painter)
    painter.end()
    return image


def _counts(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 500, size=(10, 10))


def test_the_counts_are_recorded_once_and_replayed(qtbot, monkeypatch):
    item = _CountsItem()
    m = _counts(0)
    item.set_counts(m, m > 250, QColor("#101010"))
    recorded = []
    record = item._record
    monkeypatch.setattr(item, "_record", lambda *a: recorded.append(1) or record(*a))
    first = _paint(item, 60, 45)
    again = _paint(item, 60, 45)
    assert len(recorded) == 1  # the second paint replayed the picture
    assert first == again
    assert not first.isNull() and first != QImage(first.size(), first.format())  # text drawn
    _paint(item, 40, 30)  # cells of another size on screen: drawn again, at that size
    assert len(recorded) == 2
    m2 = _counts(1)
    item.set_counts(m2, m2 > 250, QColor("#101010"))
    changed = _paint(item, 60, 45)
    assert len(recorded) == 3 and changed != first


def test_the_replayed_picture_has_the_pixels_of_the_texts_drawn_directly(qtbot):
    m = _counts(2)
    item = _CountsItem()
    item.set_counts(m, m > 250, QColor("#101010"))
    _paint(item, 60, 45)  # records
    replayed = _paint(item, 60, 45)
    # Each cell's text drawn straight onto an image, in device pixels, at the item's size.
    direct = QImage(replayed.size(), replayed.format())
    direct.fill(0)
    painter = QPainter(direct)
    font = painter.font()
    font.setPixelSize(max(7, min(14, int(min(60, 45) * 0.4))))
    painter.setFont(font)
    for r in range(10):
        for c in range(10):
            painter.setPen(QColor("#ffffff") if m[r, c] > 250 else QColor("#101010"))
            cell = QRectF(10 + 60 * c, 5 + 45 * r, 60, 45)
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, str(m[r, c]))
    painter.end()
    assert replayed == direct
