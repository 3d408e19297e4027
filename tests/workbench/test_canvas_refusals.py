"""Edit ▸ Add residual connection and Make Inception block where they do not apply: a
selection that includes the input, or the gesture made from another page, is refused with a
sentence the person can see, and the network stays as it was."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt


def click(qtbot, canvas, row: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    block = canvas.blocks[row]
    canvas.ensureVisible(block)
    at = canvas.mapFromScene(block.sceneBoundingRect().center() + QPointF(-40, 0))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, at)


def test_a_residual_around_the_input_is_refused_naming_the_input(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    steps = window.document.undo_stack.count()
    for rows in ((0, 1), (0,), (0, 1, 2)):
        canvas.message.hide()
        click(qtbot, canvas, rows[0])
        for row in rows[1:]:
            click(qtbot, canvas, row, Qt.KeyboardModifier.ControlModifier)
        assert 0 in [ix.row() for ix in canvas.selection.selectedRows()]
        window.actionAddResidual.trigger()
        assert window.document.spec == before  # was: a shortcut around conv 1 alone
        assert window.document.undo_stack.count() == steps
        assert canvas.message.isVisible() and "input" in canvas.message.text()
    # the layers alone are wrapped, the shortcut starting at the input
    click(qtbot, canvas, 1)
    window.actionAddResidual.trigger()
    spec = window.document.spec
    add = [layer.type for layer in spec.layers].index("add")
    assert -1 in [j for i in range(add + 1) for j in spec.inputs_of(i)]


def test_a_refusal_from_another_page_is_said_in_the_status_bar(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    click(qtbot, canvas, 2)
    click(qtbot, canvas, 4, Qt.KeyboardModifier.ControlModifier)
    before = window.document.spec
    window.pages.setCurrentIndex(window.pages.count() - 1)  # another page: the canvas hidden
    assert not canvas.isVisible()
    window.actionAddResidual.trigger()
    assert window.document.spec == before
    assert "consecutive" in window.statusBar().currentMessage()


def wire(qtbot, canvas, src: int, dst: int) -> None:
    """Drag from block ``src``'s output port onto block ``dst``, as a person would."""
    viewport = canvas.viewport()
    canvas.ensureVisible(canvas.blocks[src])
    start = canvas.mapFromScene(canvas.blocks[src].output_port())
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    canvas.ensureVisible(canvas.blocks[dst])
    end = canvas.mapFromScene(canvas.blocks[dst].sceneBoundingRect().center())
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def test_a_connection_into_a_merge_joins_it_and_a_refused_one_asks_nothing(make_window, qtbot):
    from engine.spec import load_spec

    window = make_window()
    window.document.replace_network(load_spec("resnet20"), "Load resnet20")
    canvas = window.design.canvas
    asked: list[tuple[int, int]] = []

    def choose(src: int, dst: int) -> str:
        asked.append((src, dst))
        return "concat"

    canvas.choose_merge = choose
    spec = window.document.spec
    add = next(i for i, x in enumerate(spec.layers) if x.type == "add")
    main, shortcut = spec.inputs_of(add)
    # the shortcut's source feeds the add already: refused at once, no question first
    wire(qtbot, canvas, shortcut + 1, add + 1)
    assert asked == [] and window.document.spec == spec
    assert canvas.message.isVisible() and "already" in canvas.message.text()
    # into the add itself: one more input of that add (a concat was never the question)
    other = spec.inputs_of(main)[0]  # the layer before the block's last batch norm
    wire(qtbot, canvas, other + 1, add + 1)
    assert asked == []
    after = window.document.spec
    assert after.layers[add].type == "add" and other in after.inputs_of(add)
    assert window.document.undo_stack.undoText() == "Connect with add"
    # into a layer with one input: the person is asked
    wire(qtbot, canvas, 1, 3)
    assert asked == [(1, 3)]


def test_delete_with_blocks_and_the_arrow_between_them_selected_deletes_the_blocks(
    make_window, qtbot
):
    window = make_window()
    canvas = window.design.canvas
    before = [layer.type for layer in window.document.spec.layers]
    click(qtbot, canvas, 4)
    click(qtbot, canvas, 5, Qt.KeyboardModifier.ControlModifier)
    arrow = next(e for e in canvas.edges if (e.src, e.dst) == (4, 5))
    a, b = arrow.points[0], arrow.points[-1]
    at = canvas.mapFromScene((a + b) / 2)
    assert canvas.edge_at(at) is arrow and canvas.block_at(at) is None
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier, at)  # fmt: skip
    assert arrow.isSelected() and canvas.blocks[4].isSelected() and canvas.blocks[5].isSelected()
    canvas.setFocus()
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    assert [layer.type for layer in window.document.spec.layers] == before[:3] + before[5:]
    assert window.document.undo_stack.undoText() == "Delete 2 layers"
    assert not canvas.message.isVisible()  # was: 'relu #5 takes only conv2d #4: delete ...'


def test_paste_with_an_empty_clipboard_says_there_is_nothing_to_paste(make_window, qtbot):
    from PySide6.QtWidgets import QApplication

    window = make_window()
    canvas = window.design.canvas
    QApplication.clipboard().clear()  # its mimeData() is None then (offscreen, some desktops)
    before = window.document.spec
    click(qtbot, canvas, 3)
    canvas.setFocus()
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    window.actionPaste.trigger()  # was: AttributeError 'NoneType' object has no 'hasFormat'
    assert window.document.spec == before
    assert "Nothing to paste" in window.statusBar().currentMessage()


def test_layers_with_required_fields_come_from_the_palette_with_defaults(make_window, qtbot):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    window = make_window()
    canvas = window.design.canvas
    before = [layer.type for layer in window.document.spec.layers]
    # dragged onto the arrow between the first pool and the second conv
    arrow = next(e for e in canvas.edges if (e.src, e.dst) == (3, 4))
    a, b = arrow.points[0], arrow.points[-1]
    canvas.ensureVisible(arrow)
    pos = canvas.mapFromScene((a + b) / 2)
    data = window.palette_view.mime_data_for("conv2d")
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    viewport = canvas.viewport()
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()  # was refused: the layer could not be made without filters
    QApplication.sendEvent(viewport, QDragMoveEvent(pos, *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args, QEvent.Type.Drop))
    spec = window.document.spec
    assert [layer.type for layer in spec.layers] == [*before[:3], "conv2d", *before[3:]]
    assert spec.layers[3]["filters"] >= 1 and spec.layers[3]["kernel"] == (3, 3)
    # Enter on "Fully connected" in the palette puts one after the selected block
    click(qtbot, canvas, 1)
    tree = window.palette_view.tree
    tree.setCurrentIndex(window.palette_view.index_of("dense"))
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Return)  # was: SpecError 'dense.units: missing'
    assert window.document.spec.layers[1].type == "dense"
