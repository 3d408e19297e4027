"""A line for a curve that grows while a network trains, cheap to update and to paint.

pyqtgraph's ``PlotDataItem`` does much in Python at every ``setData`` and every paint (its
data sets, downsampling, clipping, bounds: about 900 Python calls per redraw of the loss and
accuracy plots, and 8 ms of the GUI thread with 300 batches drawn, 17 ms with 5,000). All of
it holds the interpreter lock, and the training thread needs that lock between its kernels:
a millisecond of curve drawing was a millisecond of training lost. Here ``setData`` builds
one ``QPainterPath`` (peak-downsampled to ``MAX_POINTS``, in numpy), and a paint draws it.

The item is a plot data item to pyqtgraph (``listDataItems``, ``getData``, a legend sample,
the log mode, ``dataBounds`` for auto-range), so the plots, their legends and tests treat it
as the ``PlotDataItem`` it replaces.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPainterPath, QPen, QTransform

__all__ = ["MAX_POINTS", "STROKE_POINTS", "LiveCurve"]

#: Points drawn: at most two per pixel column the line spans, and never more than this. More
#: are reduced to the lowest and highest of each run of batches (peak downsampling: spikes
#: stay visible). The paint's cost grows with the points: with 5,000 batches drawn, a redraw
#: of both plots cost 13 ms at 2,400 points a line and 7 ms at 900 (a 450-pixel plot).
MAX_POINTS = 2400
#: A line wider than a pixel is stroked up to this many points (see LiveCurve.__init__).
STROKE_POINTS = 200


class LiveCurve(pg.GraphicsObject):
    """A line through (x, y), gaps where y is not finite. ``pen``: anything ``pg.mkPen``
    takes; ``name``: its legend entry."""

    def __init__(self, pen, name: str | None = None) -> None:
        super().__init__()
        pen = pg.mkPen(pen)
        pen.setCosmetic(True)
        # A line wider than a pixel with more than STROKE_POINTS points is drawn as w
        # one-pixel lines side by side, down and across. Qt strokes a wide pen into a polygon
        # and fills it, and the polygon of a jagged line crosses itself everywhere: a 2-pixel
        # line of 800 noisy batches took 7 ms to stroke, 0.25 ms as 1-pixel lines (5,000
        # batches in both plots: 37 ms a redraw, 3.7 ms). A short line is stroked: the
        # shifted lines' corners show there, and the stroke is cheap.
        width = max(1, round(pen.widthF()))
        self._thin = QPen(pen)
        self._thin.setWidth(1)
        self._offsets = [(dx, 0) for dx in range(width)] + [(0, dy) for dy in range(1, width)]
        antialias = bool(pg.getConfigOption("antialias"))
        self.opts = {"pen": pen, "name": name, "symbol": None, "antialias": antialias,
                     "fillLevel": None, "fillBrush": None}  # fmt: skip
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._log_y = False
        self._path = QPainterPath()
        self._rect = QRectF()
        self._built_px = 0.0  # data units per pixel along x when the path was reduced (0: not)
        self._points = 0  # in the path

    # ------------------------------------------------------------------ pyqtgraph's protocol

    def implements(self, interface: str | None = None):
        ints = ["plotData"]
        return ints if interface is None else interface in ints

    def name(self) -> str | None:
        return self.opts["name"]

    def setData(self, x, y) -> None:  # noqa: N802 (pyqtgraph's name)
        """Draw the line through ``x`` and ``y`` (equal lengths); copies are kept."""
        self._x = np.array(x, dtype=float)
        self._y = np.array(y, dtype=float)
        self._rebuild()

    def getData(self) -> tuple[np.ndarray | None, np.ndarray | None]:  # noqa: N802
        """The data as given (log10 of y in log mode, as ``PlotDataItem`` reports it)."""
        if not len(self._x):
            return None, None
        return self._x.copy(), self._shown_y()

    @property
    def xData(self) -> np.ndarray | None:  # noqa: N802 (PlotDataItem's attributes)
        """The x values as given (None: no data), as ``PlotDataItem.xData``."""
        return self._x if len(self._x) else None

    @property
    def yData(self) -> np.ndarray | None:  # noqa: N802
        return self._y if len(self._x) else None

    def setLogMode(self, x_mode: bool, y_mode: bool) -> None:  # noqa: N802
        if bool(y_mode) != self._log_y:
            self._log_y = bool(y_mode)
            self._rebuild()

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802
        """(lowest, highest) finite value along axis ``ax`` (0: x, 1: y), or (None, None)."""
        values = self._x if ax == 0 else self._shown_y()
        finite = values[np.isfinite(values)]
        if not finite.size:
            return None, None
        return float(finite.min()), float(finite.max())

    def viewTransformChanged(self) -> None:  # noqa: N802
        """The plot was resized or zoomed: reduce the line again when its pixels changed by
        a third or more (a path reduced for a small plot looks coarse on a big one)."""
        if self._built_px and not 0.75 < self._pixels()[0] / self._built_px < 1.33:
            self._rebuild()
        else:
            self._fit_rect()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def paint(self, painter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self.opts["antialias"])
        if self._points <= STROKE_POINTS or len(self._offsets) == 1:
            painter.setPen(self.opts["pen"])
            painter.drawPath(self._path)
            return
        painter.setPen(self._thin)
        base = painter.worldTransform()
        for dx, dy in self._offsets:  # a shift of whole device pixels after the view's scale
            if dx or dy:
                painter.setWorldTransform(base * QTransform.fromTranslate(dx, dy))
            painter.drawPath(self._path)
        painter.setWorldTransform(base)

    # ------------------------------------------------------------------ the path

    def _shown_y(self) -> np.ndarray:
        if not self._log_y:
            return self._y.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(self._y)

    def _pixels(self) -> tuple[float, float]:
        """Data units per pixel along x and y (0 before the item is shown in a plot)."""
        box = self.getViewBox()
        if not isinstance(box, pg.ViewBox):  # not in a plot yet (a bare view, or none)
            return 0.0, 0.0
        size = box.viewPixelSize()
        return tuple(float(v) if math.isfinite(v) and v > 0 else 0.0 for v in size)

    def _fit_rect(self, pixels: tuple[float, float] | None = None) -> None:
        """The path's rectangle grown by the line's pixels (its width and its shifts), so a
        repaint of the rectangle covers every pixel the line drew."""
        px, py = self._pixels() if pixels is None else pixels
        grow = len(self._offsets) + 1
        rect = self._path.boundingRect().adjusted(-grow * px, -grow * py, grow * px, grow * py)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect

    def _rebuild(self) -> None:
        pixels = self._pixels()
        limit, px = MAX_POINTS, pixels[0]
        if px and len(self._x) > 1:
            span = float(np.nanmax(self._x) - np.nanmin(self._x)) / px
            limit = int(min(MAX_POINTS, max(64.0, 2.0 * span)))
        x, y = _peaks(self._x, self._shown_y(), limit)
        self._built_px = px if len(x) < len(self._x) else 0.0
        if len(x):
            path = pg.arrayToQPath(x, y, connect="finite")
        else:
            path = QPainterPath()
        self.prepareGeometryChange()
        self._path = path
        self._points = len(x)
        self._fit_rect(pixels)
        self.update()
        self.informViewBoundsChanged()


def _peaks(x: np.ndarray, y: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` points: runs of equal length reduced to their lowest and highest y
    (in that order, at the run's first x and last x), NaNs kept as gaps."""
    n = len(x)
    if n <= limit:
        return x, y
    runs = limit // 2
    size = -(-n // runs)  # points per run, the last run shorter
    pad = runs * size - n
    ys = np.concatenate([y, np.full(pad, np.nan)]).reshape(runs, size)
    xs = np.concatenate([x, np.full(pad, x[-1])]).reshape(runs, size)
    with warnings.catch_warnings():  # an all-NaN run (a gap) is a NaN point, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(ys, axis=1), np.nanmax(ys, axis=1)
    out_x = np.column_stack([xs[:, 0], xs[:, -1]]).ravel()
    out_y = np.column_stack([lo, hi]).ravel()
    return out_x, out_y

