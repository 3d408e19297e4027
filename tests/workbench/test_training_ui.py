"""The Data/Train/Inspect pages driven as a person would: choose data, press Train, pause,
resume, stop, break it, close the window mid-run, drop files on it.

A tiny network on the bundled sample resized to 12x12 keeps every run to a second or two.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox, QPushButton

from engine.resources import resource_path
from workbench.app import create_main_window
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


@pytest.fixture
def app_window(qtbot, tmp_path, monkeypatch):
    """A main window on the tiny network, with the sample data loaded; messages captured."""
    messages: list[tuple[str, str]] = []

    def warning(_parent, title, text, *args, **kwargs):
        messages.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", warning)
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path.parent / "cache"))
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(TINY))
    window = create_main_window(str(spec_path), autosave=False)
    qtbot.addWidget(window)
    controller = install_training(window)
    controller.runs_root = tmp_path / "runs"
    panel = controller.training_panel
    panel.epochs.setValue(2)
    panel.batch_size.setValue(64)
    panel.lr.setValue(0.05)
    with qtbot.waitSignal(controller.dataset_panel.datasetChanged, timeout=RUN_MS):
        controller.dataset_panel.set_source(str(SAMPLE))
    window.show()
    window.pages.setCurrentIndex(controller.train_index)
    window.messages = messages
    yield window, controller
    controller.shutdown()
    window.document.undo_stack.setClean()
    window.document.set_locked(False)


def button(window, name: str) -> QPushButton:
    return window.findChild(QPushButton, name)


def train_to_end(qtbot, controller):
    with qtbot.waitSignal(controller.runner.finished, timeout=RUN_MS) as blocker:
        qtbot.mouseClick(button(controller.window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    return blocker.args[0]


def test_objects_are_named_for_tests_and_accessibility(app_window):
    window, _ = app_window
    for name in ("datasetPanel", "trainButton", "pauseButton", "stopButton", "lossPlot",
                 "accuracyPlot", "featureMaps", "confusionMatrix", "predictView"):  # fmt: skip
        assert window.findChild(object, name) is not None, name


def test_dataset_panel_shows_classes_counts_and_samples(app_window):
    _, controller = app_window
    panel = controller.dataset_panel
    assert panel.classes.topLevelItemCount() == 10
    first = panel.classes.topLevelItem(0)
    assert first.text(0) == "Ankle boot"
    assert [first.text(c) for c in (1, 2, 3)] == ["90", "10", "20"]
    assert "10 classes, 1,200 images" in panel.summary.text()
    assert panel.samples.layout().count() == 10 * 9  # a name and 8 thumbnails per class


def test_health_report_lists_skipped_files_with_reasons(app_window, qtbot, tmp_path):
    _, controller = app_window
    for name in ("T-shirt", "Trouser"):
        shutil.copytree(SAMPLE / "train" / name, tmp_path / "two" / name)
    (tmp_path / "two" / "Trouser" / "empty.png").write_bytes(b"")
    panel = controller.dataset_panel
    with qtbot.waitSignal(panel.datasetChanged, timeout=RUN_MS):
        panel.set_source(str(tmp_path / "two"))
    assert panel.classes.topLevelItemCount() == 2
    (item,) = [panel.skipped.topLevelItem(i) for i in range(panel.skipped.topLevelItemCount())]
    assert item.text(0).endswith("empty.png") and item.text(1)  # the file and its reason
    # The network ends in 10 outputs but the data has 2 classes: said before Train is pressed.
    assert "2 classes" in controller.training_panel.blocker_label.text()
    assert controller.training_panel.blocker_fix.text() == "Fix: units 2 (the data has 2 classes)"


def test_training_run_feeds_every_view(app_window, qtbot):
    window, controller = app_window
    epochs: list = []
    controller.runner.epochEnded.connect(epochs.append)
    with qtbot.waitSignal(controller.runner.epochEnded, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
        # Checked at once: the tiny run may be over by the time the first epoch is seen.
        assert window.document.locked  # no silent edits of the running network
        assert not window.document.set_layer_field(0, "filters", 8)
        assert "Training is running" in window.train_label.text()  # not "ready to train"
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    assert [e.epoch for e in epochs] == [1, 2]
    assert not window.document.locked
    assert window.train_label.text() == "✓ Ready to train"

    train_x, train_loss, _ = controller.curves.series()["train"]
    assert len(train_x) == 2 * 15 and np.isfinite(train_loss).all()
    assert len(controller.curves.series()["validation"][0]) == 2

    maps = controller.feature_maps
    maps.flush()
    for i in range(len(TINY["layers"])):
        image = maps.cell_image(i).image
        assert image is not None and image.size > 0, f"layer {i} has no feature map"

    # The Inspect page was hidden during the run; it catches up with the last epoch when shown.
    window.pages.setCurrentIndex(controller.inspect_index)
    controller.inspect_tabs.setCurrentWidget(controller.confusion)
    assert controller.confusion.matrix().sum() == len(epochs[-1].val_predictions[1]) == 100
    (run,) = window.document.runs
    assert run["status"] == "completed" and run["epochs_done"] == 2
    assert Path(run["checkpoint"]).exists()
    assert controller.runs_panel.tree.topLevelItemCount() == 1
    panel = controller.training_panel
    assert "Epoch 2/2 · batch 15/15 · ETA" in panel.progress_label.text()
    assert panel.progress.value() == panel.progress.maximum()


def test_pause_resume_and_stop(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(200)
    with qtbot.waitSignal(controller.runner.batches, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    pause = button(window, "pauseButton")
    with qtbot.waitSignal(controller.runner.paused, timeout=RUN_MS):
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
    assert controller.runner.state == "paused" and pause.text() == "Resume"
    with qtbot.waitSignal(controller.runner.resumed, timeout=RUN_MS):
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
    assert pause.text() == "Pause"
    with qtbot.waitSignal(controller.runner.finished, timeout=RUN_MS) as blocker:
        qtbot.mouseClick(button(window, "stopButton"), Qt.MouseButton.LeftButton)
    assert blocker.args[0].reason == "stopped"
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    assert window.document.runs[-1]["status"] == "stopped"
    assert Path(window.document.runs[-1]["checkpoint"]).exists()
    assert button(window, "trainButton").isEnabled()


def test_worker_error_shows_a_message_and_the_app_stays_usable(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.lr.setValue(1e6)
    with qtbot.waitSignal(controller.runner.failed, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    title, text = window.messages[-1]
    assert title == "Training stopped"
    assert "learning rate" in text
    assert window.document.runs[-1]["status"] == "failed"
    assert not window.document.locked

    controller.training_panel.lr.setValue(0.05)
    assert train_to_end(qtbot, controller).reason == "completed"


def test_vanished_data_set_is_reported(app_window, qtbot, tmp_path):
    window, controller = app_window
    copy = tmp_path / "gone"
    shutil.copytree(SAMPLE / "train", copy)
    with qtbot.waitSignal(controller.dataset_panel.datasetChanged, timeout=RUN_MS):
        controller.dataset_panel.set_source(str(copy))
    shutil.rmtree(copy)  # chosen, then deleted before Train
    with qtbot.waitSignal(controller.runner.failed, timeout=RUN_MS) as blocker:
        controller.start_training()
    assert "gone" in blocker.args[0]
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    assert "gone" in window.messages[-1][1]


def test_closing_during_training_asks_then_stops_and_joins(app_window, qtbot, monkeypatch):
    window, controller = app_window
    controller.training_panel.epochs.setValue(200)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(window, "maybe_save", lambda prepare=None: prepare() or True)
    with qtbot.waitSignal(controller.runner.batches, timeout=RUN_MS):
        controller.start_training()
    thread = controller.runner._thread
    assert not window.close()  # "No": the window stays and training goes on
    assert controller.is_training() and len(asked) == 1
    assert window.close()  # "Yes": stopped, thread joined
    assert len(asked) == 2 and "Stop it and close" in asked[0]
    assert not controller.is_training()
    assert thread is not None
    assert window.document.runs[-1]["status"] == "stopped"


def test_predicted_epoch_time_is_measured(app_window, qtbot):
    _, controller = app_window
    with qtbot.waitSignal(controller.estimator.estimated, timeout=RUN_MS) as blocker:
        controller.training_panel.batch_size.setValue(32)
    estimate = blocker.args[0]
    assert estimate.batch_size == 32 and estimate.epoch_s > 0 and math.isfinite(estimate.epoch_s)
    assert "Predicted epoch time: ~" in controller.training_panel.estimate_label.text()


def test_blocker_explains_why_train_is_disabled(app_window):
    window, controller = app_window
    assert button(window, "trainButton").isEnabled()
    window.document.remove_layers([4])  # no final dense layer: a problem
    assert not button(window, "trainButton").isEnabled()
    assert controller.training_panel.blocker_label.text().startswith("Cannot train:")


def drop(window, path: Path) -> None:
    """Drag ``path`` over the window and drop it. Qt hands a Drop only to the widget its drag
    manager saw accept the DragEnter, which a synthetic event cannot arrange; so the events
    go to the window's drop filter (``window.training``) directly, as Qt would pass them."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    action = Qt.DropAction.CopyAction
    no_button, no_key = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(50, 50), action, data, no_button, no_key)
    assert window.training.eventFilter(window, enter) and enter.isAccepted()
    event = QDropEvent(QPointF(50, 50), action, data, no_button, no_key)
    assert window.training.eventFilter(window, event) and event.isAccepted()


def test_dropping_an_image_predicts_and_a_folder_loads_data(app_window, qtbot):
    window, controller = app_window
    train_to_end(qtbot, controller)
    image = next((SAMPLE / "test" / "Trouser").glob("*.png"))
    with qtbot.waitSignal(controller._predictor.result, timeout=RUN_MS):
        drop(window, image)
    assert controller.predict.top_class() in controller.dataset_panel.loaded.dataset.class_names
    assert window.pages.currentIndex() == controller.inspect_index
    assert len(controller.predict.shown_bars()) > 0

    with qtbot.waitSignal(controller.dataset_panel.datasetChanged, timeout=RUN_MS):
        drop(window, SAMPLE / "test")
    assert controller.dataset_panel.path == str(SAMPLE / "test")
    assert window.pages.currentIndex() == controller.data_index


def filters(window) -> int:
    return dict(window.document.spec.layers[0].params)["filters"]


def test_dropping_a_spec_file_opens_it_after_the_unsaved_question(
    app_window, qtbot, tmp_path, monkeypatch
):
    """The window's one drop handler also opens networks: a spec file dropped on it asks
    about unsaved changes (Discard here), then opens; Cancel leaves the network alone."""
    window, _controller = app_window
    first = dict(TINY["layers"][0], filters=6)
    wider = dict(TINY, name="wider", layers=[first, *TINY["layers"][1:]])
    path = tmp_path / "wider.json"
    path.write_text(json.dumps(wider))
    window.document.set_settings({**window.document.settings, "note": "an unsaved change"})
    asked: list[str] = []

    def question(_parent, title, *_args, answer=QMessageBox.StandardButton.Cancel, **_kw):
        asked.append(title)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    drop(window, path)
    assert asked == ["Unsaved changes"] and filters(window) == 4
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: question(*a, answer=QMessageBox.StandardButton.Discard),
    )
    drop(window, path)
    assert filters(window) == 6 and len(asked) == 2


def test_the_loaded_data_model_follows_the_data_page(app_window, qtbot, tmp_path):
    """What the Data page loads is the window's data model; a failed load empties it and
    Train says why; a folder dropped again fills it."""
    window, controller = app_window
    assert controller.data.current is controller.dataset_panel.loaded is not None
    seen: list[object] = []
    controller.data.changed.connect(seen.append)
    empty = tmp_path / "no-images"
    empty.mkdir()
    with qtbot.waitSignal(controller.dataset_panel.loadFailed, timeout=RUN_MS):
        drop(window, empty)
    assert controller.data.current is None and seen == [None]
    assert "could not be loaded" in controller.training_panel.blocker_label.text()
    with qtbot.waitSignal(controller.data.changed, timeout=RUN_MS):
        drop(window, SAMPLE)
    assert controller.data.current is controller.dataset_panel.loaded is seen[-1]
    assert controller.data.split_sizes()[0] == len(controller.data.dataset.splits["train"])


def test_a_run_can_be_reopened(app_window, qtbot):
    window, controller = app_window
    train_to_end(qtbot, controller)
    controller.curves.clear()
    controller.training_panel.lr.setValue(0.5)
    (record,) = controller.runs_panel.records()
    assert controller.reopen_run(record)
    assert len(controller.curves.series()["validation"][0]) == 2
    assert controller.training_panel.lr.value() == pytest.approx(0.05)
    assert window.messages == []


# --------------------------------------------------------------------------- the join


def test_no_engine_work_until_the_train_page_is_shown(qtbot):
    """A window on the Design page times nothing; the Train page measures once, lazily."""
    window = create_main_window("lenet5", autosave=False)
    qtbot.addWidget(window)
    window.show()
    controller = window.training
    qtbot.wait(600)  # longer than the estimate's debounce
    assert controller._estimate_asked is None and not controller.estimator.is_busy()
    # No data yet: no number (a stand-in data set size would be a made-up prediction).
    window.pages.setCurrentIndex(controller.train_index)
    qtbot.wait(600)
    label = controller.training_panel.estimate_label
    assert controller._estimate_asked is None and "~" not in label.text()
    assert "once a data set is loaded" in label.text()
    with qtbot.waitSignal(controller.estimator.estimated, timeout=RUN_MS):
        drop(window, SAMPLE)
        window.pages.setCurrentIndex(controller.train_index)
    assert "Predicted epoch time: ~" in label.text()
    window.pages.setCurrentIndex(0)
    window.pages.setCurrentIndex(controller.train_index)  # nothing changed: no new timing
    qtbot.wait(600)
    assert controller._estimate_asked is None


def test_design_docks_hide_on_other_pages_and_return_as_left(qtbot):
    window = create_main_window("lenet5", autosave=False)
    qtbot.addWidget(window)
    window.show()
    controller = window.training
    window.palette_dock.hide()  # the person closed the Layers dock
    for index in (controller.data_index, controller.train_index, controller.inspect_index):
        window.pages.setCurrentIndex(index)
        assert not window.palette_dock.isVisible() and not window.inspector_dock.isVisible()
    window.pages.setCurrentIndex(0)
    assert not window.palette_dock.isVisible() and window.inspector_dock.isVisible()


@pytest.mark.parametrize("size", [(1440, 900), (1200, 800)])
def test_every_page_fits_the_window(qtbot, size):
    window = create_main_window("lenet5", autosave=False)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    for index in range(window.pages.count()):
        window.pages.setCurrentIndex(index)
        qtbot.wait(10)
        area = window.pages.currentWidget()
        if hasattr(area, "horizontalScrollBar"):  # added pages scroll only when too small
            assert not area.horizontalScrollBar().isVisible(), (size, index)
            assert not area.verticalScrollBar().isVisible(), (size, index)


def test_cancelling_the_unsaved_prompt_keeps_the_run_going(app_window, qtbot, monkeypatch):
    window, controller = app_window
    controller.training_panel.epochs.setValue(200)
    B = QMessageBox.StandardButton
    answers = [B.Yes, B.Cancel, B.Yes, B.Discard]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    window.document.mark_modified()
    with qtbot.waitSignal(controller.runner.batches, timeout=RUN_MS):
        controller.start_training()
    assert not window.close()  # Yes to stopping, then Cancel at unsaved changes
    assert controller.is_training() and controller.runner.state == "running"
    assert window.close()  # Yes, Discard: now it stops
    assert not controller.is_training() and not answers
    assert window.document.runs[-1]["status"] == "stopped"


def test_estimate_settles_after_a_run(app_window, qtbot):
    _, controller = app_window
    train_to_end(qtbot, controller)
    qtbot.wait(600)
    controller.estimator.wait()
    text = controller.training_panel.estimate_label.text()
    assert "measuring" not in text and "per epoch" in text


def test_runs_of_unsaved_projects_go_to_a_clean_data_folder():
    import os

    from workbench.training_ui import default_runs_root

    root = default_runs_root()
    assert root == Path(os.environ["XDG_DATA_HOME"]) / "CNN Workbench" / "runs"


def test_plain_start_opens_lenet5_with_the_sample_data(qtbot, monkeypatch):
    """``cnn-workbench`` with no argument: lenet5, the sample data loading in the background,
    Train ready once it has loaded."""
    from PySide6.QtWidgets import QApplication

    from workbench import app as app_module
    from workbench.main_window import MainWindow

    seen = {}

    def exec_(*_args) -> int:
        (window,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                     and w.isVisible()]  # fmt: skip
        panel = window.training.dataset_panel
        qtbot.waitUntil(lambda: panel.loaded is not None, timeout=RUN_MS)
        seen["spec"] = window.document.spec.name
        seen["data"] = panel.path
        seen["train"] = button(window, "trainButton").isEnabled()
        window.document.undo_stack.setClean()
        monkeypatch.setattr(window, "maybe_save", lambda prepare=None: True)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_)
    assert app_module.main([]) == 0
    assert seen == {"spec": "LeNet-5", "data": str(SAMPLE), "train": True}
