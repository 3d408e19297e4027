"""The live views take turns (workbench.views.view_turns): one drawing step per turn of the
event loop, coalesced per view and step; the filters view draws one plot per turn, the
curves redraw in a turn of their own, and the empty curves lay their x axis out for the
epochs set so that Train moves no axis."""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QObject

import engine
from engine.network import build
from workbench.views.curves import TrainingCurves
from workbench.views.filters import FiltersView
from workbench.views.view_turns import GAP_MS, ViewTurns, view_turns


def test_steps_run_one_per_turn_in_order_and_coalesce(qtbot):
    turns = ViewTurns()
    a, b = QObject(), QObject()
    ran: list[str] = []
    turns.request(a, "x", lambda: ran.append("a-x old"))
    turns.request(b, "x", lambda: ran.append("b-x"))
    turns.request(a, "x", lambda: ran.append("a-x new"))  # replaces, keeps its place
    turns.request(a, "y", lambda: ran.append("a-y"))
    assert turns.waiting() == 3 and turns.waiting(a) == 2
    assert ran == []  # nothing runs in the caller's turn
    qtbot.waitUntil(lambda: len(ran) == 1, timeout=1000)
    assert ran == ["a-x new"]
    qtbot.waitUntil(lambda: len(ran) == 3, timeout=1000)
    assert ran == ["a-x new", "b-x", "a-y"] and turns.waiting() == 0


def test_a_deleted_owner_is_skipped_and_run_all_drains(qtbot):
    turns = ViewTurns()
    gone, kept = QObject(), QObject()
    ran: list[str] = []
    turns.request(gone, "x", lambda: ran.append("gone"))

    def first() -> None:
        ran.append("kept")
        turns.request(kept, "y", lambda: ran.append("then"))  # a step may ask for another

    turns.request(kept, "x", first)
    shiboken6.delete(gone)
    turns.run_all()
    assert ran == ["kept", "then"] and turns.waiting() == 0


def test_view_turns_is_one_per_application():
    assert view_turns() is view_turns()
    assert view_turns().parent() is not None


def _filters_view(qtbot) -> FiltersView:
    spec = engine.load_spec("lenet5")
    net = build(spec, seed=0)
    probes = np.random.default_rng(0).normal(0, 1, (8, 1, 32, 32)).astype(np.float32)
    view = FiltersView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    view.update_snapshot(net.state_dict(), net.forward_activations(probes), spec)
    return view


def test_the_filters_timer_draws_one_plot_per_turn(qtbot):
    view = _filters_view(qtbot)
    turns = view_turns()
    turns.run_all()  # the show's own drawing
    view._mark()
    view._redraw_if_visible()  # what the timer does
    assert turns.waiting(view) == 4  # filters, weights, activations, dead units
    drawn = []
    for step in ("filters", "weights", "activations", "dead"):
        qtbot.waitUntil(lambda: turns.waiting(view) < 4 - len(drawn), timeout=2000)
        drawn.append(step)
    assert turns.waiting(view) == 0
    assert view.weight_plot.getPlotItem().titleLabel.text.startswith("Weights of")
    assert view._weight_curve.xData is not None and view._activation_curve.xData is not None
    assert len(view.dead_units()) > 0


def test_the_filters_redraw_called_directly_draws_at_once(qtbot):
    view = _filters_view(qtbot)
    view_turns().run_all()
    view._mark()
    view.redraw()
    assert view_turns().waiting(view) == 0  # nothing left for later turns
    assert view._weight_curve.xData is not None


def test_curves_redraw_in_a_turn_of_their_own(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.add_batch(0.5, 2.0, 0.3)
    curves._redraw_in_turn()  # the timer
    assert view_turns().waiting(curves) == 2  # the loss plot, then the accuracy plot
    assert len(curves.series()["train"][0]) == 1  # the data is there at once
    qtbot.waitUntil(lambda: view_turns().waiting(curves) == 1, timeout=1000 + GAP_MS)
    loss, acc = curves._items["loss"][0], curves._items["acc"][0]
    assert loss.xData is not None and len(loss.xData) == 1
    assert acc.xData is None or len(acc.xData) == 0  # its own, later turn
    qtbot.waitUntil(lambda: view_turns().waiting(curves) == 0, timeout=1000 + GAP_MS)
    assert acc.xData is not None and len(acc.xData) == 1


def test_curves_redraw_called_directly_draws_both_plots_and_the_turns_then_skip(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.add_batch(0.5, 2.0, 0.3)
    curves._redraw_in_turn()  # the timer: two turns waiting
    curves.redraw()
    for key in ("loss", "acc"):
        assert len(curves._items[key][0].xData) == 1
    drawn = []
    curves._draw_part = drawn.append  # what the waiting turns still draw
    view_turns().run_all()
    assert drawn == []


def test_empty_curves_lay_the_x_axis_out_for_the_epochs_set(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.preview_epoch_range(7)
    x0, x1 = curves.loss_plot.getViewBox().viewRange()[0]
    assert x0 < 0.5 and 6.9 < x1 < 7.5
    curves.clear(7)  # a run of 7 epochs starts: the axis stays where it is
    assert curves.loss_plot.getViewBox().viewRange()[0] == [x0, x1]
    curves.add_batch(0.5, 2.0, 0.3)
    curves.preview_epoch_range(3)  # points shown: the settings no longer move the axis
    assert curves.loss_plot.getViewBox().viewRange()[0] == [x0, x1]


def test_the_train_page_curves_follow_the_epochs_setting(qtbot):
    from workbench.app import create_main_window
    from workbench.training_ui import install_training

    window = create_main_window("lenet5", autosave=False)
    qtbot.addWidget(window)
    controller = install_training(window)
    controller.training_panel.epochs.setValue(12)
    x1 = controller.curves.accuracy_plot.getViewBox().viewRange()[0][1]
    assert 11.9 < x1 < 12.5
    window.document.undo_stack.setClean()


def test_a_run_start_clears_the_curves_in_turns_of_their_own(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.add_batch(0.5, 2.0, 0.3)
    curves.redraw()
    loss, acc = curves._items["loss"][0], curves._items["acc"][0]
    curves.clear(3, in_turns=True)  # as LiveFeed.begin does on Train
    assert len(curves.series()["train"][0]) == 0  # the data is gone at once
    assert len(loss.xData) == 1 and len(acc.xData) == 1  # the plots: not in Train's turn
    assert view_turns().waiting(curves) == 2
    view_turns().run_all()
    assert _points(loss) == 0 and _points(acc) == 0
    curves.add_batch(0.5, 2.0, 0.3)
    curves.redraw()
    curves.clear(3)  # a reopened run, a test: emptied now
    assert _points(loss) == 0 and view_turns().waiting(curves) == 0


def _points(item) -> int:
    return 0 if item.xData is None else len(item.xData)


def test_the_probe_image_already_shown_is_not_set_again(qtbot, monkeypatch):
    from workbench.views.feature_maps import FeatureMapsView

    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.set_spec(engine.load_spec("lenet5"))
    rng = np.random.default_rng(0)
    probe = rng.normal(size=(1, 32, 32)).astype(np.float32)
    set_images = []
    item = view._cells[0].image
    monkeypatch.setattr(item, "setImage", lambda *a, **k: set_images.append(a[0]))
    view.set_probe(probe)  # the data loaded: shown
    view.set_probe(probe.copy()[None])  # Train: the same image, as a batch of one
    assert len(set_images) == 1
    view.set_probe(probe + 1)  # another image (a prediction's): shown
    assert len(set_images) == 2
    np.testing.assert_array_equal(view.layer_values(-1), probe + 1)
