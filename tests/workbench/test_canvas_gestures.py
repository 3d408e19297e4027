"""Canvas gestures driven with the real mouse on the view's viewport: a block dragged onto
an arrow (or onto another block, or near an arrow) moves that layer there in one undo step;
a drag that ends nowhere, or on the block's own arrows, changes nothing."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt

from engine.spec import load_spec


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def edge(canvas, src: int, dst: int):
    return next(e for e in canvas.edges if (e.src, e.dst) == (src, dst))


def drag(qtbot, canvas, row: int, to: QPointF) -> None:
    """Press on block ``row`` (left of its centre, away from the ports), move in steps,
    release over scene point ``to``."""
    block = canvas.blocks[row]
    canvas.ensureVisible(block)
    start = canvas.mapFromScene(block.sceneBoundingRect().center() + QPointF(-40, 0))
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(12, 12))
    end = canvas.mapFromScene(to)
    if not canvas.viewport().rect().contains(end):
        canvas.ensureVisible(to.x() - 5, to.y() - 5, 10, 10)
        end = canvas.mapFromScene(to)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def middle(e) -> QPointF:
    a, b = e.points[-2], e.points[-1]
    return (a + b) / 2


def test_dragging_a_block_onto_an_arrow_moves_the_layer_there_in_one_undo_step(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    # the flatten (row 7) onto the arrow from relu (5) into the second pool (6)
    target = edge(canvas, 5, 6)
    drag(qtbot, canvas, 7, middle(target))
    assert types(window)[4:7] == ["relu", "flatten", "max_pool2d"]
    assert window.document.spec == before.move_layer(6, 5)
    assert window.document.undo_stack.undoText() == "Move Flatten"
    assert window.stack.currentIndex().row() == 6  # the moved layer is selected
    assert not canvas.message.isVisible()
    window.actionUndo.trigger()
    assert window.document.spec == before
    # a while the button is held: the block dims, a copy follows, the arrow lights up
    block = canvas.blocks[2]
    start = canvas.mapFromScene(block.sceneBoundingRect().center() + QPointF(-40, 0))
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(12, 12))
    over = canvas.mapFromScene(middle(edge(canvas, 4, 5)))
    qtbot.mouseMove(viewport, over)
    assert canvas._moving is not None and canvas._moving.target is edge(canvas, 4, 5)
    assert block.opacity() < 1 and not canvas._moving.mark.path().isEmpty()
    window.design.canvas.grab().save("/tmp/canvas_move.png")
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=over)
    assert types(window)[:5] == ["conv2d", "max_pool2d", "conv2d", "relu", "relu"]
    assert canvas.blocks[2].opacity() == 1.0


def test_dropping_a_block_on_another_block_puts_it_after_that_one(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    drag(qtbot, canvas, 2, canvas.blocks[5].sceneBoundingRect().center() + QPointF(40, 0))
    assert types(window)[2:5] == ["conv2d", "relu", "relu"]
    assert window.document.spec == before.move_layer(1, 4)


def test_a_drag_that_ends_nowhere_or_where_the_block_is_changes_nothing(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    depth = window.document.undo_stack.count()
    far = canvas.blocks[3].sceneBoundingRect().center() + QPointF(600, 0)
    drag(qtbot, canvas, 3, far)
    assert window.document.spec == before
    drag(qtbot, canvas, 3, middle(edge(canvas, 3, 4)))  # its own outgoing arrow
    drag(qtbot, canvas, 3, middle(edge(canvas, 2, 3)))  # its own incoming arrow
    assert window.document.spec == before and window.document.undo_stack.count() == depth
    assert all(item.opacity() == 1.0 for item in canvas.blocks.values())
    assert canvas._moving is None and not [
        i for i in canvas.scene().items() if i.zValue() >= 4
    ]  # the copy under the cursor and the highlight are gone


def test_a_block_dropped_near_an_arrow_goes_on_it(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    target = edge(canvas, 8, 9)
    beside = middle(target) + QPointF(10 / canvas.zoom(), 0)  # 10 px right of the line
    assert canvas.edge_at(canvas.mapFromScene(beside)) in (None, target)
    drag(qtbot, canvas, 2, beside)
    assert window.document.spec == load_spec("lenet5").move_layer(1, 7)


def resnet_window(make_window):
    """A window on resnet20: (window, canvas, spec, position of the first add)."""
    window = make_window()
    window.document.replace_network(load_spec("resnet20"), "Load resnet20")
    return window, window.design.canvas, window.document.spec, types(window).index("add")


def test_a_block_moves_onto_a_resnet_shortcut_and_shapes_stay_valid(make_window, qtbot):
    window, canvas, spec, add = resnet_window(make_window)
    main, shortcut = spec.inputs_of(add)
    relu = shortcut + 3  # the relu inside the first block
    lane = edge(canvas, shortcut + 1, add + 1)
    drag(qtbot, canvas, relu + 1, lane.points[2])
    new = window.document.spec
    moved = next(i for i in range(len(new.layers)) if new.inputs_of(i) == (shortcut,)
                 and new.layers[i].type == "relu")  # fmt: skip
    assert new.inputs_of(add) == (main - 1, moved)
    assert not window.document.report.problems
    window.actionUndo.trigger()
    assert window.document.spec == spec


def test_a_merge_and_a_locked_network_refuse_the_move_on_the_canvas(make_window, qtbot):
    window, canvas, spec, add = resnet_window(make_window)
    drag(qtbot, canvas, add + 1, middle(edge(canvas, 0, 1)))
    assert window.document.spec == spec
    assert canvas.message.isVisible() and "joins 2 inputs" in canvas.message.text()
    window.document.set_locked(True, "training is running")
    drag(qtbot, canvas, 2, middle(edge(canvas, 0, 1)))
    assert window.document.spec == spec
    assert "training is running" in canvas.message.text()


def click(qtbot, canvas, row: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    block = canvas.blocks[row]
    canvas.ensureVisible(block)
    at = canvas.mapFromScene(block.sceneBoundingRect().center() + QPointF(-40, 0))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, at)


def set_box(qtbot, box, value: int) -> None:
    """Type a number into a spin box as a person would: select all, type, Enter."""
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, str(value))
    qtbot.keyClick(box, Qt.Key.Key_Tab)


def test_make_inception_block_from_the_edit_menu_with_a_live_preview(make_window, qtbot):
    from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QSpinBox

    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert window.actionMakeInception in edit_menu.actions()
    assert window.actionMakeInception.objectName() == "actionMakeInception"
    click(qtbot, canvas, 4)  # the second conv: 6×14×14 in, 16×10×10 out
    window.actionMakeInception.trigger()
    dialog = window.findChild(QDialog, "inceptionDialog")
    assert dialog is not None and dialog.isVisible()
    preview = dialog.findChild(QLabel, "inceptionPreview")
    assert "was 16×10×10" in preview.text()
    counts = {"inceptionC1": 4, "inceptionC3Reduce": 3, "inceptionC3": 8,
              "inceptionC5Reduce": 2, "inceptionC5": 4, "inceptionPoolProj": 5}  # fmt: skip
    for name, value in counts.items():
        set_box(qtbot, dialog.findChild(QSpinBox, name), value)
    assert "21×14×14" in preview.text()  # 4 + 8 + 4 + 5 channels, H×W kept
    assert f"{dialog.preview.params:,}" in preview.text().replace(" ", "")
    set_box(qtbot, dialog.findChild(QSpinBox, "inceptionC3"), 16)  # the numbers follow
    assert "29×14×14" in preview.text()
    set_box(qtbot, dialog.findChild(QSpinBox, "inceptionC3"), 8)
    dialog.grab().save("/tmp/inception_dialog.png")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    spec = window.document.spec
    concat = types(window).index("concat")
    assert len(spec.inputs_of(concat)) == 4
    branch_starts = [i for i in range(concat) if spec.inputs_of(i) == (2,)]  # the pool's output
    assert [spec.layers[i].type for i in branch_starts] == ["conv2d"] * 3 + ["max_pool2d"]
    assert not window.document.report.problems
    assert window.document.report[concat].output_shape == (21, 14, 14)
    assert window.document.undo_stack.undoText() == "Make Inception block"
    assert window.stack.currentIndex().row() == concat + 1
    assert len(canvas.blocks) == len(spec.layers) + 1  # drawn
    window.actionUndo.trigger()
    assert window.document.spec == before


def test_make_inception_block_refuses_a_flat_layer_and_a_cancel_changes_nothing(make_window, qtbot):
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    click(qtbot, canvas, 8)  # the first dense layer
    window.actionMakeInception.trigger()
    assert window.findChild(QDialog, "inceptionDialog") is None
    assert canvas.message.isVisible() and "flat vector" in canvas.message.text()
    click(qtbot, canvas, 1)
    window.actionMakeInception.trigger()
    dialog = window.findChild(QDialog, "inceptionDialog")
    cancel = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel)
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert window.document.spec == before
