"""The network canvas driven as a person would: clicks, Ctrl+click, Ctrl+wheel, Ctrl+0, a drag
from an output port, Delete on a connection, a palette drop on an arrow, Edit ▸ Add residual
connection, and Undo. The layout is checked where a person would see it go wrong: a chain is
one column, a shortcut runs beside its block, Inception branches stand side by side."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QGraphicsView, QMenu

from engine.spec import load_spec
from workbench.views.canvas_items import BlockItem


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def open_preset(window, name: str):
    window.document.replace_network(load_spec(name), f"Load {name}")
    return window.design.canvas


def click(qtbot, canvas, row: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    block = canvas.blocks[row]
    canvas.ensureVisible(block)
    at = canvas.mapFromScene(block.sceneBoundingRect().center() + QPointF(-40, 0))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifiers, at)


def edge(canvas, src: int, dst: int):
    return next(e for e in canvas.edges if (e.src, e.dst) == (src, dst))


def test_canvas_is_on_the_design_page_and_draws_a_chain_as_a_column(make_window):
    window = make_window()
    canvas = window.findChild(QGraphicsView, "networkCanvas")
    assert canvas is window.design.canvas and canvas.isVisible()
    n = len(window.document.spec.layers)
    assert sorted(canvas.blocks) == list(range(n + 1))
    xs = {round(item.pos().x()) for item in canvas.blocks.values()}
    ys = [item.pos().y() for _, item in sorted(canvas.blocks.items())]
    assert len(xs) == 1 and ys == sorted(ys)  # one column, input on top
    # every arrow carries the shape that flows along it, as the shape table computes it
    report = window.document.report
    assert len(canvas.edges) == n
    for e in canvas.edges:
        src_shape = (
            window.document.spec.input.shape if e.src == 0 else report[e.src - 1].output_shape
        )
        assert e.label == "×".join(map(str, src_shape))
    assert edge(canvas, 3, 4).label == "6×14×14"


def test_resnet_shortcut_runs_beside_its_block_and_inception_branches_side_by_side(make_window):
    window = make_window()
    canvas = open_preset(window, "resnet20")
    spec = window.document.spec
    add = types(window).index("add")
    _main, shortcut = spec.inputs_of(add)
    lane = edge(canvas, shortcut + 1, add + 1)
    between = [canvas.blocks[r + 1] for r in range(shortcut + 1, add)]
    assert len(lane.points) > 3  # it passes the block's ranks...
    for p in lane.points[1:-1]:  # ... beside them, never through one
        assert not any(b.sceneBoundingRect().contains(p) for b in between)

    canvas = open_preset(window, "inception-cifar")
    spec = window.document.spec
    concat = types(window).index("concat")
    firsts = []
    for src in spec.inputs_of(concat):  # walk each branch back to where it starts
        at = src
        while spec.inputs_of(at) and len(spec.wiring.consumers[spec.inputs_of(at)[0]]) == 1:
            at = spec.inputs_of(at)[0]
        firsts.append(canvas.blocks[at + 1].pos())
    assert len({round(p.y()) for p in firsts}) == 1  # the branches start on one rank
    assert len({round(p.x()) for p in firsts}) == 4  # side by side


def test_a_click_selects_the_layer_everywhere_and_the_inspector_edits_it(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    click(qtbot, canvas, 4)  # the second convolution
    assert window.stack.currentIndex().row() == 4
    assert window.stack.selected_layers() == [3]
    assert "Convolution" in window.inspector.title.text()
    window.inspector.editors["filters"].box.setValue(20)
    assert window.document.spec.layers[3]["filters"] == 20
    assert canvas.blocks[4].isSelected()  # still selected after the rebuild
    window.stack.select_row(2)  # and the other way round
    assert canvas.blocks[2].isSelected() and not canvas.blocks[4].isSelected()


def test_delete_and_undo_from_the_canvas(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = types(window)
    click(qtbot, canvas, 7)  # flatten
    canvas.setFocus()
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    assert types(window) == before[:6] + before[7:]
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert types(window) == before


def test_add_residual_on_two_selected_blocks_and_undo(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    before = window.document.spec
    click(qtbot, canvas, 4)  # conv 16@5×5
    click(qtbot, canvas, 5, Qt.KeyboardModifier.ControlModifier)  # its relu
    assert window.stack.selected_layers() == [3, 4]
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert window.actionAddResidual in edit_menu.actions()
    window.actionAddResidual.trigger()
    spec = window.document.spec
    assert types(window)[3:8] == ["conv2d", "relu", "conv2d", "add", "max_pool2d"]
    assert spec.layers[5]["filters"] == 16  # the projection shortcut to 16×10×10
    assert not window.document.report.problems
    assert window.stack.currentIndex().row() == 7  # the add is selected
    assert edge(canvas, 3, 6).label == "6×14×14"  # the shortcut's arrow, drawn
    assert window.document.undo_stack.undoText() == "Add residual connection"
    window.actionUndo.trigger()
    assert window.document.spec == before


def test_add_residual_refusal_is_shown_on_the_canvas(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    click(qtbot, canvas, 2)
    click(qtbot, canvas, 4, Qt.KeyboardModifier.ControlModifier)
    before = window.document.spec
    window.actionAddResidual.trigger()
    assert window.document.spec == before
    assert canvas.message.isVisible() and "consecutive" in canvas.message.text()


def test_drag_from_an_output_port_connects_with_the_chosen_merge(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    canvas.choose_merge = lambda src, dst: "concat"  # the person picks Concatenate
    src, dst = canvas.blocks[2], canvas.blocks[3]  # relu (6×28×28) → max pool
    canvas.ensureVisible(src)
    start = canvas.mapFromScene(src.output_port())
    end = canvas.mapFromScene(dst.sceneBoundingRect().center())
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(30, 20))
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    # relu already feeds the pool; from the first conv instead:
    assert canvas.message.isVisible() and "already" in canvas.message.text()
    src = canvas.blocks[1]
    start = canvas.mapFromScene(src.output_port())
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    spec = window.document.spec
    assert types(window)[2] == "concat" and spec.inputs_of(2) == (1, 0)
    assert window.document.report[2].output_shape == (12, 28, 28)
    # select the new connection and press Delete: the network is as it was
    concat_in = edge(canvas, 1, 3)
    canvas.scene().clearSelection()
    concat_in.setSelected(True)
    canvas.setFocus()
    qtbot.keyClick(viewport, Qt.Key.Key_Delete)
    assert types(window) == [layer.type for layer in load_spec("lenet5").layers]
    assert window.document.spec.is_chain


def test_palette_drop_on_a_shortcut_arrow_inserts_on_that_connection(make_window):
    window = make_window()
    canvas = open_preset(window, "resnet20")
    add = types(window).index("add")
    main, shortcut = window.document.spec.inputs_of(add)
    lane = edge(canvas, shortcut + 1, add + 1)
    point = lane.points[2]  # on the lane, beside the block
    canvas.ensureVisible(point.x() - 5, point.y() - 5, 10, 10)
    pos = canvas.mapFromScene(point)
    data = window.palette_view.mime_data_for("dropout")
    actions = Qt.DropAction.CopyAction
    args = (actions, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    viewport = canvas.viewport()
    enter = QDragEnterEvent(pos, *args)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(viewport, QDragMoveEvent(pos, *args))
    assert canvas.edge_at(pos) is not None
    QApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args, QEvent.Type.Drop))
    spec = window.document.spec
    assert spec.layers[add].type == "dropout" and spec.inputs_of(add) == (shortcut,)
    assert spec.inputs_of(add + 1) == (main, add)


def test_ctrl_wheel_zooms_and_ctrl_0_fits(make_window, qtbot):
    window = make_window()
    canvas = open_preset(window, "densenet121")
    viewport = canvas.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    zoom = canvas.zoom()

    def wheel(steps: int, modifiers) -> None:
        event = QWheelEvent(
            centre, canvas.mapToGlobal(centre.toPoint()).toPointF(), QPoint(0, 0),
            QPoint(0, 120 * steps), Qt.MouseButton.NoButton, modifiers,
            Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(viewport, event)

    wheel(-2, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() < zoom * 0.8
    wheel(1, Qt.KeyboardModifier.ControlModifier)
    assert zoom * 0.8 < canvas.zoom() < zoom
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    seen = canvas.mapToScene(viewport.rect()).boundingRect()
    assert seen.contains(canvas.scene().itemsBoundingRect().adjusted(1, 1, -1, -1))
    assert all(isinstance(b, BlockItem) for b in canvas.blocks.values())


def test_typing_a_field_moves_no_block_and_a_new_network_is_shown_from_its_top(make_window):
    window = make_window()
    canvas = open_preset(window, "inception-cifar")
    assert canvas.zoom() < 1.0  # four branches side by side: zoomed out to show them all
    top = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert top.contains(canvas.blocks[0].sceneBoundingRect())
    where = {row: item.pos() for row, item in canvas.blocks.items()}
    conv = types(window).index("conv2d")
    window.stack.select_row(conv + 1)
    window.inspector.editors["filters"].box.setValue(40)
    assert window.document.spec.layers[conv]["filters"] == 40
    assert {row: item.pos() for row, item in canvas.blocks.items()} == where
    assert canvas.blocks[conv + 1].data_.shape == "40×32×32"


def test_the_overview_shows_while_the_graph_does_not_fit_and_moves_the_view(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert not canvas.minimap.isVisible()  # lenet5 fits once zoomed out: no overview
    canvas = open_preset(window, "densenet121")
    minimap = canvas.minimap
    assert minimap.isVisible() and minimap.objectName() == "canvasMinimap"
    before = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    bottom = QPoint(minimap.width() // 2, minimap.height() - 4)
    qtbot.mouseClick(minimap.viewport(), Qt.MouseButton.LeftButton, pos=bottom)
    after = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert after.center().y() > before.center().y() + 10_000  # near the classifier now
    assert canvas.blocks[len(window.document.spec.layers)].sceneBoundingRect().intersects(after)
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert not minimap.isVisible()  # everything fits: no overview needed


def test_a_mismatched_add_is_marked_and_fixed_from_the_canvas_menu(make_window, qtbot):
    window = make_window()
    canvas = window.design.canvas
    canvas.choose_merge = lambda src, dst: "add"
    viewport = canvas.viewport()
    src, dst = canvas.blocks[1], canvas.blocks[6]  # conv 1 (6×28×28) into pool 2 (16×10×10)
    canvas.ensureVisible(src)
    start = canvas.mapFromScene(src.output_port())
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    canvas.ensureVisible(dst)  # the view scrolls along as a person's drag would make it
    start = canvas.mapFromScene(src.output_port())
    end = canvas.mapFromScene(dst.sceneBoundingRect().center())
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    add = types(window).index("add")
    assert window.document.spec.inputs_of(add) == (4, 0)
    assert canvas.blocks[add + 1].data_.problems  # the merge is marked
    red = [(e.src, e.dst) for e in canvas.edges if e.mismatch]
    assert red == [(1, add + 1)]  # the shortcut, not the main path
    shown: list[str] = []

    def choose(menu: QMenu, at) -> None:  # the person reads the menu and picks the fix
        shown.extend(a.text() for a in menu.actions())
        fixes = [a for a in menu.actions() if a.text().startswith("Fix: projection")]
        if fixes:  # (an exception raised here would cross Qt's event handling)
            fixes[0].trigger()

    canvas.popup = choose
    block = canvas.blocks[add + 1]
    canvas.ensureVisible(block)
    pos = canvas.mapFromScene(block.sceneBoundingRect().center())
    QApplication.sendEvent(
        viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, canvas.mapToGlobal(pos))
    )
    assert "Add residual connection" in shown and "&Delete" in shown
    assert not window.document.report.problems
    assert "conv2d" in types(window)[add : add + 2]  # the projection shortcut came with it
    assert not any(e.mismatch for e in canvas.edges)


def test_repeated_residual_blocks_collapse_to_one_block_until_expanded(make_window, qtbot):
    window = make_window()
    canvas = open_preset(window, "resnet20")
    every = len(canvas.blocks)
    canvas.set_collapsed(True)
    groups = [item for item in canvas.blocks.values() if len(item.rows) > 1]
    titles = sorted(item.data_.title for item in groups)
    assert titles == ["2× Residual block", "3× Residual block"]  # stage 3 ends in the head
    assert len(canvas.blocks) == every - sum(len(g.rows) - 1 for g in groups)
    stage = next(g for g in groups if g.data_.title.startswith("3×"))
    assert stage.data_.shape == "16×32×32"
    assert [e.label for e in canvas.edges if e.dst == stage.row] == ["16×32×32"]
    click(qtbot, canvas, stage.row)  # selecting it selects its 21 layers in the stack
    assert window.stack.selected_layers() == [r - 1 for r in stage.rows]
    at = canvas.mapFromScene(stage.sceneBoundingRect().center())
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert not any(item.data_.title.startswith("3×") for item in canvas.blocks.values())
    assert len(canvas.blocks) == every - sum(len(g.rows) - 1 for g in groups if g is not stage)
    canvas.set_collapsed(False)
    assert len(canvas.blocks) == every


def test_repeats_are_found_between_forks_of_identical_blocks():
    from workbench.models.repeats import find_repeats

    assert find_repeats(load_spec("lenet5")) == []  # a chain has no forks
    assert find_repeats(load_spec("inception-cifar")) == []  # its modules differ in filters
    dense = find_repeats(load_spec("densenet121"))
    assert {r.title for r in dense} == {"Dense layer"}
    assert [r.count for r in dense] == [
        5,
        11,
        23,
        15,
    ]  # each block's last layer ends in a transition
    assert all(len(r.rows) == 7 * r.count for r in dense)  # bn relu conv bn relu conv concat


def test_the_overview_follows_a_theme_switch(make_window, qtbot):
    from workbench import style

    window = make_window()
    minimap = open_preset(window, "densenet121").minimap
    assert minimap.isVisible()
    corner = QPoint(2, 2)  # the background: no block there

    def background():
        minimap.viewport().repaint()
        return minimap.viewport().grab().toImage().pixelColor(corner)

    light = background()
    style.apply_theme(QApplication.instance(), "dark")
    try:
        qtbot.wait(20)
        dark = background()
        assert dark.lightness() < light.lightness() - 60  # not the light theme's white
        assert dark == window.design.canvas.palette().alternateBase().color()
    finally:
        style.apply_theme(QApplication.instance(), "light")
