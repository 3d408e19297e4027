"""Gestures around a run that no issue names: once a run ends, the Inspect page no longer
says it shows "the run in progress", and the run's summary counts its epochs in English."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from test_training_ui import RUN_MS, app_window, button, train_to_end

__all__ = ["app_window"]  # the fixture, shared with test_training_ui


def test_the_inspect_page_says_how_the_run_ended(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(1)
    label = controller.inspect_label
    # Read when the run's start reaches the GUI: a one-epoch run on the tiny set can end
    # before waitSignal returns, and the page then rightly says it completed.
    while_running: list[str] = []
    controller.runner.started.connect(lambda _event: while_running.append(label.text()))
    with qtbot.waitSignal(controller.runner.started, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    assert while_running and "in progress" in while_running[0]
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    window.pages.setCurrentIndex(controller.inspect_index)
    (record,) = controller.runs_panel.records()
    assert "in progress" not in label.text()
    assert record.id in label.text() and "completed after 1 epoch," in label.text()


def test_a_stopped_run_is_shown_as_stopped(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(200)
    with qtbot.waitSignal(controller.runner.started, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button(window, "stopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    text = controller.inspect_label.text()
    assert "in progress" not in text and "stopped after" in text, text
    controller.training_panel.epochs.setValue(1)
    train_to_end(qtbot, controller)  # a second run replaces the first on the page
    newest = max(controller.runs_panel.records(), key=lambda r: r.started)
    assert newest.id in controller.inspect_label.text()


def test_the_curves_readout_never_runs_under_the_export_buttons(app_window, qtbot):
    window, controller = app_window
    window.resize(1200, 800)  # the smallest first size: the training panel takes its share
    train_to_end(qtbot, controller)
    qtbot.wait(50)
    readout = window.findChild(QLabel, "curvesReadout")
    csv = button(window, "exportCurvesCsv")
    assert "validation: loss" in readout.toolTip()  # the whole line, on hover
    right = readout.mapTo(window, readout.rect().topRight()).x()
    assert right < csv.mapTo(window, csv.rect().topLeft()).x()
    width = readout.fontMetrics().horizontalAdvance(readout.text())
    assert width <= readout.width()  # what is drawn fits (shortened with "…" when it must)
    window.grab().save(str(controller.runs_root.parent / "curves.png"))


def test_the_learn_page_shows_whole_captions_under_the_learned_filters(app_window, qtbot):
    from workbench.views.image_grid import ImageGrid

    window, controller = app_window
    window.resize(1200, 800)
    train_to_end(qtbot, controller)
    window.pages.setCurrentIndex(window.learning.page_index)
    grid = window.findChild(ImageGrid, "learnedGrid")
    qtbot.waitUntil(lambda: grid.count() > 0, timeout=RUN_MS)
    qtbot.wait(50)
    assert "\nr = " in grid.captions()[0]  # two caption lines under each filter
    assert grid.viewport().height() >= grid.gridSize().height()  # a whole row is on screen
    window.grab().save(str(controller.runs_root.parent / "learn.png"))


def test_presets_and_recent_files_wait_while_a_run_holds_the_network(
    app_window, qtbot, tmp_path, dialogs
):
    from PySide6.QtGui import QAction

    window, controller = app_window
    assert window.save_to(str(tmp_path / "saved.cnnwb"))  # an entry in Open Recent
    preset = window.findChild(QAction, "actionPreset_resnet20")
    assert preset.isEnabled() and window.recent_menu.isEnabled()
    controller.training_panel.epochs.setValue(200)
    with qtbot.waitSignal(controller.runner.started, timeout=RUN_MS):
        qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    # Greyed out like New and Open, not an item that silently does nothing.
    assert not preset.isEnabled() and not window.preset_menu.isEnabled()
    assert not window.recent_menu.isEnabled()
    window.load_preset("resnet20")  # reached another way (a script, a shortcut)
    assert "Training is running" in dialogs.last
    assert window.document.spec.name == "tiny"
    controller.runner.stop_and_wait()
    qtbot.waitUntil(lambda: not window.document.locked, timeout=RUN_MS)
    assert preset.isEnabled() and window.recent_menu.isEnabled()
    preset.trigger()
    assert window.document.spec.name != "tiny"


def test_a_huge_paste_into_a_setting_gives_a_readable_message(app_window, qtbot):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QLineEdit

    window, controller = app_window
    freeze = window.findChild(QLineEdit, "freezeEdit")
    QGuiApplication.clipboard().setText("x" * 10_000)
    freeze.setFocus()
    qtbot.keyClick(freeze, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(freeze, Qt.Key.Key_Return)
    qtbot.mouseClick(button(window, "trainButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.messages), timeout=RUN_MS)
    qtbot.waitUntil(lambda: not controller.is_training(), timeout=RUN_MS)
    _title, text = window.messages[-1]
    assert "to freeze up to" in text and "characters)" in text  # what is wrong, how long
    assert "unexpected error" not in text  # a bad setting, not a bug
    assert len(text) < 1_000, len(text)  # not a box 10,000 characters wide


def test_a_very_short_epoch_is_not_said_to_take_no_time(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(1)
    train_to_end(qtbot, controller)
    label = controller.training_panel.estimate_label
    # The tiny network's epoch takes a few hundredths of a second, measured after the run.
    qtbot.waitUntil(lambda: "Last run:" in label.text(), timeout=RUN_MS)
    assert "0.0 s" not in label.text(), label.text()


def test_two_runs_started_in_one_second_get_folders_of_their_own(tmp_path):
    # Train, Stop, Train within a second: the second run must not write into (or pick up the
    # best/ of) the first one's folder.
    from datetime import datetime

    from workbench.runs import new_run_id

    now = datetime(2026, 12, 2, 3, 4, 5)
    first = new_run_id(now, tmp_path)
    assert first == "run-20261202-030405"
    (tmp_path / first).mkdir()
    second = new_run_id(now, tmp_path)
    (tmp_path / second).mkdir()
    assert second == "run-20261202-030405-2"
    assert new_run_id(now, tmp_path) == "run-20261202-030405-3"
    assert sorted([second, first]) == [first, second]
