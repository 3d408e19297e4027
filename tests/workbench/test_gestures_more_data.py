"""Gestures on the Data page that no issue names: a folder that fails to load after a good
one must not leave the good one's pictures behind."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPushButton, QTreeWidget
from test_first_hour import LOAD_MS, SAMPLE, drop


def test_a_failed_drop_clears_the_augmentation_preview_of_the_old_data(
    make_window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    window = make_window(sample_data=True)
    panel = window.training.dataset_panel
    qtbot.waitUntil(lambda: panel.loaded is not None, timeout=LOAD_MS)
    preview = panel.augment_preview
    captions = {w.text() for w in preview.grid_widget.findChildren(QLabel) if not w.isHidden()}
    assert "Bag" in captions and preview.shown  # the sample's pictures, before anything fails
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(panel.loadFailed, timeout=LOAD_MS):
        drop(window, empty)
    assert "the folder is empty" in panel.warnings.text()
    qtbot.wait(10)  # the old thumbnails are deleted later in this turn of the event loop
    left = [w.text() for w in preview.grid_widget.findChildren(QLabel)]
    assert preview.shown == {} and left == [], left  # no Bag, no Coat: they are not loaded
    assert panel.skipped.isHidden()  # no empty "Skipped file" table under the error


def test_no_empty_skipped_files_table_before_any_data(make_window):
    window = make_window()
    window.pages.setCurrentIndex(window.training.data_index)
    skipped = window.findChild(QTreeWidget, "skippedFiles")
    assert skipped is not None and not skipped.isVisible()


def test_the_status_bar_is_not_ready_to_train_without_data(
    make_window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    window = make_window()  # LeNet-5, no data chosen
    train = window.findChild(QPushButton, "trainButton")
    assert not train.isEnabled()
    status = window.train_label.text()
    assert status != "✓ Ready to train" and "once a data set is chosen" in status
    panel = window.training.dataset_panel
    with qtbot.waitSignal(panel.datasetChanged, timeout=LOAD_MS):
        drop(window, SAMPLE)
    assert window.train_label.text() == "✓ Ready to train" and train.isEnabled()
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(panel.loadFailed, timeout=LOAD_MS):
        drop(window, empty)
    assert not train.isEnabled()
    assert "Cannot train: the data set could not be loaded" in window.train_label.text()
