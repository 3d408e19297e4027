"""The per-batch line of the training curves (workbench.views.live_curve): the data as given,
peaks kept when thinned to the plot's pixels, gaps, the log mode, and lines as wide as their
pen whichever way they are drawn."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QPainterPath

from workbench.views.live_curve import MAX_POINTS, STROKE_POINTS, LiveCurve


def _plot(qtbot, width: int = 420, height: int = 260) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(width, height)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def _points(curve: LiveCurve) -> int:
    path = curve._path
    return path.elementCount()


def _moves(path: QPainterPath) -> int:
    return sum(path.elementAt(i).isMoveTo() for i in range(path.elementCount()))


def test_it_is_a_plot_data_item_to_pyqtgraph(qtbot):
    plot = _plot(qtbot)
    plot.addLegend()
    curve = LiveCurve(pg.mkPen("#2563eb", width=2), name="training")
    plot.addItem(curve)
    assert curve.getData() == (None, None) and curve.xData is None
    x, y = np.linspace(0, 3, 40), np.linspace(2.0, 0.5, 40)
    curve.setData(x, y)
    assert plot.getPlotItem().listDataItems() == [curve]
    np.testing.assert_array_equal(curve.getData()[0], x)
    np.testing.assert_array_equal(curve.getData()[1], y)
    assert [label.text for _s, label in plot.getPlotItem().legend.items] == ["training"]
    plot.getPlotItem().enableAutoRange()
    qtbot.wait(20)
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    assert x0 <= 0 and x1 >= 3 and y0 <= 0.5 and y1 >= 2.0  # auto-range saw the data
    x[0] = 99.0
    assert curve.getData()[0][0] == 0  # a copy was kept


def test_not_finite_values_are_gaps(qtbot):
    plot = _plot(qtbot)
    curve = LiveCurve(pg.mkPen("k"))
    plot.addItem(curve)
    y = np.array([1.0, 2.0, np.nan, 3.0, 4.0, np.inf, 5.0, 6.0])
    curve.setData(np.arange(8.0), y)
    assert _moves(curve._path) == 3  # three pieces
    assert curve.dataBounds(1) == (1.0, 6.0)
    curve.setData(np.arange(3.0), np.full(3, np.nan))  # no accuracy reported: nothing drawn
    assert curve.dataBounds(1) == (None, None)
    assert curve.boundingRect().isEmpty() or _points(curve) == 0


def test_many_batches_are_thinned_to_the_plots_pixels_with_their_peaks(qtbot):
    plot = _plot(qtbot, width=420)
    plot.setXRange(0, 10, padding=0)
    curve = LiveCurve(pg.mkPen("k"))
    plot.addItem(curve)
    n = 20_000
    x = np.linspace(0, 10, n)
    y = np.full(n, 1.0)
    y[12_345], y[777] = 9.0, -4.0  # one spike up, one down
    curve.setData(x, y)
    pixels = plot.getViewBox().width()
    assert 64 <= _points(curve) <= 2 * pixels + 2 < n
    rect = curve._path.boundingRect()
    assert rect.top() == pytest.approx(-4.0) and rect.bottom() == pytest.approx(9.0)
    np.testing.assert_array_equal(curve.getData()[1], y)  # the data itself is whole
    plot.resize(840, 260)  # a wider plot: thinned again for its pixels
    qtbot.waitUntil(lambda: _points(curve) > 2 * pixels + 2, timeout=1000)
    assert _points(curve) <= MAX_POINTS


def test_few_batches_are_drawn_as_they_are(qtbot):
    plot = _plot(qtbot)
    curve = LiveCurve(pg.mkPen("k"))
    plot.addItem(curve)
    curve.setData(np.arange(50.0), np.sin(np.arange(50.0)))
    assert _points(curve) == 50


def test_log_mode_draws_and_reports_log10(qtbot):
    plot = _plot(qtbot)
    curve = LiveCurve(pg.mkPen("k"))
    plot.addItem(curve)
    curve.setData([0.0, 1.0, 2.0], [100.0, 10.0, 1.0])
    plot.setLogMode(y=True)
    np.testing.assert_allclose(curve.getData()[1], [2.0, 1.0, 0.0])
    assert curve._path.boundingRect().bottom() == pytest.approx(2.0)
    plot.setLogMode(y=False)
    np.testing.assert_allclose(curve.getData()[1], [100.0, 10.0, 1.0])


@pytest.mark.parametrize("n", [STROKE_POINTS // 4, 8 * STROKE_POINTS])
def test_a_wide_pen_draws_a_wide_line_stroked_or_not(qtbot, n):
    """A 2-pixel pen gives a line 2 pixels thick (at least) both when stroked (few points)
    and when drawn as shifted 1-pixel lines (many)."""
    plot = _plot(qtbot)
    plot.setBackground("w")
    plot.setXRange(0, 10, padding=0)
    plot.setYRange(0, 2, padding=0)
    curve = LiveCurve(pg.mkPen("#ff0000", width=2))
    plot.addItem(curve)
    curve.setData(np.linspace(0, 10, n), np.full(n, 1.0))
    qtbot.wait(20)
    image = plot.grab().toImage()
    box = plot.getViewBox()
    centre = box.mapViewToScene(pg.Point(5.0, 1.0))
    col = int(plot.mapFromScene(centre).x())
    colours = [QColor(image.pixel(col, y)) for y in range(image.height())]
    red = [y for y, c in enumerate(colours) if c.red() > 200 and c.green() < 120]
    assert 2 <= len(red) <= 4, red
    assert max(red) - min(red) == len(red) - 1  # one band, no stray pixels


def test_the_repaint_rectangle_covers_the_lines_pixels(qtbot):
    plot = _plot(qtbot)
    plot.setXRange(0, 10, padding=0)
    plot.setYRange(0, 2, padding=0)
    curve = LiveCurve(pg.mkPen("k", width=2))
    plot.addItem(curve)
    curve.setData(np.linspace(0, 10, 1000), np.full(1000, 1.0))
    px, py = plot.getViewBox().viewPixelSize()
    rect, path = curve.boundingRect(), curve._path.boundingRect()
    assert rect.top() <= path.top() - 2 * py and rect.bottom() >= path.bottom() + 2 * py
    assert rect.left() <= path.left() - 2 * px and rect.right() >= path.right() + 2 * px
