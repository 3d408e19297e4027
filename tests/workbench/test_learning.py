"""The Learn page in the main window: a trained run's filters, "Explain this pixel" with the
network's real numbers, baselines in the run history, the shift test, Grad-CAM in Predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from engine.explain import conv_step
from engine.network import build
from engine.resources import resource_path
from workbench.app import create_main_window
from workbench.learning import baseline_record, install_learning
from workbench.runs import RunRecord
from workbench.training_ui import install_training

SAMPLE = resource_path("sample")
TINY = {
    "format": "cnn-workbench/network",
    "version": 1,
    "name": "tiny",
    "input": {"channels": 1, "height": 12, "width": 12},
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "max_pool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
}
RUN_MS = 60000


@pytest.fixture(scope="module")
def trained(qapp, tmp_path_factory, request):
    """One window, the sample data loaded and a two-epoch run done (shared: it takes the
    longest; the tests below only read from it or add baselines)."""
    tmp = tmp_path_factory.mktemp("learn")
    mp = pytest.MonkeyPatch()
    mp.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    mp.setenv("CNN_WORKBENCH_CACHE", str(tmp / "cache"))
    spec_path = tmp / "tiny.json"
    spec_path.write_text(json.dumps(TINY))
    window = create_main_window(str(spec_path), autosave=False)
    training = install_training(window)
    training.runs_root = tmp / "runs"
    training.training_panel.epochs.setValue(2)
    training.training_panel.lr.setValue(0.05)
    from pytestqt.qtbot import QtBot

    bot = QtBot(request)
    with bot.waitSignal(training.dataset_panel.datasetChanged, timeout=RUN_MS):
        training.dataset_panel.set_source(str(SAMPLE))
    window.show()
    with bot.waitSignal(training.runner.finished, timeout=RUN_MS):
        training.start_training()
    bot.waitUntil(lambda: not training.is_training(), timeout=RUN_MS)
    training.feed.flush()
    yield window, training, install_learning(window), bot
    training.shutdown()
    # Not close(): the baselines added runs, and the unsaved-changes prompt would wait for a
    # person (the dialog fixture that answers it is per test).
    window.hide()
    window.deleteLater()
    mp.undo()


def test_learn_page_and_its_named_widgets(trained):
    window, _training, learning, _ = trained
    assert install_learning(window) is learning  # installed once, by create_main_window
    assert window.pages.tabText(learning.page_index) == "Learn"
    for name in ("kernelPlayground", "stepByStep", "baselinesPanel", "shiftPlot",
                 "learnedFilters", "saliencyPanel", "baselinesButton"):  # fmt: skip
        assert window.findChild(object, name) is not None, name


def test_learned_filters_come_from_the_run(trained):
    window, training, learning, _ = trained
    window.pages.setCurrentIndex(learning.page_index)
    model = training._model
    assert model is not None
    matches = learning.learned.matches()
    assert len(matches) == 4
    np.testing.assert_allclose(matches[0].filter, model.weights["0.weight"][0].mean(axis=0))
    assert learning.playground.source.findText("Loaded data set") >= 0
    assert learning.playground.source.findText("Probe image") >= 0


def test_explain_this_pixel_uses_the_trained_numbers(trained):
    window, training, learning, _ = trained
    got = []
    training.feature_maps.explainRequested.connect(lambda *a: got.append(a))
    training.feature_maps.explainRequested.emit(0, 2, 5, 7)  # what a double-click emits
    assert got == [(0, 2, 5, 7)]
    assert window.pages.currentIndex() == learning.page_index
    steps = learning.steps
    assert learning.tabs.currentWidget() is steps
    step = steps.current_step()
    assert (step.oy, step.ox) == (5, 7)
    model = training._model
    probe = training.feature_maps.probe()
    w, b = model.weights["0.weight"][2], float(model.weights["0.bias"][2])
    assert step.value == pytest.approx(conv_step(probe, w, b, 1, 1, 5, 7).value)
    net = build(model.spec)
    net.load_state_dict(model.weights)
    actual = net.forward_activations(probe[None])[0][0, 2, 5, 7]
    assert step.value == pytest.approx(float(actual), rel=1e-4, abs=1e-5)
    assert "trained weights" in steps.source.text()
    assert not learning.explain(3, 0, 0, 0)  # flatten: no feature map to explain
    assert "Cannot explain" in steps.source.text()


def test_baselines_join_the_run_history_and_the_shift_plot(trained):
    window, training, learning, bot = trained
    bot.mouseClick(window.findChild(QPushButton, "baselinesButton"), Qt.MouseButton.LeftButton)
    panel = learning.baselines
    assert learning.tabs.currentWidget() is panel
    assert panel.table.item(2, 0).text() != "–"  # the CNN's validation accuracy
    runs_before = len(window.document.runs)
    panel.run_shift_test()  # fits both baselines first
    bot.waitUntil(lambda: "CNN" in panel.curves(), timeout=RUN_MS)
    curves = panel.curves()
    assert set(curves) == {"kNN", "linear", "CNN"}
    assert all(len(v) == 5 and 0 <= min(v) <= max(v) <= 1 for v in curves.values())
    # The CNN's row and its curve come from the same weights on the same test images.
    assert panel.table.item(2, 1).text() == f"{curves['CNN'][0]:.1%}"
    assert panel.table.item(0, 1).text() == f"{curves['kNN'][0]:.1%}"
    learning.refresh()  # coming back to the page keeps the results and the status
    assert panel.curves() == curves and "Shift test done" in panel.status.text()
    added = window.document.runs[runs_before:]
    assert [r["config"]["baseline"] for r in added] == ["knn", "linear"]
    rec = RunRecord.from_dict(added[0])
    assert rec.best_val_accuracy is not None and rec.test_accuracy is not None
    assert training.runs_panel.tree.topLevelItemCount() == len(window.document.runs)
    assert training.reopen_run(rec)  # a baseline has no weights: reopens its settings only


def test_baseline_record_round_trips():
    from engine.baselines import BaselineResult

    record = baseline_record(BaselineResult("knn", 0.5, None, {"k": 3, "metric": "l1"}, 9), "d")
    rec = RunRecord.from_dict(record)
    assert rec.network == "kNN (k=3, L1)" and rec.best_val_accuracy == 0.5
    assert rec.test_accuracy is None and rec.checkpoint is None


def test_grad_cam_overlay_for_a_confusion_cell_image(trained):
    window, training, learning, _ = trained
    assert learning.explain_example(0)
    assert window.pages.currentIndex() == training.inspect_index
    learning.saliency.wait()
    heat = learning.saliency.heat()
    assert heat is not None and heat.shape == (12, 12) and 0 <= heat.min() <= heat.max() <= 1
    learning.saliency.method.setCurrentText("Occlusion")
    learning.saliency.wait()
    assert "Occlusion" in learning.saliency.note.text()


def test_start_conv1_from_the_named_kernels_is_one_undoable_edit(trained):
    window, _training, learning, bot = trained
    window.pages.setCurrentIndex(learning.page_index)
    document = window.document
    before = document.spec
    assert before.layers[0]["init"] != "kernels"
    button = window.findChild(QPushButton, "startFromKernels")
    bot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert document.spec.layers[0]["init"] == "kernels"
    assert document.spec.layers[1:] == before.layers[1:]
    assert document.undo_stack.undoText() == "Start conv1 from the named kernels"
    document.undo_stack.undo()
    assert document.spec == before
