"""Issue 9, "Runs": the run history follows Open and Open Recent, Reopen run fills Inspect,
a new data set blanks a prediction's feature maps, and a paused run says it is paused."""

from __future__ import annotations

import shutil

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog
from test_training_ui import RUN_MS, SAMPLE, app_window, button, drop, train_to_end

from workbench.app import create_main_window

__all__ = ["app_window"]  # the fixture, shared with test_training_ui


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_open_and_open_recent_show_the_projects_runs(app_window, qtbot, tmp_path, monkeypatch):
    window, controller = app_window
    train_to_end(qtbot, controller)
    path = str(tmp_path / "p.cnnwb")
    assert window.save_to(path)
    window.actionNew.trigger()
    assert controller.runs_panel.records() == []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (path, ""))
    window.actionOpen.trigger()
    assert len(controller.runs_panel.records()) == 1
    window.actionNew.trigger()
    assert controller.runs_panel.records() == []
    (recent,) = window.recent_menu.actions()
    recent.trigger()
    assert len(controller.runs_panel.records()) == 1


def test_reopening_a_run_fills_inspect_from_its_checkpoint(app_window, qtbot, tmp_path):
    window, controller = app_window
    train_to_end(qtbot, controller)
    path = str(tmp_path / "p.cnnwb")
    assert window.save_to(path)
    # Another day, another window: the project with its run, the same data dropped on it.
    later = create_main_window(path, autosave=False)
    qtbot.addWidget(later)
    later.show()
    other = later.training
    with qtbot.waitSignal(other.dataset_panel.datasetChanged, timeout=RUN_MS):
        drop(later, SAMPLE)
    runs = other.runs_panel
    runs.tree.setCurrentItem(runs.tree.topLevelItem(0))
    (record,) = runs.records()
    with qtbot.waitSignal(other._inspecting.result, timeout=RUN_MS):
        click(qtbot, runs.reopen_button)
    later.pages.setCurrentIndex(other.inspect_index)
    assert record.id in other.inspect_label.text()
    assert record.id in other.training_panel.status_label.text()
    assert other.confusion._matrix is not None and other.confusion._matrix.sum() > 0
    assert other.filters.dead_units()  # dead units of the run's ReLU layers
    assert other.filters.layer_box.count() > 0
    other.shutdown()
    later.document.undo_stack.setClean()


def test_new_data_blanks_the_feature_maps_of_a_prediction(app_window, qtbot, tmp_path):
    window, controller = app_window
    train_to_end(qtbot, controller)
    image = next((SAMPLE / "test" / "Trouser").glob("*.png"))
    with qtbot.waitSignal(controller._predictor.result, timeout=RUN_MS):
        drop(window, image)
    maps = controller.feature_maps
    maps.flush()
    assert any(v is not None for v in maps._values[1:])
    for name in ("Bag", "Sandal"):
        shutil.copytree(SAMPLE / "train" / name, tmp_path / "two" / name)
    with qtbot.waitSignal(controller.dataset_panel.datasetChanged, timeout=RUN_MS):
        drop(window, tmp_path / "two")
    maps.flush()
    assert all(v is None for v in maps._values[1:])  # no maps of the old image
    assert maps._values[0] is not None  # the new probe image


def test_a_paused_run_says_paused_in_the_status_bar(app_window, qtbot):
    window, controller = app_window
    controller.training_panel.epochs.setValue(200)
    with qtbot.waitSignal(controller.runner.started, timeout=RUN_MS):
        click(qtbot, button(window, "trainButton"))
    with qtbot.waitSignal(controller.runner.stateChanged, timeout=RUN_MS,
                          check_params_cb=lambda s: s == "paused"):  # fmt: skip
        click(qtbot, button(window, "pauseButton"))
    assert "paused" in window.train_label.text()
    assert "running" not in window.train_label.text()
    with qtbot.waitSignal(controller.runner.stateChanged, timeout=RUN_MS,
                          check_params_cb=lambda s: s == "running"):  # fmt: skip
        click(qtbot, button(window, "pauseButton"))  # Resume
    assert "running" in window.train_label.text()
    controller.runner.stop_and_wait()


# ---------------------------------------------------------------------- inspection


def test_dead_units_are_counted_per_filter_on_a_balanced_validation_sample(app_window, qtbot):
    window, controller = app_window
    with qtbot.waitSignal(controller._dead_counter.result, timeout=RUN_MS):
        train_to_end(qtbot, controller)
    window.pages.setCurrentIndex(controller.inspect_index)
    val = controller.dataset_panel.loaded.dataset.splits["val"]
    dead = {d.name: d for d in controller.filters.dead_units()}
    assert dead["conv1"].unit == "filters" and dead["conv1"].units == 4
    assert dead["conv1"].images == min(500, len(val)) > 16  # not the 16 probe images
    assert dead["conv1"].text.startswith("conv1: ")
    assert f"of 4 filters never fire on {dead['conv1'].images} validation images" in (
        dead["conv1"].text
    )
    # The probe images of the feature maps cover the classes too, not the first few.
    probe = controller.dataset_panel.loaded.probe(10)
    labels = val.labels
    from workbench.workers.predict_worker import balanced_indices

    assert len(probe) == 10 and len(set(labels[balanced_indices(labels, 10)])) == 10


# ---------------------------------------------------------------------- predict


def test_predict_a_folder_fills_a_sortable_table_exported_to_csv(
    app_window, qtbot, tmp_path, monkeypatch
):
    import csv

    window, controller = app_window
    train_to_end(qtbot, controller)
    folder = SAMPLE / "test" / "Trouser"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.pages.setCurrentIndex(controller.inspect_index)
    controller.inspect_tabs.setCurrentWidget(controller.predict)
    with qtbot.waitSignal(controller._batch.result, timeout=RUN_MS):
        click(qtbot, controller.predict.folder_button)
    table = controller.predict.folder_table
    n = len(list(folder.glob("*.png")))
    assert table.isVisible() and table.table.rowCount() == n
    header = table.table.horizontalHeader()
    qtbot.mouseClick(  # sort by confidence
        header.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(header.sectionViewportPosition(2) + 5, header.height() // 2),
    )
    shown = [r[2] for r in table.rows()]
    assert shown == sorted(shown) or shown == sorted(shown, reverse=True)
    out = tmp_path / "predictions.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    click(qtbot, table.export_button)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "class", "confidence"] and len(rows) == n + 1
    names = set(controller.dataset_panel.loaded.dataset.class_names)
    assert all(r[1] in names for r in rows[1:])


def test_clicking_the_drop_area_opens_images(app_window, qtbot, monkeypatch):
    window, controller = app_window
    train_to_end(qtbot, controller)
    files = [str(p) for p in sorted((SAMPLE / "test" / "Bag").glob("*.png"))[:3]]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (files, ""))
    window.pages.setCurrentIndex(controller.inspect_index)
    controller.inspect_tabs.setCurrentWidget(controller.predict)
    with qtbot.waitSignal(controller._batch.result, timeout=RUN_MS):
        click(qtbot, controller.predict._image)  # the "drop an image here" area
    controller._predictor.wait()
    assert controller.predict.top_class() is not None
    assert [r[0] for r in controller.predict.folder_table.rows()] == files
