"""Transfer learning in the window: Edit ▸ Replace the Head, Edit ▸ Freeze Selected Layers.

"Replace the head" (``actionReplaceHead``) sets the final dense layer to as many units as the
loaded data has classes (engine.transfer.replace_head), as one undoable edit, and keeps the
rest of the weights: the newest run with a checkpoint (an imported model, or the last
training) becomes the run's starting point (the training settings' ``init_from``, when none
is chosen yet), and the status bar says what is kept and what starts afresh
(engine.transfer.initial_weights' notes). Freezing is the padlock on each canvas block
(workbench.views.canvas_items), or, from the keyboard, Freeze Selected Layers
(``actionFreezeSelected``), which freezes the layers selected in the stack (or trains them
again when all of them are frozen) in one undo step.

    install_transfer_actions(window)    # once, after the window's menus exist
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu

from workbench.window_menus import make_action

__all__ = ["freeze_selected", "install_transfer_actions", "replace_head", "weights_source"]

_STATUS_MS = 12_000


def install_transfer_actions(window: QMainWindow) -> QAction:
    """Add Replace the Head to the window's Edit menu (``window.actionReplaceHead``), kept
    enabled only while there is loaded data, a final dense layer and no run holding the
    network. Returns the action; a second call returns the same one."""
    existing = window.findChild(QAction, "actionReplaceHead")
    if existing is not None:
        return existing
    action = make_action(
        window, "actionReplaceHead", "Replace the &Head", lambda: replace_head(window),
        tip="Give the final dense layer one unit per class of the loaded data, keeping the "
        "rest of the weights (of the newest run or imported model)",
    )  # fmt: skip
    window.actionReplaceHead = action
    freeze = make_action(
        window, "actionFreezeSelected", "&Freeze Selected Layers",
        lambda: freeze_selected(window),
        tip="Freeze the selected layers (their parameters stay as loaded), or train them "
        "again when all of them are frozen",
    )  # fmt: skip
    window.actionFreezeSelected = freeze
    menu = _edit_menu(window)
    if menu is not None:
        menu.addSeparator()
        menu.addActions([freeze, action])
    else:
        window.addActions([freeze, action])
    document = window.document

    def update(*_args) -> None:
        action.setEnabled(_blocker(document) == "")
        action.setToolTip(_blocker(document) or action.statusTip())
        freeze.setEnabled(not document.locked and bool(document.spec.layers))

    document.specChanged.connect(update)
    document.lockedChanged.connect(update)
    update()
    return action


def freeze_selected(window: QMainWindow) -> bool:
    """Freeze the layers selected in the stack, or, when every one of them is frozen, train
    them again: one undo step. True when the network changed."""
    document = window.document
    indices = window.stack.selected_layers()
    if not indices:
        window.statusBar().showMessage("Select the layers to freeze first", _STATUS_MS)
        return False
    layers = list(document.spec.layers)
    freeze = any(layers[i].trainable for i in indices)
    for i in indices:
        layers[i] = layers[i].with_trainable(not freeze)
    what = layers[indices[0]].kind.label if len(indices) == 1 else f"{len(indices)} layers"
    text = f"{'Freeze' if freeze else 'Unfreeze'} {what}"
    # No focus row: the selection stays, so a second press undoes what the first did.
    return document.edit(document.spec.with_layers(layers), text)


def _edit_menu(window: QMainWindow) -> QMenu | None:
    for act in window.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == "Edit":
            return act.menu()
    return None


def _blocker(document) -> str:
    """Why the head cannot be replaced now ("" when it can)."""
    from engine.head import final_dense

    if document.locked:
        return document.lock_reason or "a run holds the network"
    if not document.data_classes:
        return "Load a data set first: the head gets one unit per class of the data"
    if final_dense(document.spec) is None:
        return "The network does not end in a dense layer: there is no head to replace"
    return ""


def weights_source(document) -> str | None:
    """The checkpoint folder of the newest run that has one on disk (an imported model's
    run too), else None."""
    for run in reversed(document.runs):
        folder = (
            run.get("checkpoint") if isinstance(run, dict) else getattr(run, "checkpoint", None)
        )
        if folder and Path(folder).exists():
            return str(folder)
    return None


def replace_head(window: QMainWindow) -> bool:
    """What the action does; True when the network changed. Says why in the status bar when
    it cannot (no data, no dense head, a run holding the network)."""
    from engine.head import final_dense
    from engine.transfer import TransferError, initial_weights
    from engine.transfer import replace_head as replaced

    document, bar = window.document, window.statusBar()
    blocker = _blocker(document)
    if blocker:
        bar.showMessage(blocker, _STATUS_MS)
        return False
    spec, classes = document.spec, int(document.data_classes)
    index = final_dense(spec)
    units = int(spec.layers[index]["units"])
    new = replaced(spec, classes)
    if new == spec:
        bar.showMessage(f"The head already has {classes} units, one per class", _STATUS_MS)
        return False
    source, kept = weights_source(document), ""
    if source is not None:
        try:
            weights, notes = initial_weights(source, new)
        except TransferError:
            source = None
        else:
            fresh = sum("left at its initial value" in n for n in notes)
            kept = (
                f"; training starts from {_run_name(source)}: {len(weights)} tensors kept, "
                f"{fresh} start afresh"
            )
    text = f"Replace the head ({units} → {classes} units)"
    if not document.edit(new, text, focus=index + 1):
        return False
    if source is not None:
        _start_from(document, source)
    else:
        kept = "; no trained weights to keep yet (train or import a model first)"
    bar.showMessage(
        f"Replaced the head: {units} → {classes} units for the data's {classes} classes{kept}",
        _STATUS_MS,
    )
    return True


def _run_name(checkpoint: str) -> str:
    p = Path(checkpoint)
    return (p.parent if p.name == "checkpoint" else p).name


def _start_from(document, source: str) -> None:
    """Make ``source`` the training settings' ``init_from`` unless one is chosen already."""
    settings: dict[str, Any] = document.settings
    training = dict(settings.get("training") or {})
    if training.get("init_from"):
        return
    training["init_from"] = source
    settings["training"] = training
    document.set_settings(settings)
