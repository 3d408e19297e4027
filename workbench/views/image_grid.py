"""Arrays as pictures: numpy images to QImage, a thumbnail grid, palette-following plots.

The live views share three small needs: turn an image array (whatever layout the data or the
network uses) into something Qt can paint, show many such images as labelled thumbnails, and
give pyqtgraph plots the colours of the current light or dark palette.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGraphicsItem,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

# Every view here writes (row, column) arrays; the app sets this at start-up too, and setting
# it again is harmless, so a view module run alone draws the same way.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

__all__ = [
    "ImageGrid",
    "apply_plot_theme",
    "cache_axes",
    "display_array",
    "nice_ceiling",
    "plot_colors",
    "to_qimage",
]


def display_array(image: np.ndarray) -> np.ndarray:
    """An image as uint8 (H, W) grey or (H, W, 3) RGB, ready to paint.

    Accepts (H, W), (H, W, 1|3|4), (1|3, H, W) and (1, 1|3, H, W), uint8 or float in any
    range: float images are stretched from their own minimum and maximum (a preprocessed,
    standardised image still shows its content). Raises ValueError for other shapes.
    """
    a = np.asarray(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # CHW -> HWC
    if a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"cannot show an array of shape {np.shape(image)} as an image")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(f.min()), float(f.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.ascontiguousarray(((f - lo) * scale).round().astype(np.uint8))


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage that owns its pixels (safe to keep after ``image`` is gone)."""
    a = display_array(image)
    h, w = a.shape[:2]
    if a.ndim == 2:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888)
    return q.copy()


def plot_colors(widget: QWidget) -> tuple[QColor, QColor, QColor]:
    """(background, foreground, muted) colours for a plot inside ``widget``'s palette."""
    pal = widget.palette()
    bg = pal.color(QPalette.ColorRole.Base)
    fg = pal.color(QPalette.ColorRole.Text)
    muted = QColor(
        (fg.red() + bg.red()) // 2, (fg.green() + bg.green()) // 2, (fg.blue() + bg.blue()) // 2
    )
    return bg, fg, muted


def apply_plot_theme(plot: pg.PlotWidget | pg.GraphicsLayoutWidget, parent: QWidget) -> None:
    """Background, axes and titles of ``plot`` in the colours of ``parent``'s palette.

    Call again on a palette change (the views do, from ``changeEvent``)."""
    bg, fg, muted = plot_colors(parent)
    plot.setBackground(bg)
    items = [plot.getPlotItem()] if isinstance(plot, pg.PlotWidget) else list(_plot_items(plot))
    for item in items:
        for name in ("left", "bottom", "right", "top"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(muted))
            axis.setTextPen(pg.mkPen(fg))
        if item.titleLabel is not None and item.titleLabel.text:
            item.setTitle(item.titleLabel.text, color=fg.name())
    for item in items:
        legend = item.legend
        if legend is None:
            continue
        legend.setLabelTextColor(fg)
        for _sample, label in legend.items:
            label.setText(label.text)  # LabelItem re-renders its colour only on setText
        legend.setBrush(pg.mkBrush(bg.red(), bg.green(), bg.blue(), 210))
        legend.setPen(pg.mkPen(muted))


def cache_axes(plot: pg.PlotWidget) -> None:
    """Keep each axis of ``plot`` (ticks, labels and the grid lines it draws across the
    plot) as a pixmap that is redrawn only when the axis changes (its range, its pens).

    Without it every redraw of a curve repaints the axes under it, text included: a
    pyqtgraph axis with a grid covers the whole plot, and replaying its picture was most of
    the cost of a live curve's update (8 ms → 3 ms per redraw of the two loss and accuracy
    plots)."""
    for name in ("left", "bottom", "right", "top"):
        plot.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 × 10^k that is >= ``value`` (> 0)."""
    if not value > 0:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(value))
    return next(m * decade for m in (1, 1.5, 2, 3, 5, 7.5, 10) if m * decade >= value * 0.999)


def _plot_items(layout: pg.GraphicsLayoutWidget):
    for item in layout.ci.items:
        if isinstance(item, pg.PlotItem):
            yield item


class ImageGrid(QListWidget):
    """Thumbnails with captions in a wrapping, scrollable grid.

    ``set_images`` replaces the content; each thumbnail carries a key (for example the index
    of the example in the validation set), reported by ``imageActivated`` on double-click or
    Enter. Images are scaled up with nearest-neighbour sampling so small inputs (28×28) stay
    crisp rather than blurred.

    The first ``FIRST`` thumbnails are made at once, the rest
    ``CHUNK`` at a time in later turns of the event loop: 400 of them took 40 ms, which
    during training arrived with every epoch's results as one stall of the window.
    ``count``, ``captions`` and ``complete`` finish the filling first.
    """

    FIRST = 24
    CHUNK = 24

    imageActivated = Signal(object)  # the key of the thumbnail

    def __init__(self, thumb: int = 72, limit: int = 400, parent: QWidget | None = None):
        super().__init__(parent)
        self._thumb = thumb
        self._limit = limit
        self._keys: list[object] = []
        self._queue: tuple | None = None  # (images, captions, tooltips, next index, end)
        self._more = QTimer(self, singleShot=True, interval=0)
        self._more.timeout.connect(self._fill_more)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setMovement(QListWidget.Movement.Static)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setIconSize(QSize(thumb, thumb))
        self.setGridSize(QSize(thumb + 18, thumb + 34))
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.itemActivated.connect(self._on_activated)

    @property
    def limit(self) -> int:
        """The most thumbnails shown; later images are left out (the caller says so)."""
        return self._limit

    def set_images(
        self,
        images: Sequence[np.ndarray],
        captions: Sequence[str] | None = None,
        keys: Sequence[object] | None = None,
        tooltips: Sequence[str] | None = None,
    ) -> None:
        """Show ``images`` (any layout ``display_array`` accepts), at most ``limit`` of them.
        The sequences are kept until the last thumbnail is made: do not change them."""
        self.clear()
        n = min(len(images), self._limit)
        self._fit_grid(captions[:n] if captions is not None else [])
        self._keys = list(keys[:n]) if keys is not None else list(range(n))
        self._queue = (images, captions, tooltips, 0, n)
        self._fill_more(self.FIRST)

    def complete(self) -> None:
        """Make every thumbnail still waiting, now."""
        if self._queue is not None:
            self._fill_more(self._queue[4])

    def _fill_more(self, how_many: int | None = None) -> None:
        if self._queue is None:
            return
        images, captions, tooltips, start, end = self._queue
        stop = min(end, start + (how_many or self.CHUNK))
        self.setUpdatesEnabled(False)
        try:
            for i in range(start, stop):
                pix = QPixmap.fromImage(to_qimage(images[i])).scaled(
                    self._thumb,
                    self._thumb,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )
                item = QListWidgetItem(QIcon(pix), captions[i] if captions is not None else "")
                item.setData(Qt.ItemDataRole.UserRole, i)
                # Uniform sizes come from one item: give every one the whole cell, so the
                # caption of the widest is not cut off.
                item.setSizeHint(self.gridSize() - QSize(4, 4))
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                if tooltips is not None:
                    item.setToolTip(tooltips[i])
                self.addItem(item)
        finally:
            self.setUpdatesEnabled(True)
        if stop < end:
            self._queue = (images, captions, tooltips, stop, end)
            self._more.start()
        else:
            self._queue = None

    def _fit_grid(self, captions: Sequence[str]) -> None:
        """Cells wide and tall enough for every caption line (names are never cut off)."""
        fm = self.fontMetrics()
        lines = [line for c in captions for line in str(c).split("\n")]
        rows = max((str(c).count("\n") + 1 for c in captions), default=1)
        wide = max((fm.horizontalAdvance(line) for line in lines), default=0)
        self.setGridSize(
            QSize(max(self._thumb + 18, wide + 14), self._thumb + 12 + rows * fm.lineSpacing() + 6)
        )
        self.updateGeometry()  # the minimum height below follows the cells

    def minimumSizeHint(self) -> QSize:
        """At least one whole row of cells: a splitter or layout that squeezed the grid
        lower cut every caption in half (the Learn page's "r = +0.32" lines)."""
        hint = super().minimumSizeHint()
        row = self.gridSize().height() + 2 * (self.frameWidth() + self.spacing())
        return QSize(hint.width(), max(hint.height(), row))

    def keys(self) -> list[object]:
        """The keys of the thumbnails shown, in order."""
        return list(self._keys)

    def captions(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def count(self) -> int:
        """The thumbnails shown (those still waiting are made first)."""
        self.complete()
        return super().count()

    def clear(self) -> None:
        self._queue = None
        self._more.stop()
        super().clear()
        self._keys = []

    def _on_activated(self, item: QListWidgetItem) -> None:
        self.imageActivated.emit(self._keys[item.data(Qt.ItemDataRole.UserRole)])
