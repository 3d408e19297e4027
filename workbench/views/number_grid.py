"""A small matrix drawn as the tutorials draw it: one square per value, the number inside.

``NumberGrid`` paints a 2-D array as cells shaded by value (grey for a picture, blue/red for
signed numbers such as a filter or a ReLU's input), with an optional highlighted window (the
current position of a sliding window), a band of padding cells drawn hatched, cells not yet
computed left blank, and negative values marked in a second colour. It only draws: the
numbers come from :mod:`engine.explain`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["NumberGrid"]

WINDOW_COLOR = QColor("#f59e0b")
NEGATIVE_COLOR = QColor("#dc2626")
POSITIVE_COLOR = QColor("#2563eb")
#: Below this cell size (pixels) the numbers are left out: the shading still shows.
MIN_TEXT_CELL = 18


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "−∞" if v < 0 else ""
    if abs(v - round(v)) < 1e-9:
        return str(round(float(v)))
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


class NumberGrid(QWidget):
    """Draws ``values`` (H, W). ``set_window(top, left, h, w)`` outlines a window (array
    coordinates, the padding included in ``values``); ``pad`` marks the outer band of that
    many cells as padding; ``filled`` (bool (H, W)) hides the cells not computed yet;
    ``signed`` shades negatives red and positives blue instead of grey; ``mark_negative``
    writes negative numbers in red (the cells ReLU will set to zero)."""

    def __init__(self, title: str = "", parent: QWidget | None = None, cell: int = 34) -> None:
        super().__init__(parent)
        self.title = title
        self._values = np.zeros((1, 1))
        self._window: tuple[int, int, int, int] | None = None
        self._pad = 0
        self._filled: np.ndarray | None = None
        self._signed = False
        self._mark_negative = False
        self._levels: tuple[float, float] | None = None
        self._cell = cell
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(60, 60)

    # ------------------------------------------------------------------ data

    def set_values(
        self,
        values,
        *,
        pad: int = 0,
        filled=None,
        signed: bool | None = None,
        mark_negative: bool = False,
        levels: tuple[float, float] | None = None,
    ) -> None:
        """Show ``values`` (H, W); see the class docstring for the options. ``signed``
        defaults to whether any value is negative; ``levels`` fixes the shading range."""
        a = np.asarray(values, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"NumberGrid shows (H, W) arrays, got shape {a.shape}")
        self._values = a
        self._pad = int(pad)
        self._filled = None if filled is None else np.asarray(filled, dtype=bool)
        finite = a[np.isfinite(a)]
        self._signed = bool(finite.size and finite.min() < 0) if signed is None else signed
        self._mark_negative = mark_negative
        self._levels = levels
        self.updateGeometry()
        self.update()

    def set_window(self, window: tuple[int, int, int, int] | None) -> None:
        """Outline (top, left, height, width) of the array, or nothing (None)."""
        self._window = window
        self.update()

    def values(self) -> np.ndarray:
        return self._values.copy()

    def window(self) -> tuple[int, int, int, int] | None:
        return self._window

    def sizeHint(self) -> QSize:
        h, w = self._values.shape
        return QSize(min(w * self._cell, 480) + 4, min(h * self._cell, 480) + 26)

    # ------------------------------------------------------------------ painting

    def _shade(self, v: float, lo: float, hi: float) -> QColor:
        if not np.isfinite(v):
            return self.palette().window().color()
        if self._signed:
            m = max(abs(lo), abs(hi), 1e-12)
            t = min(abs(v) / m, 1.0)
            base = POSITIVE_COLOR if v >= 0 else NEGATIVE_COLOR
            white = QColor(255, 255, 255)
            return QColor(
                round(white.red() + (base.red() - white.red()) * t * 0.85),
                round(white.green() + (base.green() - white.green()) * t * 0.85),
                round(white.blue() + (base.blue() - white.blue()) * t * 0.85),
            )
        t = 0.0 if hi <= lo else (v - lo) / (hi - lo)
        g = round(255 - 200 * min(max(t, 0.0), 1.0))
        return QColor(g, g, g)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text_color = self.palette().text().color()
        painter.setPen(text_color)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRectF(0, 0, self.width(), 20), Qt.AlignmentFlag.AlignLeft, self.title)
        a = self._values
        h, w = a.shape
        size = max(4.0, min((self.width() - 4) / w, (self.height() - 26) / h, 96.0))
        x0, y0 = 2.0, 22.0
        finite = a[np.isfinite(a)]
        if self._levels is not None:
            lo, hi = self._levels
        else:
            lo = float(finite.min()) if finite.size else 0.0
            hi = float(finite.max()) if finite.size else 1.0
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, min(11.0, size * 0.3)))
        painter.setFont(font)
        grid_pen = QPen(QColor(150, 150, 150))
        for i in range(h):
            for j in range(w):
                rect = QRectF(x0 + j * size, y0 + i * size, size, size)
                blank = self._filled is not None and not self._filled[i, j]
                padding = self._pad and (
                    i < self._pad or j < self._pad or i >= h - self._pad or j >= w - self._pad
                )
                if blank:
                    painter.fillRect(rect, self.palette().base())
                else:
                    painter.fillRect(rect, self._shade(a[i, j], lo, hi))
                if padding:
                    painter.fillRect(rect, QBrush(QColor(128, 128, 128, 90), Qt.BDiagPattern))
                painter.setPen(grid_pen)
                painter.drawRect(rect)
                if blank or size < MIN_TEXT_CELL:
                    continue
                v = a[i, j]
                negative = self._mark_negative and v < 0
                dark = not self._signed and self._shade(v, lo, hi).lightness() < 110
                color = NEGATIVE_COLOR if negative else QColor("white" if dark else "black")
                painter.setPen(color)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, _fmt(v))
        if self._window is not None:
            top, left, wh, ww = self._window
            pen = QPen(WINDOW_COLOR, 3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(x0 + left * size, y0 + top * size, ww * size, wh * size))
        painter.end()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.explain import TUTORIAL_IMAGE

    app = QApplication(sys.argv)
    grid = NumberGrid("input (padding 1)")
    grid.set_values(np.pad(TUTORIAL_IMAGE, 1), pad=1)
    grid.set_window((0, 0, 3, 3))
    grid.resize(320, 320)
    grid.show()
    if len(sys.argv) > 1:
        grid.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
