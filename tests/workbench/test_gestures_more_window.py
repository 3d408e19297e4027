"""Window gestures that no issue names: shrinking the window to its smallest and growing it
again gives the Layers and Inspector docks their width back (Qt gave every pixel of the
growth to the centre, leaving a palette titled "Lay…"), and a width the person dragged a
dock to is the one kept."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt


def shrink_and_grow(qtbot, window) -> None:
    window.resize(300, 200)  # as small as the window goes
    qtbot.wait(50)
    window.resize(1300, 850)
    qtbot.wait(50)


def test_docks_get_their_width_back_after_the_window_shrinks_and_grows(make_window, qtbot):
    window = make_window()
    window.resize(1300, 850)
    qtbot.wait(50)
    before = (window.palette_dock.width(), window.inspector_dock.width())
    assert min(before) >= 200
    window.resize(300, 200)
    qtbot.wait(50)
    assert window.palette_dock.width() < before[0] - 50  # squeezed: what this is about
    shrink_and_grow(qtbot, window)

    def widths() -> tuple[int, int]:
        return window.palette_dock.width(), window.inspector_dock.width()

    def back() -> bool:
        return all(abs(a - b) <= 4 for a, b in zip(widths(), before, strict=True))

    qtbot.waitUntil(back, timeout=2000)  # at once, as far as a person can tell
    window.resize(4000, 3000)
    qtbot.wait(50)
    assert window.palette_dock.width() <= before[0] + 4  # growth beyond goes to the centre


def test_a_dragged_dock_width_is_the_one_kept(make_window, qtbot):
    window = make_window()
    window.resize(1300, 850)
    qtbot.wait(50)
    dock = window.palette_dock
    # Drag the separator right of the palette 60 px to the left.
    x = dock.geometry().right() + 3
    y = dock.geometry().center().y()
    qtbot.mousePress(window, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    for step in range(1, 7):
        qtbot.mouseMove(window, QPoint(x - 10 * step, y))
    qtbot.mouseRelease(window, Qt.MouseButton.LeftButton, pos=QPoint(x - 60, y))
    qtbot.wait(50)
    dragged = dock.width()
    assert dragged < 230, dragged  # the drag reached the separator
    shrink_and_grow(qtbot, window)
    qtbot.waitUntil(lambda: abs(dock.width() - dragged) <= 4, timeout=2000)


def test_a_narrow_palette_shortens_layer_names_instead_of_cutting_them(
    make_window, qtbot, monkeypatch
):
    from PySide6.QtGui import QFontMetrics, QPainter

    window = make_window()
    window.resize(1200, 800)
    window.resizeDocks([window.palette_dock], [190], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    drawn: list[tuple[str, int, int]] = []  # (text, its width in the painter's font, room)
    real = QPainter.drawText

    def record(painter, *args):
        if len(args) == 3 and isinstance(args[2], str):
            width = QFontMetrics(painter.font()).horizontalAdvance(args[2])
            drawn.append((args[2], width, args[0].width()))
        return real(painter, *args)

    monkeypatch.setattr(QPainter, "drawText", record)
    window.palette_view.tree.viewport().grab()  # paints every visible row
    monkeypatch.undo()
    names = {text: (width, room) for text, width, room in drawn}
    assert "Power-average pool" not in names  # it does not fit at this width...
    shortened = [t for t in names if t.startswith("Power-average") and t.endswith("…")]
    assert shortened, sorted(names)  # ...so it is shortened with an ellipsis
    over = [(t, w, room) for t, (w, room) in names.items() if w > room]
    assert not over  # nothing is drawn wider than its room (cut mid-letter)


def test_a_recent_file_that_is_gone_leaves_the_recent_menu(make_window, qtbot, tmp_path, dialogs):
    window = make_window()
    kept, gone = tmp_path / "kept.cnnwb", tmp_path / "gone.cnnwb"
    assert window.save_to(str(kept)) and window.save_to(str(gone))
    gone.unlink()  # deleted (or moved) outside the workbench
    names = [a.text() for a in window.recent_menu.actions()]
    assert names == ["gone.cnnwb", "kept.cnnwb"]
    window.recent_menu.actions()[0].trigger()
    assert "no such file" in dialogs.last  # says why it did not open...
    qtbot.waitUntil(lambda: [a.text() for a in window.recent_menu.actions()] == ["kept.cnnwb"])
    window.recent_menu.actions()[0].trigger()  # ...and the others still open
    assert window.document.path == str(kept)


def test_the_empty_confusion_matrix_names_no_classes(make_window, qtbot, tmp_path):
    from workbench.views.confusion import ConfusionMatrixView

    window = make_window()
    training = window.training
    window.pages.setCurrentIndex(training.inspect_index)
    view = window.findChild(ConfusionMatrixView, "confusionMatrix")
    tabs = training.inspect_tabs
    (tab,) = [i for i in range(tabs.count()) if tabs.tabText(i) == "Confusion matrix"]
    tabs.setCurrentIndex(tab)  # as a click on the tab does
    qtbot.wait(50)
    assert view.isVisible()
    view.plot.grab().save(str(tmp_path / "confusion.png"))
    for name in ("left", "bottom"):
        axis = view.plot.getAxis(name)
        assert "x0.001" not in axis.labelString()  # not "-500 ... 500 (x0.001)" classes
        assert all(not level for level in axis._tickLevels)  # no class numbers at all
    assert "reopen a run" in view.plot.plotItem.titleLabel.text


def test_a_failed_save_says_why_without_the_temporary_file(make_window, tmp_path, dialogs):
    window = make_window()
    target = tmp_path / "not a folder" / "p.cnnwb"
    (tmp_path / "not a folder").write_text("a file where a folder should be")
    assert not window.save_to(str(target))
    text = dialogs.last
    assert str(target) in text and ".tmp" not in text  # the file chosen, not the temporary one
    assert "Save As" in text  # what to do instead


def test_pasting_deeply_nested_text_into_the_stack_is_ignored(make_window, qtbot):
    import sys

    from PySide6.QtGui import QGuiApplication

    window = make_window()
    before = window.document.spec
    errors: list[BaseException] = []
    hook = sys.excepthook
    sys.excepthook = lambda _t, e, _tb: errors.append(e)  # a slot's exception lands here
    try:
        window.stack.setFocus()
        window.stack.select_row(3)
        for text in ("[" * 5000, '{"type": ' * 3000, "x" * 100_000):
            QGuiApplication.clipboard().setText(text)
            qtbot.keyClick(window.stack, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    finally:
        sys.excepthook = hook
    assert not errors, errors  # it raised RecursionError out of Paste
    assert window.document.spec == before  # not layers: nothing pasted...
    assert "clipboard holds no layers" in window.statusBar().currentMessage()  # ...and why
    QGuiApplication.clipboard().setText('{"type": "relu"}')  # a layer as text still pastes
    qtbot.keyClick(window.stack, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.spec.layers) == len(before.layers) + 1


def test_the_inspector_shows_a_convolutions_whole_form(make_window, qtbot, tmp_path):
    from PySide6.QtWidgets import QScrollArea

    window = make_window()
    window.resize(1320, 860)  # the first size on a large screen
    window.stack.select_row(1)  # LeNet-5's first convolution: kernel, stride, padding pairs
    qtbot.wait(50)
    inspector = window.inspector
    scroll = inspector.findChild(QScrollArea)
    # The form scrolls only up and down: all of it must be as wide as what shows it.
    assert scroll.widget().width() <= scroll.viewport().width()
    link = inspector.editors["kernel"].link  # the "1:1" button at the end of the kernel row
    right = link.mapTo(scroll.viewport(), link.rect().topRight()).x()
    assert right < scroll.viewport().width(), (right, scroll.viewport().width())
    window.grab().save(str(tmp_path / "inspector.png"))


def test_recent_projects_of_one_name_show_their_folders(make_window, tmp_path):
    window = make_window()
    for folder in ("cats", "dogs"):
        (tmp_path / folder).mkdir()
        assert window.save_to(str(tmp_path / folder / "project.cnnwb"))
    names = [a.text() for a in window.recent_menu.actions()]
    assert names == ["project.cnnwb — dogs", "project.cnnwb — cats"]  # not twice the same


def test_the_predict_tab_before_a_prediction_shows_no_class_axis(make_window, qtbot):
    window = make_window()
    training = window.training
    window.pages.setCurrentIndex(training.inspect_index)
    tabs = training.inspect_tabs
    (tab,) = [i for i in range(tabs.count()) if tabs.tabText(i) == "Predict"]
    tabs.setCurrentIndex(tab)
    qtbot.wait(50)
    plot = training.predict.plot
    assert plot.isVisible()
    assert all(not level for level in plot.getAxis("left")._tickLevels or [[1]])  # no "1.0"
