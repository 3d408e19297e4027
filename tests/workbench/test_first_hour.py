"""Issue 9, "A new user's first hour", driven as a person would: menus, buttons, keys, drops.

The network and the data must agree: a 10-class network on a 3-class folder is a problem on
the final layer (stack, shape table, problems, Train page) with the one-click fix; a preset or
template opened on loaded data is adapted at once, in one undo step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit

from engine.resources import resource_path
from workbench.models.layer_stack_model import StackRole
from workbench.views.template_dialog import TemplateDialog

SAMPLE = resource_path("sample")
LOAD_MS = 60000


@pytest.fixture
def three_classes(tmp_path, monkeypatch) -> Path:
    """A train/ + test/ folder of three of the sample's classes."""
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "three"
    for split in ("train", "test"):
        for name in ("Bag", "Sandal", "Trouser"):
            shutil.copytree(SAMPLE / split / name, root / split / name)
    return root


def drop(window, path: Path) -> None:
    """Drag ``path`` over the window and drop it (through the window's drop filter, where Qt
    delivers it: a synthetic drag cannot make Qt's drag manager pick a target)."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    action = Qt.DropAction.CopyAction
    no_button, no_key = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(50, 50), action, data, no_button, no_key)
    assert window.training.eventFilter(window, enter) and enter.isAccepted()
    event = QDropEvent(QPointF(50, 50), action, data, no_button, no_key)
    assert window.training.eventFilter(window, event) and event.isAccepted()


def load_data(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignal(window.training.dataset_panel.datasetChanged, timeout=LOAD_MS):
        drop(window, folder)


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def menu_action(window, name: str) -> QAction:
    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


def test_class_mismatch_is_a_problem_on_the_final_layer_with_one_click_fix(
    make_window, qtbot, three_classes
):
    window = make_window()  # LeNet-5: dense 10 at the end
    doc = window.document
    last = len(doc.spec.layers)  # row of the final dense layer
    assert doc.report.ok
    load_data(qtbot, window, three_classes)
    want = "units 3 (the data has 3 classes)"
    # The stack, the shape table and the problems list on the Design page.
    problems = window.stack.model().index(last, 0).data(StackRole.PROBLEMS)
    assert problems and "ends in 10 outputs but the data has 3 classes" in problems[0]
    table_tip = window.shape_table.model().index(last, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "the data has 3 classes" in (table_tip or "")
    assert "Cannot train" in window.train_label.text()
    # The Train page says it before Train is pressed, with the same fix as a button.
    window.pages.setCurrentIndex(window.training.train_index)
    panel = window.training.training_panel
    assert not panel.train_button.isEnabled()
    assert "the data has 3 classes" in panel.blocker_label.text()
    assert panel.blocker_fix.isVisible() and panel.blocker_fix.text() == f"Fix: {want}"
    window.pages.setCurrentIndex(0)
    (fix,) = [b for b in window.problems.list.fix_buttons() if b.text() == want]
    click(qtbot, fix)
    assert doc.spec.layers[-1]["units"] == 3 and doc.report.ok
    assert "Ready to train" in window.train_label.text()
    window.pages.setCurrentIndex(window.training.train_index)
    assert panel.train_button.isEnabled() and not panel.blocker_fix.isVisible()
    window.actionUndo.trigger()
    assert doc.spec.layers[-1]["units"] == 10 and not doc.report.ok
    click(qtbot, panel.blocker_fix)  # the Train page's button fixes it too
    assert doc.spec.layers[-1]["units"] == 3 and panel.train_button.isEnabled()


def test_a_preset_opened_on_loaded_data_is_adapted_in_one_undo_step(
    make_window, qtbot, three_classes
):
    window = make_window()
    doc = window.document
    load_data(qtbot, window, three_classes)
    before = doc.spec
    menu_action(window, "actionPreset_mnist-2conv").trigger()
    assert doc.spec.name != before.name and doc.spec.layers[-1]["units"] == 3
    assert doc.report.ok
    assert "units 10 -> 3" in window.actionUndo.text()
    window.actionUndo.trigger()
    assert doc.spec == before


def test_new_from_template_takes_the_class_count_from_the_data(make_window, qtbot, three_classes):
    window = make_window()
    load_data(qtbot, window, three_classes)
    seen: list[int] = []

    def answer() -> None:  # the dialog is modal: answer it from inside its event loop
        dialogs = [d for d in window.findChildren(TemplateDialog) if d.isVisible()]
        if not dialogs:
            QTimer.singleShot(20, answer)
            return
        seen.append(dialogs[0].boxes["classes"].value())
        click(qtbot, dialogs[0].buttons.button(QDialogButtonBox.StandardButton.Ok))  # Create

    QTimer.singleShot(0, answer)
    menu_action(window, "actionNewFromTemplate").trigger()
    assert seen == [3]
    assert window.document.spec.layers[-1]["units"] == 3 and window.document.report.ok


# ---------------------------------------------------------------------- editing


def click_block(qtbot, window, row: int) -> None:
    stack = window.stack
    rect = stack.visualRect(stack.model().index(row, 0))
    qtbot.mouseClick(stack.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_edit_actions_follow_the_selection_at_once(make_window, qtbot):
    window = make_window()
    doc = window.document
    n = len(doc.spec.layers)
    click_block(qtbot, window, 3)  # from the input (nothing to delete) to a layer
    assert window.actionDelete.isEnabled() and window.actionCopy.isEnabled()
    assert window.actionDuplicate.isEnabled() and window.actionCut.isEnabled()
    qtbot.keyClick(window.stack, Qt.Key.Key_Delete)
    assert len(doc.spec.layers) == n - 1
    click_block(qtbot, window, 0)  # the input: nothing to delete or copy
    assert not window.actionDelete.isEnabled() and not window.actionCopy.isEnabled()


def press_undo(qtbot, window) -> None:
    """Ctrl+Z where the keyboard focus is, as a person presses it."""
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_z_undoes_after_a_fix_and_from_a_spin_box(make_window, qtbot):
    window = make_window("alexnet")
    doc = window.document
    window.stack.select_row(0)
    for name in ("height", "width"):
        box = window.inspector.editors[name].box
        box.setFocus()
        box.lineEdit().selectAll()
        qtbot.keyClicks(box, "224")
    assert doc.spec.input.shape[1:] == (224, 224)
    fix = next(b for b in window.problems.list.fix_buttons() if b.text() == "input 227 (→ 55)")
    fix.setFocus()
    click(qtbot, fix)
    assert doc.spec.input.shape[1:] == (227, 227)
    assert QApplication.focusWidget() is window.stack  # not the palette's filter box
    press_undo(qtbot, window)
    assert doc.spec.input.shape[1:] == (224, 224)  # the fix undone, by the key
    # In the spin box that was just typed into, Ctrl+Z undoes the document's edit.
    box = window.inspector.editors["width"].box
    box.setFocus()
    assert QApplication.focusWidget() in (box, box.lineEdit())
    press_undo(qtbot, window)
    assert doc.spec.input.shape[1:] == (224, 227)
    # And from the palette's (empty) filter box.
    window.palette_view.findChild(QLineEdit).setFocus()
    redo_to = doc.undo_stack.index()
    press_undo(qtbot, window)
    assert doc.undo_stack.index() == redo_to - 1


def test_a_fresh_window_with_the_sample_data_is_not_modified(make_window, qtbot, dialogs):
    window = make_window(sample_data=True)
    panel = window.training.dataset_panel
    qtbot.waitUntil(lambda: panel.loaded is not None, timeout=LOAD_MS)
    qtbot.wait(50)
    assert window.document.settings.get("data")  # the sample is the project's data now
    assert not window.document.dirty and not window.isWindowModified()
    assert window.close()
    assert dialogs.shown == []  # no "save the changes to LeNet-5?"


def test_title_names_the_preset_after_new_from_preset(make_window, qtbot):
    window = make_window()
    click_block(qtbot, window, 1)
    filters = window.inspector.editors["filters"].box
    filters.lineEdit().selectAll()
    qtbot.keyClicks(filters, "8")
    assert window.document.dirty
    menu_action(window, "actionPreset_alexnet").trigger()
    assert window.windowTitle().startswith("AlexNet")


def test_a_screenshot_leaves_the_saved_theme_alone(tmp_path, fresh_settings):
    from workbench.app import main

    fresh_settings.setValue("theme", "light")
    fresh_settings.sync()
    shot = tmp_path / "shot.png"
    assert main(["--screenshot", str(shot), "alexnet", "--theme", "dark"]) == 0
    assert shot.stat().st_size > 10_000
    fresh_settings.sync()
    assert fresh_settings.value("theme") == "light"
    assert fresh_settings.value("window/geometry") is None


# ---------------------------------------------------------------------- inspection


def test_mistake_captions_show_the_whole_true_and_predicted_names(qtbot):
    import numpy as np

    from workbench.views.confusion import ConfusionMatrixView

    names = ["T-shirt/top", "Trouser", "Pullover", "Ankle boot"]
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 4
    probs = rng.dirichlet(np.ones(4), size=40).astype(np.float32)
    images = rng.integers(0, 255, size=(40, 1, 28, 28), dtype=np.uint8)
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.set_results(probs, labels, names, images)
    grid = view.mistakes_gallery
    assert grid.count() > 0
    fm = grid.fontMetrics()
    for i in range(grid.count()):
        item = grid.item(i)
        true, rest = item.text().split(" →\n")
        assert true in names and rest.rsplit(" ", 1)[0] in names  # whole names
        room = grid.visualItemRect(item).width()
        assert all(fm.horizontalAdvance(line) < room for line in item.text().split("\n"))
        assert "true" in item.toolTip() and "predicted" in item.toolTip()


# ---------------------------------------------------------------------- smaller points


def test_save_as_starts_in_documents_and_files_follow_the_umask(make_window, tmp_path, monkeypatch):
    import os
    import stat

    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QFileDialog

    docs = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation))
    docs.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the folder the program was started in
    asked: list[str] = []
    target = tmp_path / "saved" / "lenet.cnnwb"
    target.parent.mkdir()

    def save_dialog(_parent, _title, start, _filter):
        asked.append(start)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window = make_window()
    old = os.umask(0o022)
    try:
        window.actionSaveAs.trigger()
    finally:
        os.umask(old)
    assert Path(asked[0]).parent == docs and Path(asked[0]).name == "LeNet-5.cnnwb"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not 0600
    window.actionSaveAs.trigger()
    assert Path(asked[1]).parent == target.parent  # then the project's own folder


def test_the_read_only_banner_draws_a_lock_icon_not_an_emoji(make_window, qtbot):
    window = make_window()
    window.document.set_locked(True, "Training is running: stop it to edit the network.")
    banner = window.lock_banner
    qtbot.waitUntil(banner.isVisible)
    assert "🔒" not in banner.text() and "lock.svg" in banner.text()
    assert "The network is read-only" in banner.text()
    image = banner.grab().toImage()
    blue = sum(  # the icon's #2563eb, drawn at the left of the strip
        1
        for x in range(0, 40)
        for y in range(image.height())
        if (c := image.pixelColor(x, y)).blue() > 200 and c.red() < 80 and c.green() < 130
    )
    assert blue > 20
    window.document.set_locked(False)


def test_page_tabs_stay_in_one_place_across_pages(make_window, qtbot):
    from PySide6.QtWidgets import QTabBar

    window = make_window()
    window.resize(1440, 900)
    qtbot.wait(20)

    def shown_tabs() -> QTabBar:
        (bar,) = [b for b in window.findChildren(QTabBar)
                  if b.isVisible() and b.count() and b.tabText(0) == "Design"]  # fmt: skip
        return bar

    def train_tab_x() -> int:
        bar = shown_tabs()
        return bar.mapTo(window, bar.tabRect(2).center()).x()

    at_design = train_tab_x()
    bar = shown_tabs()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())  # Train
    qtbot.wait(20)
    assert window.pages.currentIndex() == 2 and not window.palette_dock.isVisible()
    assert abs(train_tab_x() - at_design) <= 2
    bar = shown_tabs()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())  # Design
    assert window.pages.currentIndex() == 0 and window.palette_dock.isVisible()


@pytest.mark.parametrize("preset", ["lenet5", "vgg16", "alexnet"])
def test_shape_table_fits_without_scrolling_at_the_smallest_default_size(
    make_window, qtbot, preset
):
    window = make_window(preset)
    window.resize(1200, 800)  # what a 1366×768 laptop screen gets by default
    qtbot.wait(30)
    bar = window.shape_table.horizontalScrollBar()
    assert bar.maximum() == 0 and not bar.isVisible()
