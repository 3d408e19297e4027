"""The designer driven as a person would: drops, typing, fixes, shortcuts, undo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from engine.spec import load_spec
from workbench import style
from workbench.models.layer_stack_model import StackRole
from workbench.models.shape_table_model import COL_OUTPUT
from workbench.views.inspector import Inspector
from workbench.views.layer_stack import LayerStackView
from workbench.views.shape_table import ShapeTable


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def between(stack: LayerStackView, row: int) -> QPoint:
    """A point in the gap just above block ``row`` (where the arrow is drawn)."""
    rect = stack.visualRect(stack.model().index(row, 0))
    return QPoint(rect.center().x(), rect.top() + 4)


def drop(
    stack: LayerStackView, data: QMimeData, pos: QPoint, modifiers=Qt.KeyboardModifier.NoModifier
):
    """Deliver drag-enter, drag-move and drop to the viewport, as a real drag does."""
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    button = Qt.MouseButton.LeftButton
    viewport = stack.viewport()
    enter = QDragEnterEvent(pos, actions, data, button, modifiers)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, actions, data, button, modifiers)
    QApplication.sendEvent(viewport, move)
    event = QDropEvent(QPointF(pos), actions, data, button, modifiers, QEvent.Type.Drop)
    QApplication.sendEvent(viewport, event)
    return event


def table_output(window, row: int) -> str:
    return window.shape_table.output_text(row)


def test_window_has_named_parts_and_room_for_more_pages(make_window):
    window = make_window()
    for name, cls in (
        ("layerStack", LayerStackView),
        ("inspector", Inspector),
        ("shapeTable", ShapeTable),
    ):
        assert isinstance(window.findChild(cls, name), cls)
    assert window.findChild(type(window.palette_view), "palette") is window.palette_view
    for name in (
        "actionNew",
        "actionOpen",
        "actionSave",
        "actionSaveAs",
        "actionUndo",
        "actionRedo",
        "actionDelete",
        "actionCopy",
        "actionPaste",
        "actionDuplicate",
    ):
        assert window.findChild(type(window.actionNew), name) is not None, name
    assert window.actionUndo.shortcut().toString() == "Ctrl+Z"
    assert window.width() >= 1200 and window.height() >= 800
    assert window.pages.objectName() == "pages" and window.pages.tabText(0) == "Design"
    assert [window.pages.tabText(i) for i in range(window.pages.count())] == [
        "Design",
        "Data",
        "Train",
        "Inspect",
        "Learn",
    ]
    page = QPushButton("extra")
    index = window.add_page(page, "Extra")
    assert index == 5 and window.pages.tabText(index) == "Extra"
    assert types(window) == [layer.type for layer in load_spec("lenet5").layers]


def test_drag_from_palette_inserts_between_blocks(make_window):
    window = make_window()
    stack = window.stack
    before = types(window)
    data = window.palette_view.mime_data_for("dropout")  # what a drag of that entry carries
    event = drop(stack, data, between(stack, 3))  # between blocks 2 and 3
    assert event.isAccepted()
    assert types(window) == [*before[:2], "dropout", *before[2:]]
    assert stack.model().index(3, 0).data() == "Dropout"
    assert stack.currentIndex().row() == 3  # the new block is selected and in the inspector
    assert window.inspector.title.text() == "Dropout" or "Dropout" in window.inspector.title.text()
    assert window.shape_table.model().rowCount() == len(before) + 3
    window.actionUndo.trigger()
    assert types(window) == before


def test_drag_a_block_to_reorder(make_window):
    window = make_window()
    stack = window.stack
    before = types(window)
    stack.select_row(3)  # the first max pool
    data = stack.model().mimeData(stack.selectionModel().selectedRows())
    drop(stack, data, between(stack, 1))  # above the first conv
    assert types(window) == [before[2], before[0], before[1], *before[3:]]
    assert window.document.undo_stack.undoText().startswith("Move")
    # Ctrl held: a copy, as in a file manager
    data = stack.model().mimeData([stack.model().index(1, 0)])
    drop(stack, data, between(stack, 2), Qt.KeyboardModifier.ControlModifier)
    assert types(window)[:2] == [before[2], before[2]]


def test_dragging_a_merge_alone_in_the_stack_is_refused_in_words(make_window):
    # Put on one connection, an add would take that one input only (the canvas refuses the
    # same move): the network stays as it was and the status bar says why.
    window = make_window("resnet20")
    stack, doc = window.stack, window.document
    add = next(i for i, layer in enumerate(doc.spec.layers) if layer.type == "add")
    before, steps = doc.spec, doc.undo_stack.count()
    stack.select_row(add + 1)
    data = stack.model().mimeData(stack.selectionModel().selectedRows())
    drop(stack, data, between(stack, 2))
    assert doc.spec == before and doc.undo_stack.count() == steps
    text = window.statusBar().currentMessage()
    assert f"Add (residual) #{add + 1} joins 2 inputs" in text and "branches" in text


def test_typing_a_kernel_size_updates_shapes_live(make_window, qtbot):
    window = make_window()
    assert table_output(window, 1) == "6×28×28"
    window.stack.select_row(1)
    kernel = window.inspector.editors["kernel"]
    assert kernel.toolTip().startswith("kernel:")
    kernel.h.lineEdit().selectAll()
    qtbot.keyClicks(kernel.h, "3")
    assert window.document.spec.layers[0]["kernel"] == (3, 3)  # square lock on by default
    assert table_output(window, 1) == "6×30×30"
    assert window.stack.model().index(1, 0).data(StackRole.OUTPUT) == "6×30×30"
    assert "(32 − 3 + 2·0)/1 + 1 = 30" in window.stack.model().index(1, 0).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert window.stack.currentIndex().row() == 1  # typing keeps the selection


def red_pixels(widget, rect) -> int:
    image = widget.grab(rect).toImage()
    red = QColor(style.PROBLEM_COLOR)
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - red.red()) + abs(c.green() - red.green()) + abs(c.blue() - red.blue())
                < 60
            ):
                count += 1
    return count


def test_alexnet_at_224_is_marked_and_fixed_in_one_click(make_window, qtbot):
    window = make_window("alexnet")
    stack, table = window.stack, window.shape_table
    window.stack.select_row(0)
    for name in ("height", "width"):
        box = window.inspector.editors[name].box
        box.lineEdit().selectAll()
        qtbot.keyClicks(box, "224")
    assert window.document.spec.input.shape == (3, 224, 224)
    problems = stack.model().index(1, 0).data(StackRole.PROBLEMS)
    assert problems and "54.25" in problems[0]
    assert red_pixels(stack.viewport(), stack.visualRect(stack.model().index(1, 0))) > 20
    assert red_pixels(stack.viewport(), stack.visualRect(stack.model().index(4, 0))) == 0  # conv #4
    cell = table.model().index(1, COL_OUTPUT)
    assert cell.data(Qt.ItemDataRole.BackgroundRole) == style.problem_fill()
    assert "54.25" in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert len(window.problems.list.cards) == len(window.document.report.problems) >= 2
    assert "Cannot train: 4 problems" in window.train_label.text()
    fix = next(b for b in window.problems.list.fix_buttons() if b.text() == "input 227 (→ 55)")
    qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
    assert window.document.spec.input.shape == (3, 227, 227)
    assert window.document.report.ok and not window.problems.list.cards
    assert not stack.model().index(1, 0).data(StackRole.PROBLEMS)
    assert table.model().index(1, COL_OUTPUT).data(Qt.ItemDataRole.BackgroundRole) is None
    assert red_pixels(stack.viewport(), stack.visualRect(stack.model().index(1, 0))) == 0
    assert "Ready to train" in window.train_label.text()


def test_undo_redo_every_kind_of_edit(make_window, qtbot):
    window = make_window()
    doc, stack = window.document, window.stack
    original = doc.spec
    stack.select_row(1)
    filters = window.inspector.editors["filters"].box
    filters.lineEdit().selectAll()
    qtbot.keyClicks(filters, "12")
    assert doc.spec.layers[0]["filters"] == 12
    stack.setFocus()
    qtbot.keyClick(stack, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # duplicate
    assert len(doc.spec.layers) == len(original.layers) + 1
    stack.select_row(2)
    qtbot.keyClick(stack, Qt.Key.Key_Delete)
    assert len(doc.spec.layers) == len(original.layers)
    assert doc.dirty and window.isWindowModified()
    steps = doc.undo_stack.count()
    assert steps == 3  # typing "1" then "12" merged into one step
    for _ in range(steps):
        qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.spec == original and not doc.dirty
    assert window.inspector.editors["filters"].value() == 6  # the form follows undo
    for _ in range(steps):
        window.actionRedo.trigger()
    assert doc.spec.layers[0]["filters"] == 12 and len(doc.spec.layers) == len(original.layers)


def test_copy_paste_and_palette_activation(make_window, qtbot):
    window = make_window()
    doc, stack = window.document, window.stack
    n = len(doc.spec.layers)
    stack.select_row(1)
    window.actionCopy.trigger()
    stack.select_row(n)
    window.actionPaste.trigger()
    assert doc.spec.layers[-1] == doc.spec.layers[0]
    window.palette_view.tree.activated.emit(window.palette_view.index_of("batch_norm"))
    assert doc.spec.layers[-1].type == "batch_norm"
    window.actionCut.trigger()
    assert len(doc.spec.layers) == n + 1
    assert "batch_norm" in QApplication.clipboard().text()


def test_locked_document_refuses_edits_and_says_why(make_window):
    window = make_window()
    doc, stack = window.document, window.stack
    before = doc.spec
    doc.set_locked(True, "training in progress")
    assert "training in progress" in window.inspector.banner.text()
    assert not window.inspector.form_host.isEnabled()
    assert not window.lock_banner.isHidden()
    assert not window.actionUndo.isEnabled() and not window.actionPaste.isEnabled()
    data = window.palette_view.mime_data_for("relu")
    viewport = stack.viewport()
    pos = between(stack, 2)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter.ignore()
    QApplication.sendEvent(viewport, enter)
    assert not enter.isAccepted()
    stack.dropEvent(
        QDropEvent(
            QPointF(pos),
            Qt.DropAction.CopyAction,
            data,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )
    assert not doc.set_layer_field(0, "filters", 3)
    assert doc.spec == before
    doc.set_locked(False)
    assert window.inspector.form_host.isEnabled() and window.lock_banner.isHidden()


def test_template_dialog_previews_and_creates(make_window, qtbot):
    from workbench.views.template_dialog import TemplateDialog

    window = make_window()
    dialog = TemplateDialog((1, 28, 28), window)
    qtbot.addWidget(dialog)
    rows = dialog.preview.model().rowCount()
    dialog.boxes["m"].setValue(3)
    assert dialog.preview.model().rowCount() == rows + 3  # conv, relu, pool
    dialog.boxes["m"].setValue(5)  # 28 → 14 → 7 → 3 → 1 → 0: a problem, shown in red
    assert "⚠" in dialog.summary.text()
    dialog.boxes["m"].setValue(2)
    spec = dialog.spec()
    assert window.document.replace_network(spec, "New from template")
    assert window.document.spec == spec
    window.actionUndo.trigger()
    assert window.document.spec == load_spec("lenet5")


# ---------------------------------------------------------------------- closing, files, hover


def test_closing_with_unsaved_changes_asks_first(make_window, dialogs):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    window.stack.select_row(1)
    window.actionDelete.trigger()
    edited = window.document.spec
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert "Unsaved changes" in dialogs.last and window.isVisible()
    assert window.document.spec == edited and window.document.dirty
    assert window.document.undo_stack.count() == 1  # the edit can still be undone
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.close()
    assert not window.isVisible()


def test_a_clean_window_closes_without_asking(make_window, dialogs):
    window = make_window()
    assert window.close() and dialogs.shown == []


def drop_files(window, *paths: str) -> QDropEvent:
    """Drag files from a file manager onto the window and let go."""
    from PySide6.QtCore import QUrl

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = window.rect().center()
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    enter.ignore()
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return enter
    event = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier(0),
        QEvent.Type.Drop,
    )
    QApplication.sendEvent(window, event)
    return event


def test_dropping_a_spec_or_project_file_on_the_window_opens_it(make_window, tmp_path, dialogs):
    window = make_window()
    spec_path = tmp_path / "two-conv.json"
    load_spec("mnist-2conv").save(spec_path)
    event = drop_files(window, spec_path)
    assert event.isAccepted()
    assert window.document.spec == load_spec("mnist-2conv")
    assert window.document.path == ""  # a spec is not a project: Save asks where
    project_path = str(tmp_path / "alex.cnnwb")
    other = make_window("alexnet")
    assert other.save_to(project_path)
    window.stack.select_row(1)
    window.actionDelete.trigger()  # unsaved work: the drop asks first
    assert drop_files(window, project_path).isAccepted()
    assert "Unsaved changes" in dialogs.last
    assert window.document.spec == load_spec("alexnet") and window.document.path == project_path
    assert window.windowTitle().startswith("alex.cnnwb")


def test_dropping_other_files_is_refused(make_window, tmp_path):
    window = make_window()
    before = window.document.spec
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not drop_files(window, text).isAccepted()
    assert window.document.spec == before


def test_recent_files_menu_opens_a_file(make_window, tmp_path):
    window = make_window("alexnet")
    path = str(tmp_path / "alex.cnnwb")
    assert window.save_to(path)
    window.new_project()
    assert window.document.path == "" and window.document.spec == load_spec("lenet5")
    assert window.recent_menu.isEnabled()
    entry = window.recent_menu.actions()[0]
    assert entry.text() == "alex.cnnwb" and entry.toolTip() == path
    entry.trigger()
    assert window.document.path == path and window.document.spec == load_spec("alexnet")
    assert not window.document.dirty


def hover_text(view, rect) -> str:
    """What a person reads after resting the mouse on ``rect`` of ``view``'s viewport."""
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    viewport = view.viewport()
    pos = rect.center()
    QToolTip.hideText()
    event = QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    return QToolTip.text()


def test_hovering_a_block_or_a_row_shows_the_arithmetic(make_window):
    window = make_window("mnist-2conv")
    stack, table = window.stack, window.shape_table
    assert window.document.spec.layers[0].type == "conv2d"
    block = hover_text(stack, stack.visualRect(stack.model().index(1, 0)))
    assert "(28 − 5 + 2·2)/1 + 1 = 28" in block
    assert "parameters" in block
    row = hover_text(table, table.visualRect(table.model().index(1, COL_OUTPUT)))
    assert "(28 − 5 + 2·2)/1 + 1 = 28" in row
    assert hover_text(table, table.visualRect(table.model().index(0, COL_OUTPUT))) != row


# ---------------------------------------------------------------------- layout


def test_shape_table_shows_every_column_at_the_default_size(make_window):
    from workbench.main_window import DOCK_WIDTHS

    for preset in ("alexnet", "vgg16"):
        window = make_window(preset)
        window.resize(1440, 900)
        window.resizeDocks(
            [window.palette_dock, window.inspector_dock],
            list(DOCK_WIDTHS),
            Qt.Orientation.Horizontal,
        )
        QApplication.processEvents()
        table = window.shape_table
        header = table.horizontalHeader()
        assert not table.horizontalScrollBar().isVisible(), preset
        right = header.sectionViewportPosition(6) + header.sectionSize(6)
        assert right <= table.viewport().width()
        natural = table.natural_widths()
        for col in (0, 3, 4, 5, 6):  # numbers are never cut
            assert header.sectionSize(col) >= natural[col], (preset, col)
        window.close()


def test_shape_table_elides_names_before_scrolling(make_window):
    from workbench.models.shape_table_model import COL_LAYER
    from workbench.views.shape_table import SHRINKABLE

    window = make_window("alexnet")
    table = window.shape_table
    natural = table.natural_widths()
    least = dict(SHRINKABLE[::-1])[COL_LAYER]
    narrow = sum(natural) - (natural[1] - least) // 2
    table.resize(narrow + table.width() - table.viewport().width(), table.height())
    table.fit_columns()
    header = table.horizontalHeader()
    assert header.sectionSize(1) < natural[1]  # the Layer names give way
    assert all(header.sectionSize(c) >= natural[c] for c in (3, 4, 5, 6))


def test_problems_take_one_line_until_there_are_problems(make_window, qtbot):
    window = make_window("alexnet")
    area = window.design.problems_area
    line = window.problems.header.sizeHint().height()
    assert area.height() <= line + 4
    assert window.shape_table.height() > 8 * area.height()
    window.document.set_input(height=224, width=224)
    qtbot.waitUntil(lambda: area.height() > 3 * line)
    assert len(window.problems.list.cards) == 4
    window.actionUndo.trigger()
    qtbot.waitUntil(lambda: area.height() <= line + 4)


def test_palette_descriptions_wrap_instead_of_being_cut(make_window):
    from PySide6.QtGui import QFontMetrics

    from workbench.models.palette_model import SUMMARY_ROLE
    from workbench.views.palette import wrap_text

    window = make_window()
    tree = window.palette_view.tree
    ix = window.palette_view.index_of("max_pool2d")
    summary = ix.data(SUMMARY_ROLE)
    assert summary == "Keeps the largest value in each window"
    assert summary in ix.data(Qt.ItemDataRole.ToolTipRole)
    width = tree.viewport().width() - 48
    lines = wrap_text(summary, tree.font(), width, 3)
    assert " ".join(lines) == summary and len(lines) > 1  # wrapped, nothing elided
    height = tree.visualRect(ix).height()
    assert height >= QFontMetrics(tree.font()).height() * (1 + len(lines))
    assert not tree.verticalScrollBar().isVisible() or window.height() < 900


def test_template_preview_has_no_selection(make_window, qtbot):
    from workbench.views.template_dialog import TemplateDialog

    window = make_window()
    dialog = TemplateDialog((1, 28, 28), window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.boxes["m"].setValue(3)
    assert not dialog.preview.selectionModel().hasSelection()
    assert dialog.preview.focusPolicy() == Qt.FocusPolicy.NoFocus


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "googlenet"])
def test_shape_table_measures_columns_as_qt_would(make_window, name):
    window = make_window(name)
    window.document.set_input(height=100, width=100)  # problems: bold rows
    table = window.shape_table
    header = table.horizontalHeader()
    qt = [0 if header.isSectionHidden(c) else max(table.sizeHintForColumn(c),
                                                  header.sectionSizeHint(c))
          for c in range(header.count())]  # fmt: skip
    assert table.natural_widths() == qt
