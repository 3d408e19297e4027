"""What keeps the live views cheap while a network trains, driven as the views are fed: the
thumbnail grids fill in turns of the event loop, the curves leave the per-epoch points alone
between epochs, and the plot axes are cached pictures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QGraphicsItem, QListWidget

from workbench.views.curves import TrainingCurves
from workbench.views.image_grid import ImageGrid

IMAGES = np.random.default_rng(0).random((100, 3, 16, 16)).astype(np.float32)


def _made(grid: ImageGrid) -> int:
    return QListWidget.count(grid)  # the items made so far, without finishing the filling


def test_a_grid_makes_a_first_screenful_at_once_and_the_rest_in_later_turns(qtbot):
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.set_images(IMAGES, [f"#{i}" for i in range(100)], list(range(100, 200)))
    assert _made(grid) == ImageGrid.FIRST < 100
    assert grid.keys() == list(range(100, 200))  # every key at once
    qtbot.waitUntil(lambda: _made(grid) == 100, timeout=2000)  # the event loop fills it
    assert grid.captions() == [f"#{i}" for i in range(100)]


def test_asking_a_grid_for_its_content_finishes_it_and_a_new_set_cancels_the_old(qtbot):
    grid = ImageGrid()
    qtbot.addWidget(grid)
    grid.set_images(IMAGES, [f"a{i}" for i in range(100)])
    assert grid.count() == 100 and grid.captions()[-1] == "a99"
    grid.set_images(IMAGES[:60], [f"b{i}" for i in range(60)])
    grid.set_images(IMAGES[:30], [f"c{i}" for i in range(30)])
    qtbot.wait(50)
    assert grid.captions() == [f"c{i}" for i in range(30)]  # nothing of b left behind
    grid.set_images(IMAGES, [f"d{i}" for i in range(100)])
    grid.clear()
    qtbot.wait(50)
    assert _made(grid) == 0


def test_curves_redraw_the_validation_points_only_when_they_change(qtbot, monkeypatch):
    view = TrainingCurves()
    qtbot.addWidget(view)
    _raw, _smooth, val = view._items["loss"]
    calls = []
    original = val.setData
    monkeypatch.setattr(val, "setData", lambda *a, **k: (calls.append(a), original(*a, **k)))
    view.add_epoch(1, 0.5, 0.8)
    view.redraw()
    assert len(calls) == 1
    for b in range(5):
        view.add_batch(1 + b / 5, 0.4, 0.9)
        view.redraw()
    assert len(calls) == 1  # batches only: the epoch points were left alone
    view.add_epoch(2, 0.3, 0.9)
    view.redraw()
    assert len(calls) == 2
    np.testing.assert_array_equal(val.getData()[1], [0.5, 0.3])
    view.clear()
    assert len(calls) == 3 and val.getData()[0] is None  # a new run empties them


def test_curve_axes_are_cached_pictures(qtbot):
    view = TrainingCurves()
    qtbot.addWidget(view)
    for plot in (view.loss_plot, view.accuracy_plot):
        for name in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(name)
            assert axis.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache


def test_filter_histograms_keep_their_axes_until_the_values_outgrow_them(qtbot):
    import engine
    from engine.network import build
    from workbench.views.filters import FiltersView

    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    probes = np.random.default_rng(1).normal(size=(8, 1, 32, 32)).astype(np.float32)
    acts = net.forward_activations(probes)
    weights = net.state_dict()
    view = FiltersView()
    qtbot.addWidget(view)
    view.update_snapshot(weights, acts, spec)
    view.select_layer(3)
    box = view.weight_plot.getViewBox()
    first = box.viewRange()
    nudged = {k: v * 1.02 for k, v in weights.items()}  # a step of training later
    view.update_snapshot(nudged, acts, spec)
    view.redraw()
    assert box.viewRange() == first  # the axes stood still
    grown = {k: v * 3.0 for k, v in weights.items()}  # weights that left the axis
    view.update_snapshot(grown, acts, spec)
    view.redraw()
    (x0, x1), _ = box.viewRange()
    w = grown["3.weight"]
    assert x0 <= float(w.min()) and float(w.max()) <= x1 and x1 - x0 > first[0][1] - first[0][0]


def test_a_live_count_like_the_last_leaves_the_filters_page_layout_alone(qtbot, monkeypatch):
    """The dead-unit label is set only when its words or colour change: set again, its style
    sheet re-polished the label and the page was laid out anew, and all four plots repainted
    after every live count."""
    from engine.inspect import DeadUnits
    from workbench.views.filters import FiltersView

    view = FiltersView()
    qtbot.addWidget(view)
    label = view.warning_label
    calls = []
    for name in ("setText", "setStyleSheet"):
        original = getattr(label, name)

        def counted(value, _o=original, _n=name):
            calls.append(_n)
            return _o(value)

        monkeypatch.setattr(label, name, counted)
    healthy = [DeadUnits(1, "conv1", 0.0, None, dead=0, units=6, images=100, unit="filters")]
    view.set_dead_units(healthy)
    assert calls == ["setText"] and "healthy" in label.text()  # no style: "" already
    calls.clear()
    view.set_dead_units(list(healthy))  # the next epoch's count, the same
    assert calls == []
    dying = [DeadUnits(1, "conv1", 0.5, "conv1: 3 of 6 filters never fire", dead=3, units=6,
                       images=100, unit="filters")]
    view.set_dead_units(dying)
    assert calls == ["setText", "setStyleSheet"] and "⚠" in label.text()


def test_a_count_with_more_warnings_moves_no_plot_of_the_filters_page(qtbot):
    """The dead-unit words scroll in a box of a fixed height: a count with four warnings
    after one healthy line (and back) lays none of the four plots out again. When the label
    grew with its text, every plot resized and repainted its axes in one turn."""
    from engine.inspect import DeadUnits
    from workbench.views.filters import FiltersView

    view = FiltersView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    qtbot.waitExposed(view)
    plots = (view.filter_plot, view.weight_plot, view.activation_plot, view.dead_plot)

    def geometry():
        qtbot.wait(20)  # the layout's posted request runs
        return [p.geometry() for p in plots]

    healthy = [DeadUnits(i, f"conv{i}", 0.0, None, dead=0, units=6, images=100, unit="filters")
               for i in range(4)]  # fmt: skip
    view.set_dead_units(healthy)
    before = geometry()
    dying = [DeadUnits(i, f"conv{i}", 0.5, f"conv{i}: 3 of 6 filters never fire on 100 "
                       "validation images; a lower learning rate or leaky ReLU may help",
                       dead=3, units=6, images=100, unit="filters") for i in range(4)]  # fmt: skip
    view.set_dead_units(dying)
    assert view.warning_label.text().count("⚠") == 4
    assert geometry() == before
    # every warning can still be read: the label is as tall as its text, in a box that scrolls
    assert view.warning_label.height() > view.warning_area.viewport().height()
    assert view.warning_area.verticalScrollBar().maximum() > 0
    view.set_dead_units(healthy)
    assert geometry() == before
