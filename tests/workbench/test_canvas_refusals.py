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
