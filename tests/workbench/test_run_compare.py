"""Issue 12, "Run comparison": Ctrl-click runs in the run history, their curves overlay the
Train page's plots and a table says what differs; the comparison exports as CSV, the overlaid
curves as PNG."""

from __future__ import annotations

import csv
import io
import math

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog

from engine.checkpoint import save_checkpoint
from engine.compare import COMPARISON_CSV_HEADER
from engine.data import Preprocessing
from engine.spec import LayerSpec, load_spec
from engine.train_config import TrainConfig
from workbench.runs import RunHistoryPanel
from workbench.views.curve_overlays import OVERLAY_COLORS
from workbench.views.curves import TrainingCurves


def _history(epochs: int, rate: float, top: float, seconds: float) -> dict[str, list]:
    e = list(range(1, epochs + 1))
    return {
        "epoch": e,
        "train_loss": [2.3 * math.exp(-rate * k) + 0.1 for k in e],
        "train_accuracy": [top * (1 - math.exp(-rate * k)) for k in e],
        "val_loss": [2.3 * math.exp(-rate * k) + 0.2 for k in e],
        "val_accuracy": [top * (1 - math.exp(-rate * k)) - 0.02 for k in e],
        "lr": [0.01] * epochs,
        "elapsed_s": [seconds * k for k in e],
    }


def _runs(tmp_path) -> list[dict]:
    """Three finished LeNet-5 runs, oldest first, each with a checkpoint on disk: the second
    adds batch norm and lowers the learning rate, the third also widens the 2nd conv."""
    a = load_spec("lenet5")
    b = a.insert_layer(4, LayerSpec.create("batch_norm"))
    c = b.replace_layer(3, b.layers[3].replace(filters=32))
    plan = [
        ("run-20261201-100000", a, TrainConfig(epochs=8), _history(8, 0.4, 0.90, 3.0)),
        ("run-20261201-110000", b, TrainConfig(epochs=10, lr=0.001), _history(10, 0.6, 0.95, 3.3)),
        ("run-20261201-120000", c, TrainConfig(epochs=6, lr=0.001), _history(6, 0.8, 0.93, 5.0)),
    ]
    records = []
    for run_id, spec, config, history in plan:
        folder = save_checkpoint(
            tmp_path / run_id, spec=spec, config=config,
            preprocessing=Preprocessing(*spec.input.shape).to_dict(),
            class_names=[str(k) for k in range(10)], epoch=config.epochs, batch=0,
            history=history, weights={}, optimizer_state={},
        )  # fmt: skip
        records.append({
            "id": run_id, "started": run_id[4:], "network": spec.name,
            "spec": spec.to_dict(), "config": config.to_dict(), "data": "mnist",
            "status": "completed", "epochs_done": config.epochs, "history": history,
            "checkpoint": str(folder),
        })  # fmt: skip
    return records


@pytest.fixture
def train_page(make_window, tmp_path):
    window = make_window()
    window.resize(1440, 900)
    for run in _runs(tmp_path):
        window.document.add_run(run)
    training = window.training
    window.pages.setCurrentIndex(training.train_index)
    return window, training


def _click_run(qtbot, tree, run_id: str, ctrl: bool = False) -> None:
    (item,) = tree.findItems(run_id, Qt.MatchFlag.MatchExactly, 0)
    tree.scrollToItem(item)
    modifier = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    rect = tree.visualItemRect(item)  # its left end: the tree may be narrower than the row
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, modifier,
                     QPoint(rect.left() + 20, rect.center().y()))  # fmt: skip


def _overlay_data(curves: TrainingCurves):
    """(legend names, [(x, y) of each overlaid validation accuracy curve]) as drawn."""
    names = [label.text for _sample, label in curves.accuracy_plot.getPlotItem().legend.items]
    drawn = [item.getData() for item in curves.accuracy_plot.getPlotItem().listDataItems()]
    return names, drawn


def test_ctrl_click_two_runs_overlays_their_curves_and_says_what_differs(train_page, qtbot):
    _window, training = train_page
    panel, curves = training.runs_panel, training.curves
    view = panel.comparison
    curves.add_batch(0.5, 1.7, 0.4)  # a live run in progress: its points must stay
    curves.add_epoch(1, 1.5, 0.55)
    curves.redraw()
    live = curves.series()
    assert not view.isVisible()

    _click_run(qtbot, panel.tree, "run-20261201-100000")
    assert not view.isVisible() and curves.overlays.names() == []
    with qtbot.waitSignal(panel.comparison_requested) as requested:
        _click_run(qtbot, panel.tree, "run-20261201-110000", ctrl=True)
    assert [r.id for r in requested.args[0]] == ["run-20261201-100000", "run-20261201-110000"]
    assert view.isVisible() and view.objectName() == "runComparison"
    assert not panel.reopen_button.isEnabled()  # two runs: nothing single to reopen

    # Two extra curves (one per run, in its own colour and legend name); the live run unchanged.
    assert curves.overlays.names() == ["A run-20261201-100000", "B run-20261201-110000"]
    names, drawn = _overlay_data(curves)
    assert names == ["training (smoothed)", "validation", *curves.overlays.names()]
    b_history = panel.records()[1].history
    assert any(list(x) == b_history["epoch"]
               and [pytest.approx(v) for v in y] == [100 * a for a in b_history["val_accuracy"]]
               for x, y in drawn)  # fmt: skip
    for key, (x, loss, _acc) in curves.series().items():
        assert (x == live[key][0]).all() and (loss == live[key][1]).all()
    assert curves.overlays.colors() == list(OVERLAY_COLORS[:2])

    # The table: a row of figures per run, and under B what it changes, in words.
    assert view.figures(0)["Run"] == "run-20261201-100000 · LeNet-5"
    assert view.figures(1)["Parameters"] == "61,738 (+0.1%)"
    assert view.figures(1)["Epochs"] == "10"
    assert view.figures(1)["Epoch time"] == "3.3 s (1.1×)"
    assert view.difference_text(1) == (
        "B vs A: adds batch_norm after the 2nd conv2d; epochs 8 → 10; lr 0.01 → 0.001"
    )
    assert "points best validation accuracy" in view.table.item(2, 0).toolTip()

    # A third run joins; Ctrl-clicking one again takes it out; a plain click ends comparing.
    _click_run(qtbot, panel.tree, "run-20261201-120000", ctrl=True)
    assert len(curves.overlays.names()) == 3
    assert view.difference_text(2).startswith("C vs A: the 2nd conv2d: filters 16 → 32; adds")
    assert "(+69%)" in view.figures(2)["Multiply-adds"]
    _click_run(qtbot, panel.tree, "run-20261201-100000", ctrl=True)
    assert curves.overlays.names() == ["A run-20261201-110000", "B run-20261201-120000"]
    assert view.difference_text(1) == "B vs A: the 2nd conv2d: filters 16 → 32; epochs 10 → 6"
    _click_run(qtbot, panel.tree, "run-20261201-120000")
    assert not view.isVisible() and curves.overlays.names() == []
    assert _overlay_data(curves)[0] == ["training (smoothed)", "validation"]
    assert panel.reopen_button.isEnabled()


def test_comparison_exports_csv_and_overlaid_png(train_page, qtbot, tmp_path, monkeypatch):
    _window, training = train_page
    panel, view = training.runs_panel, training.runs_panel.comparison
    _click_run(qtbot, panel.tree, "run-20261201-100000")
    _click_run(qtbot, panel.tree, "run-20261201-120000", ctrl=True)
    target = {"path": str(tmp_path / "cmp.csv")}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (target["path"], "")))  # fmt: skip
    qtbot.mouseClick(view.csv_button, Qt.MouseButton.LeftButton)
    rows = list(csv.reader(io.StringIO((tmp_path / "cmp.csv").read_text())))
    assert tuple(rows[0]) == COMPARISON_CSV_HEADER and len(rows) == 3
    a, b = (dict(zip(rows[0], r, strict=True)) for r in rows[1:])
    assert (a["name"], b["name"]) == ("run-20261201-100000", "run-20261201-120000")
    assert a["parameters"] == "61706" and b["multiply_adds"] == "704520"
    assert b["epochs"] == "6" and float(b["mean_epoch_s"]) == pytest.approx(5.0)
    assert "lr=0.001" in b["settings"] and float(a["best_val_accuracy"]) > 0.8
    assert b["differences"].startswith("B vs A: the 2nd conv2d: filters 16 → 32; adds batch_norm")

    target["path"] = str(tmp_path / "curves.png")
    qtbot.mouseClick(view.png_button, Qt.MouseButton.LeftButton)
    image = QImage(target["path"])
    assert not image.isNull() and image.width() > 300
    for color in OVERLAY_COLORS[:2]:  # both runs' curves are in the picture
        want = QColor(color)
        hits = sum(
            1
            for y in range(0, image.height(), 2)
            for x in range(0, image.width(), 2)
            if max(
                abs(image.pixelColor(x, y).red() - want.red()),
                abs(image.pixelColor(x, y).green() - want.green()),
                abs(image.pixelColor(x, y).blue() - want.blue()),
            )
            < 40
        )
        assert hits > 20, color

    target["path"] = str(tmp_path)  # a folder: the write fails, and says so
    qtbot.mouseClick(view.csv_button, Qt.MouseButton.LeftButton)
    assert view.title.text().startswith(f"Cannot export to {target['path']}")


def test_panel_alone_signals_and_an_unreadable_run(qtbot, tmp_path):
    """Outside the window: the curves are given with set_curves; a run whose network cannot
    be read is named, its curves still shown."""
    panel, curves = RunHistoryPanel(), TrainingCurves()
    qtbot.addWidget(panel)
    qtbot.addWidget(curves)
    panel.set_curves(curves)
    runs = _runs(tmp_path)[:2]
    runs[1] = {**runs[1], "spec": {"format": "cnn-workbench/network", "layers": "not a list"}}
    panel.set_runs(runs)
    panel.resize(1100, 260)
    panel.show()
    seen = []
    panel.selection_changed.connect(seen.append)
    _click_run(qtbot, panel.tree, "run-20261201-100000")
    _click_run(qtbot, panel.tree, "run-20261201-110000", ctrl=True)
    assert [len(s) for s in seen] == [1, 2]
    assert panel.comparison.comparison() is None
    assert panel.comparison.title.text().startswith(
        "Cannot compare these runs: run run-20261201-110000: its network cannot be read"
    )
    assert not panel.comparison.csv_button.isEnabled()
    assert len(curves.overlays.names()) == 2
    # A new run arriving keeps the selection.
    panel.set_runs(_runs(tmp_path / "again"))
    assert [r.id for r in panel.selected_records()] == ["run-20261201-100000",
                                                        "run-20261201-110000"]  # fmt: skip
    assert panel.comparison.comparison() is not None


def test_train_page_with_a_comparison_renders(train_page, qtbot, tmp_path):
    """The picture the brief asks to look at: readable, the words row not cut off."""
    window, training = train_page
    panel = training.runs_panel
    for k, run_id in enumerate(("run-20261201-100000", "run-20261201-110000",
                                "run-20261201-120000")):  # fmt: skip
        _click_run(qtbot, panel.tree, run_id, ctrl=k > 0)
    qtbot.wait(50)
    view = panel.comparison
    assert view.height() >= 180
    table = view.table
    last = table.rowCount() - 1
    assert table.rowViewportPosition(last) + table.rowHeight(last) <= table.viewport().height()
    words = table.item(last, 0).text()
    assert table.fontMetrics().horizontalAdvance(words) < table.viewport().width()
    assert window.grab().save(str(tmp_path / "train-compare.png"))
