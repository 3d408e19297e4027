"""Delete, Cut, Copy, Paste and Duplicate on branched networks, from the canvas as a person
would (a click, then the key or the Edit menu): the shortcuts and branches around the edited
layers stay connected, copies get ids of their own, and each gesture is one undo step."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from test_canvas import click, open_preset

from engine.spec import LayerSpec
from workbench.models.mime import layers_mime


def opened(make_window, name: str):
    """A new window on preset ``name``: (window, canvas, its spec, the undo index)."""
    window = make_window()
    canvas = open_preset(window, name)
    return window, canvas, window.document.spec, window.document.undo_stack.index()


def row_of(window, layer_id: str) -> int:
    return window.document.spec.wiring.ids.index(layer_id) + 1


def healthy(window) -> None:
    """No wiring problem and no shape problem: every connection still found its layer."""
    spec = window.document.spec
    assert spec.wiring.problems == ()
    assert [p.message for p in window.document.report.problems] == []


def one_step(window, before, steps: int) -> None:
    stack = window.document.undo_stack
    assert stack.index() == steps + 1
    after = window.document.spec
    window.actionUndo.trigger()
    assert window.document.spec == before
    window.actionRedo.trigger()
    assert window.document.spec == after


def test_delete_of_a_layer_a_shortcut_names_keeps_the_shortcut(make_window, qtbot):
    window = make_window()
    for name, layer_id in (("resnet20", "s1b1_out"), ("resnet20", "s1b1_b_bn"),
                           ("googlenet", "pool2")):  # fmt: skip
        canvas = open_preset(window, name)
        before, steps = window.document.spec, window.document.undo_stack.index()
        row = row_of(window, layer_id)
        click(qtbot, canvas, row)
        canvas.setFocus()
        qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
        spec = window.document.spec
        assert len(spec.layers) == len(before.layers) - 1 and layer_id not in spec.wiring.ids
        healthy(window)  # was: 'unknown id "s1b1_out"' on the next block's add
        # what took the deleted layer's output takes what it took
        gone = row - 1
        source = before.inputs_of(gone)[0]
        for consumer in before.wiring.consumers[gone]:
            assert source in spec.inputs_of(consumer - 1)
        one_step(window, before, steps)


def test_cut_of_several_layers_of_a_branched_network_is_one_step(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "googlenet")
    first = row_of(window, "pool2")
    click(qtbot, canvas, first - 1)  # the relu before pool2, then pool2 itself
    click(qtbot, canvas, first, Qt.KeyboardModifier.ControlModifier)
    window.actionCut.trigger()
    assert len(window.document.spec.layers) == len(before.layers) - 2
    healthy(window)
    one_step(window, before, steps)


def test_duplicate_gives_the_copy_an_id_of_its_own(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "densenet-cifar")
    assert before.layers[0].id == "conv0"
    click(qtbot, canvas, 1)
    window.actionDuplicate.trigger()
    spec = window.document.spec
    assert [layer.type for layer in spec.layers[:2]] == ["conv2d", "conv2d"]
    assert spec.inputs_of(1) == (0,) and spec.layers[1].id not in (None, "conv0")
    healthy(window)  # was: duplicate id "conv0"
    one_step(window, before, steps)


def test_duplicate_of_a_residual_block_makes_a_second_block_after_it(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "resnet20")
    end = row_of(window, "s1b1_out")
    start = before.wiring.ids.index("stem_relu") + 2  # the block's first conv
    click(qtbot, canvas, start)
    for row in range(start + 1, end + 1):
        click(qtbot, canvas, row, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.selected_layers() == list(range(start - 1, end))
    window.actionDuplicate.trigger()
    spec = window.document.spec
    n = end - start + 1
    assert len(spec.layers) == len(before.layers) + n
    healthy(window)
    copy_add = spec.layers[end - 1 + n - 1]
    assert copy_add.type == "add"  # the copy's add sums its own branch and the block's output
    add_at = end - 1 + n - 1
    assert set(spec.inputs_of(add_at)) == {add_at - 1, end - 1}
    # what took the block's output (the next block's conv and its shortcut) takes the copy's
    for consumer in before.wiring.consumers[end - 1]:
        assert end - 1 + n in spec.inputs_of(consumer + n)
    one_step(window, before, steps)


def test_paste_after_the_last_layer_of_a_branch_goes_into_that_branch(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "googlenet")
    QApplication.clipboard().setMimeData(layers_mime([LayerSpec.create("dropout")]))
    row = row_of(window, "inception3a_1x1_relu")  # the 1×1 branch's end; next: the 3×3 branch
    click(qtbot, canvas, row)
    window.actionPaste.trigger()
    spec = window.document.spec
    pasted = spec.layers.index(next(x for x in spec.layers if x.type == "dropout"))
    assert spec.inputs_of(pasted) == (row - 1,)
    concat = spec.wiring.ids.index("inception3a_cat")
    assert pasted in spec.inputs_of(concat)
    assert before.inputs_of(row) == (before.wiring.ids.index("pool2"),)  # the 3×3 branch's
    assert spec.inputs_of(row + 1) == (spec.wiring.ids.index("pool2"),)  # first: still pool2's
    healthy(window)
    one_step(window, before, steps)


def test_two_layers_dropped_on_a_shortcut_arrow_go_on_that_connection(make_window):
    window = make_window()
    canvas = open_preset(window, "resnet20")
    spec = window.document.spec
    add = next(i for i, x in enumerate(spec.layers) if x.type == "add")
    main, shortcut = spec.inputs_of(add)
    lane = next(e for e in canvas.edges if (e.src, e.dst) == (shortcut + 1, add + 1))
    point = lane.points[2]
    canvas.ensureVisible(point.x() - 5, point.y() - 5, 10, 10)
    pos = canvas.mapFromScene(point)
    data = layers_mime([LayerSpec.create("dropout"), LayerSpec.create("relu")])
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    viewport = canvas.viewport()
    QApplication.sendEvent(viewport, QDragEnterEvent(pos, *args))
    QApplication.sendEvent(viewport, QDragMoveEvent(pos, *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args, QEvent.Type.Drop))
    after = window.document.spec
    assert len(after.layers) == len(spec.layers) + 2
    drop = next(i for i, x in enumerate(after.layers) if x.type == "dropout")
    assert after.inputs_of(drop) == (shortcut,)  # after the shortcut's source
    assert after.layers[drop + 1].type == "relu" and after.inputs_of(drop + 1) == (drop,)
    assert after.layers[add + 2].type == "add"
    assert set(after.inputs_of(add + 2)) == {main + 2, drop + 1}  # the main path is kept
    healthy(window)


def test_delete_of_an_identity_shortcuts_add_leaves_the_main_path(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "resnet20")
    add = next(i for i, x in enumerate(before.layers) if x.type == "add")
    main = max(before.inputs_of(add))  # the block's last batch norm (the shortcut: stem_relu)
    assert before.layers[main].type == "batch_norm"
    click(qtbot, canvas, add + 1)
    canvas.setFocus()
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    spec = window.document.spec
    assert spec.inputs_of(add) == (main,)  # the relu after it: one input, the main path
    healthy(window)  # was: 'a relu layer takes 1 input, got 2'
    one_step(window, before, steps)


def test_copies_of_scattered_layers_paste_as_a_chain(make_window, qtbot):
    window = make_window()
    canvas = open_preset(window, "googlenet")
    conv = row_of(window, "inception3a_1x1_relu")  # the layer after it: the 3×3 branch's
    assert window.document.spec.inputs_of(conv) != (conv - 1,)  # first conv, on pool2
    click(qtbot, canvas, 2)  # a batch norm of the stem, and that conv
    click(qtbot, canvas, conv + 1, Qt.KeyboardModifier.ControlModifier)
    window.actionCopy.trigger()
    before, steps = window.document.spec, window.document.undo_stack.index()
    click(qtbot, canvas, 3)
    window.actionPaste.trigger()
    after = window.document.spec
    assert len(after.layers) == len(before.layers) + 2
    assert after.inputs_of(3) == (2,) and after.inputs_of(4) == (3,)  # the two, in a row
    assert after.inputs_of(5) == (4,)  # and what came after the relu takes them
    assert after.wiring.problems == ()  # was: the first copy used by no later layer
    one_step(window, before, steps)


def test_duplicate_across_a_branch_end_leaves_nothing_unconnected(make_window, qtbot):
    window, canvas, before, steps = opened(make_window, "googlenet")
    end = row_of(window, "inception3a_1x1_relu")  # the 1×1 branch's bn and relu, then the
    click(qtbot, canvas, end - 1)  # 3×3 branch's first conv
    click(qtbot, canvas, end, Qt.KeyboardModifier.ControlModifier)
    click(qtbot, canvas, end + 1, Qt.KeyboardModifier.ControlModifier)
    window.actionDuplicate.trigger()
    assert len(window.document.spec.layers) == len(before.layers) + 3
    healthy(window)  # was: the copy of the 1×1 branch's relu used by no later layer
    one_step(window, before, steps)


def test_a_copied_add_pasted_elsewhere_takes_what_it_is_pasted_after(make_window, qtbot):
    window = make_window()
    canvas = open_preset(window, "resnet20")
    spec = window.document.spec
    adds = [i for i, x in enumerate(spec.layers) if x.type == "add"]
    click(qtbot, canvas, adds[0] + 1)
    window.actionCopy.trigger()
    before, steps = window.document.spec, window.document.undo_stack.index()
    anchor = adds[1] - 1  # the second block's last batch norm
    click(qtbot, canvas, anchor + 1)
    window.actionPaste.trigger()
    after = window.document.spec
    pasted = anchor + 1
    assert after.layers[pasted].type == "add" and anchor in after.inputs_of(pasted)
    assert pasted in after.inputs_of(pasted + 1)  # the block's own add takes the copy
    assert after.wiring.problems == ()  # was: the batch norm used by no later layer
    one_step(window, before, steps)


def test_every_platform_binding_of_undo_and_redo_works_on_the_canvas(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    click(qtbot, canvas, 4)
    canvas.setFocus()
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    after = window.document.spec
    control, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Z, control)
    assert window.document.spec == before
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Z, control | shift)  # was: only Ctrl+Y
    assert window.document.spec == after
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Z, control)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Y, control)
    assert window.document.spec == after


def test_dragging_several_blocks_of_a_resnet_in_the_stack_keeps_every_connection(make_window):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QDragMoveEvent as Move

    window = make_window()
    open_preset(window, "resnet20")
    stack = window.stack
    before, steps = window.document.spec, window.document.undo_stack.index()
    ids = before.wiring.ids
    # the stem's batch norm and relu (which the first shortcut names), dragged below the
    # first residual block
    rows = [ids.index("stem_relu"), ids.index("stem_relu") + 1]
    assert [before.layers[r - 1].type for r in rows] == ["batch_norm", "relu"]
    stack.clearSelection()
    selection = stack.selectionModel()
    model = stack.model()
    for r in rows:
        selection.select(model.index(r, 0), selection.SelectionFlag.Select)
    data = model.mimeData(selection.selectedRows())
    target = ids.index("s1b1_out") + 2  # the gap below the block's relu
    stack.scrollTo(model.index(target, 0))
    rect = stack.visualRect(model.index(target, 0))
    pos = QPoint(rect.center().x(), rect.top() + 4)
    args = (Qt.DropAction.MoveAction, data, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    viewport = stack.viewport()
    QApplication.sendEvent(viewport, QDragEnterEvent(pos, *args))
    QApplication.sendEvent(viewport, Move(pos, *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args, QEvent.Type.Drop))
    spec = window.document.spec
    assert window.document.undo_stack.undoText() == "Move 2 layers"
    assert spec.wiring.problems == ()  # was: the add taking "stem_relu", now after it
    relu = spec.wiring.ids.index("stem_relu")  # its id kept
    assert spec.inputs_of(relu - 1) == (spec.wiring.ids.index("s1b1_out"),)
    first_add = next(i for i, x in enumerate(spec.layers) if x.type == "add")
    assert 0 in spec.inputs_of(first_add)  # the shortcut now from the stem's conv
    assert relu in spec.inputs_of(relu + 1)  # the next block takes the moved relu
    one_step(window, before, steps)


def test_a_drop_or_a_move_onto_the_arrow_into_a_collapsed_repeat(make_window, qtbot):
    from workbench.views.canvas_hover import edge_tip

    window = make_window()
    canvas = open_preset(window, "resnet20")
    canvas.set_collapsed(True)
    stage = next(b.row for b in canvas.blocks.values() if b.data_.title.startswith("3×"))
    into = next(e for e in canvas.edges if e.dst == stage)
    spec = window.document.spec
    src = into.src - 1
    assert "into #4 " in edge_tip(spec, window.document.report, into)  # its first conv
    before, steps = spec, window.document.undo_stack.index()
    a, b = into.points[0], into.points[-1]
    canvas.ensureVisible(into)
    pos = canvas.mapFromScene((a + b) / 2)
    assert canvas.edge_at(pos) is into
    data = window.palette_view.mime_data_for("dropout")
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    viewport = canvas.viewport()
    QApplication.sendEvent(viewport, QDragEnterEvent(pos, *args))
    QApplication.sendEvent(viewport, QDragMoveEvent(pos, *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args, QEvent.Type.Drop))
    # was: GraphEditError "there is no such connection" raised out of the drop
    after = window.document.spec
    drop = src + 1
    assert after.layers[drop].type == "dropout" and after.inputs_of(drop) == (src,)
    assert [j for j in range(len(after.layers)) if src in after.inputs_of(j)] == [drop]
    assert [j for j in range(len(after.layers)) if drop in after.inputs_of(j)] == [
        drop + 1, next(i for i, x in enumerate(after.layers) if x.type == "add")]  # fmt: skip
    healthy(window)
    one_step(window, before, steps)
    # the head's dense layer dragged onto that arrow: it moves there (then the head is broken)
    window.actionUndo.trigger()
    canvas = window.design.canvas
    into = next(e for e in canvas.edges if e.dst == stage)
    assert canvas.move_block(len(before.layers), into)
    moved = window.document.spec
    assert moved.layers[src + 1].type == "dense" and moved.wiring.problems == ()
