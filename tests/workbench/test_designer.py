"""The designer driven as a person would: drops, typing, fixes, shortcuts, undo."""

from __future__ import annotations

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
    page = QPushButton("training")
    assert window.add_page(page, "Train") == 1
    assert window.pages.tabText(1) == "Train"
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
