"""Transfer learning in the window, driven as a person would: a click on a block's padlock
freezes the layer (one undo step, the totals split into trainable and frozen), and Edit ▸
Replace the Head gives the final dense layer one unit per class of the loaded data while the
rest of the weights of the newest run are kept."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from test_first_hour import load_data, three_classes  # noqa: F401  (a fixture)

import engine
from engine.checkpoint import save_checkpoint
from engine.data import Preprocessing
from engine.train_config import TrainConfig
from engine.transfer import freeze_up_to
from workbench.models.shape_table_model import COL_LAYER
from workbench.transfer_actions import install_transfer_actions


def click_padlock(qtbot, canvas, row: int) -> None:
    block = canvas.blocks[row]
    canvas.ensureVisible(block)
    pos = canvas.mapFromScene(block.padlock_centre())
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_clicking_a_padlock_freezes_the_layer_in_one_undo_step(make_window, qtbot, tmp_path):
    window = make_window()  # lenet5: conv2d_0 has 5·5·1·6 + 6 = 156 parameters
    canvas, document = window.design.canvas, window.document
    total = document.report.total_params
    assert "frozen" not in window.totals_label.text()
    assert not canvas.blocks[1].data_.frozen and canvas.blocks[1].data_.has_params

    click_padlock(qtbot, canvas, 1)
    assert not document.spec.layers[0].trainable
    assert all(layer.trainable for layer in document.spec.layers[1:])
    assert document.undo_stack.undoText() == "Freeze Convolution"
    assert canvas.blocks[1].data_.frozen  # the block shows it
    assert "Frozen" in canvas.blocks[1].toolTip()
    assert window.totals_label.text().startswith(
        f"{total:,} parameters ({total - 156:,} trainable, 156 frozen)"
    )
    assert document.report.frozen_params == 156
    assert window.stack.currentIndex().row() == 1  # the edited layer is the current one
    table = window.shape_table.model()
    assert table.index(1, COL_LAYER).data() == "Convolution · frozen"  # and the table row
    assert table.index(2, COL_LAYER).data() == "ReLU"

    click_padlock(qtbot, canvas, 4)  # the second convolution: 5·5·6·16 + 16 = 2,416
    assert document.report.frozen_params == 156 + 2416
    assert "2,572 frozen" in window.totals_label.text()
    shot = tmp_path / "frozen_canvas.png"
    assert canvas.grab().save(str(shot))

    window.actionUndo.trigger()
    assert document.report.frozen_params == 156
    window.actionUndo.trigger()
    assert all(layer.trainable for layer in document.spec.layers)
    assert not canvas.blocks[1].data_.frozen
    assert "frozen" not in window.totals_label.text()

    click_padlock(qtbot, canvas, 1)  # and a second click unfreezes, undoably too
    click_padlock(qtbot, canvas, 1)
    assert document.spec.layers[0].trainable
    assert document.undo_stack.undoText() == "Unfreeze Convolution"


def test_a_locked_network_refuses_the_padlock_with_a_message(make_window, qtbot):
    window = make_window()
    canvas, document = window.design.canvas, window.document
    document.set_locked(True, "Training: the network is in use")
    click_padlock(qtbot, canvas, 1)
    assert document.spec.layers[0].trainable
    assert "in use" in canvas.message.text()


def _imported_run(tmp_path, spec) -> str:
    net = engine.build(spec, seed=4)
    folder = save_checkpoint(
        tmp_path / "imported-1",
        spec=spec,
        config=TrainConfig(),
        preprocessing=Preprocessing(*spec.input.shape).to_dict(),
        class_names=tuple(str(i) for i in range(net.num_classes)),
        epoch=0,
        batch=0,
        history={},
        weights=net.state_dict(),
        optimizer_state={"kind": "sgd", "steps": 0, "lr": 0.01, "momentum": 0.0,
                         "weight_decay": 0.0, "nesterov": False},
    )  # fmt: skip
    return str(folder)


def test_replace_the_head_fits_the_loaded_three_classes_and_keeps_the_weights(
    make_window,
    qtbot,
    tmp_path,
    three_classes,  # noqa: F811
):
    window = make_window()
    action = install_transfer_actions(window)
    assert window.findChild(QAction, "actionReplaceHead") is action
    assert install_transfer_actions(window) is action
    document = window.document
    assert not action.isEnabled()  # no data yet
    assert "Load a data set" in action.toolTip()
    # An imported model (lenet5 with trained weights) whose early layers are frozen.
    spec = freeze_up_to(document.spec, "max_pool2d_5")
    document.replace_network(spec, "Import model")
    checkpoint = _imported_run(tmp_path, spec)
    document.add_run({"id": "imported-1", "checkpoint": checkpoint, "status": "completed"})

    load_data(qtbot, window, three_classes)
    assert document.data_classes == 3
    assert action.isEnabled()
    assert "data has 3 classes" in document.report.problems[0].message
    action.trigger()
    layers = document.spec.layers
    assert layers[-1]["units"] == 3 and layers[-1].trainable
    assert [layer.trainable for layer in layers[:6]] == [False] * 6  # the frozen part stays
    assert document.report.ok
    assert document.undo_stack.undoText() == "Replace the head (10 → 3 units)"
    message = window.statusBar().currentMessage()
    assert "10 → 3 units" in message and "imported-1: 8 tensors kept, 2 start afresh" in message
    assert document.settings["training"]["init_from"] == checkpoint
    assert window.training.training_panel.config().init_from == checkpoint  # the Train page's
    frozen = document.report.frozen_params
    assert f"{frozen:,} frozen" in window.totals_label.text()

    action.trigger()  # nothing left to do
    assert "already has 3 units" in window.statusBar().currentMessage()
    window.actionUndo.trigger()
    assert document.spec.layers[-1]["units"] == 10
    np.testing.assert_equal(document.data_classes, 3)


def test_freeze_selected_layers_from_the_keyboard_in_one_undo_step(make_window, qtbot):
    window = make_window()
    install_transfer_actions(window)
    document, stack = window.document, window.stack
    stack.setFocus()
    stack.setCurrentIndex(stack.model().index(1, 0))  # the first convolution
    qtbot.keyClick(stack, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(stack, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert stack.selected_layers() == [0, 1, 2]
    freeze = window.findChild(QAction, "actionFreezeSelected")
    freeze.trigger()
    assert [layer.trainable for layer in document.spec.layers[:4]] == [False, False, False, True]
    assert document.undo_stack.undoText() == "Freeze 3 layers"
    assert all(window.design.canvas.blocks[row].data_.frozen for row in (1, 2, 3))
    freeze.trigger()  # all of them frozen: trained again
    assert all(layer.trainable for layer in document.spec.layers)
    window.actionUndo.trigger()
    assert not document.spec.layers[2].trainable
