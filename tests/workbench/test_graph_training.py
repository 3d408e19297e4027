"""A graph network (a residual add and an Inception-style concat) trained in the window as a
person would: Train pressed, every view fed, the dead-unit and filter views on its layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from engine.resources import resource_path
from workbench.app import create_main_window
from workbench.training_ui import install_training

SAMPLE = resource_path("sample")
RUN_MS = 60000
CONV = {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1}
GRAPH = {
    "format": "cnn-workbench/network",
    "version": 2,
    "name": "tiny graph",
    "input": {"channels": 1, "height": 12, "width": 12},
    "layers": [
        {**CONV, "id": "stem"},
        {"type": "batch_norm"},
        {"type": "relu", "id": "a"},
        CONV,
        {"type": "batch_norm", "id": "b"},
        {"type": "add", "inputs": ["b", "a"]},
        {"type": "relu", "id": "r"},
        {"type": "conv2d", "filters": 2, "kernel": 1, "id": "one"},
        {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1, "inputs": ["r"], "id": "three"},
        {"type": "concat", "inputs": ["one", "three", "r"]},
        {"type": "max_pool2d", "size": 2},
        {"type": "global_avg_pool"},
        {"type": "dense", "units": 10},
    ],
}


@pytest.fixture
def graph_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path.parent / "cache"))
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(GRAPH))
    window = create_main_window(str(path), autosave=False)
    qtbot.addWidget(window)
    controller = install_training(window)
    controller.runs_root = tmp_path / "runs"
    controller.training_panel.epochs.setValue(2)
    controller.training_panel.lr.setValue(0.05)
    with qtbot.waitSignal(controller.dataset_panel.datasetChanged, timeout=RUN_MS):
        controller.dataset_panel.set_source(str(SAMPLE))
    window.show()
    window.pages.setCurrentIndex(controller.train_index)
    yield window, controller
    controller.shutdown()
    window.document.undo_stack.setClean()


def test_a_graph_network_trains_in_the_window_and_feeds_every_view(graph_window, qtbot):
    window, controller = graph_window
    assert window.document.report.ok
    with qtbot.waitSignal(controller.runner.finished, timeout=RUN_MS):
        qtbot.mouseClick(window.findChild(QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    (run,) = window.document.runs
    assert run["status"] == "completed" and run["epochs_done"] == 2
    _, loss, _ = controller.curves.series()["train"]
    assert np.isfinite(loss).all()
    maps = controller.feature_maps
    maps.flush()
    for i, layer in enumerate(GRAPH["layers"]):
        image = maps.cell_image(i).image
        assert image is not None and image.size > 0, f"layer {i} ({layer['type']})"
    window.pages.setCurrentIndex(controller.inspect_index)
    controller.inspect_tabs.setCurrentWidget(controller.confusion)
    assert controller.confusion.matrix().sum() == 100
