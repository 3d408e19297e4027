"""The window's pyqtgraph plots paint with Qt's own paintEvent (no Python call holding the
interpreter lock around the scene paint) and still bring their view boxes up to date before
each paint."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.views.plot_widgets import GraphicsLayoutWidget, PlotWidget, paints_without_lock


def _shown(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(320, 240)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_plain_pyqtgraph_paints_from_python_and_ours_does_not(qtbot):
    assert not paints_without_lock(_shown(qtbot, pg.PlotWidget()))
    assert paints_without_lock(_shown(qtbot, PlotWidget()))
    assert paints_without_lock(_shown(qtbot, GraphicsLayoutWidget()))


def test_auto_range_is_brought_up_to_date_before_a_paint(qtbot):
    """The view box defers its auto range to the scene's prepare-for-paint; with the event
    filter gone (the control) a paint leaves the range stale, with it the range fits."""
    for keep_filter in (True, False):
        plot = _shown(qtbot, PlotWidget())
        qtbot.wait(20)
        if not keep_filter:
            plot.viewport().removeEventFilter(plot)
        before = plot.getViewBox().viewRange()
        plot.plot(np.arange(11.0), 100.0 + 10.0 * np.arange(11.0))
        plot.grab()
        y_low, y_high = plot.getViewBox().viewRange()[1]
        if keep_filter:
            assert y_low <= 100.0 + 1e-9 and y_high >= 200.0 - 1e-9, (y_low, y_high)
        else:
            assert plot.getViewBox().viewRange() == before


def test_a_paint_draws_what_pyqtgraph_draws(qtbot):
    """Same data, same size: the picture is pixel for pixel pyqtgraph's own."""
    pictures = []
    for cls in (pg.PlotWidget, PlotWidget):
        plot = _shown(qtbot, cls())
        plot.setBackground("w")
        plot.plot(np.arange(50.0), np.sin(np.arange(50.0) / 5.0), pen=pg.mkPen("b", width=2))
        plot.grab()  # the first paint fits the range, the second draws the fitted scene
        pictures.append(plot.grab().toImage())
    assert pictures[0] == pictures[1]


def test_close_and_a_new_viewport_keep_the_filter_right(qtbot):
    plot = _shown(qtbot, PlotWidget())
    plot.useOpenGL(False)  # pyqtgraph swaps the viewport here
    plot.plot([0.0, 1.0], [5.0, 7.0])
    plot.grab()
    assert plot.getViewBox().viewRange()[1][1] >= 7.0
    plot.close()  # pyqtgraph's close sets the viewport to None


def test_every_plot_in_the_window_paints_without_the_lock(make_window, qtbot):
    window = make_window()
    views = window.findChildren(pg.GraphicsView)
    assert len(views) >= 8, [type(v).__name__ for v in views]
    slow = [f"{type(v).__module__}.{type(v).__name__} in {type(v.parent()).__name__}"
            for v in views if not paints_without_lock(v)]
    assert not slow, slow


def test_replace_layout_takes_every_old_item_out_of_the_scene_at_once(qtbot):
    from workbench.views.plot_widgets import GraphicsLayoutWidget

    view = GraphicsLayoutWidget()
    qtbot.addWidget(view)
    boxes = [view.addViewBox(row=0, col=c) for c in range(3)]
    old = view.ci
    new = view.replace_layout()
    assert new is view.ci and new is not old
    assert all(box.scene() is None for box in boxes)
    added = view.addViewBox(row=0, col=0)  # the delegated methods fill the new layout
    assert added.scene() is view.scene() and added.parentItem() is new
