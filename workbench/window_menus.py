"""The main window's actions (with their standard objectNames and shortcuts) and menus.

The layer edits (cut, copy, paste, duplicate, delete) belong to the layer stack, so that in
a spin box Delete and Ctrl+C edit its text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMainWindow

from engine.spec import preset_names
from workbench import style
from workbench.model_files import export_onnx_dialog, import_model_dialog
from workbench.models.mime import decode

PRESET_TITLES = {
    "lenet5": "LeNet-5",
    "mnist-2conv": "MNIST 2-conv",
    "alexnet": "AlexNet",
    "vgg16": "VGG-16",
    "fashion": "Fashion-MNIST compact",
}


def make_action(window: QMainWindow, name: str, text: str, slot, shortcut=None, tip="") -> QAction:
    """An action of ``window`` (objectName ``name``; its status tip and tooltip ``tip``)."""
    action = QAction(text, window)
    action.setObjectName(name)
    if isinstance(shortcut, QKeySequence.StandardKey):
        # every binding of the platform (Redo: Ctrl+Y and Ctrl+Shift+Z), not only the first
        action.setShortcuts(shortcut)
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def make_actions(window: QMainWindow) -> None:
    """Give ``window`` its actions, as ``window.actionNew`` and so on (standard objectNames)."""
    K = QKeySequence.StandardKey

    def a(*args) -> QAction:
        return make_action(window, *args)

    window.actionNew = a(
        "actionNew", "&New", window.new_project, K.New, "Start from the default network"
    )
    window.actionNewFromTemplate = a(
        "actionNewFromTemplate", "New from &Template…", window.new_from_template
    )
    window.actionOpen = a("actionOpen", "&Open…", window.open_dialog, K.Open)
    window.actionSave = a("actionSave", "&Save", window.save, K.Save)
    window.actionSaveAs = a("actionSaveAs", "Save &As…", window.save_as, K.SaveAs)
    window.actionExportOnnx = a(
        "actionExportOnnx", "&ONNX…", lambda: export_onnx_dialog(window), None,
        "Write the network (trained weights of its newest run) as an ONNX model",
    )  # fmt: skip
    window.actionImportModel = a(
        "actionImportModel", "&Import Model…", lambda: import_model_dialog(window), None,
        "Read an ONNX model: its network and weights become a run of this project",
    )  # fmt: skip
    window.actionQuit = a("actionQuit", "&Quit", window.close, K.Quit)
    stack = window.document.undo_stack
    window.actionUndo = a("actionUndo", "&Undo", stack.undo, K.Undo)
    window.actionRedo = a("actionRedo", "&Redo", stack.redo, K.Redo)
    window.actionCut = a("actionCut", "Cu&t", window.stack.cut_selected, K.Cut)
    window.actionCopy = a("actionCopy", "&Copy", window.stack.copy_selected, K.Copy)
    window.actionPaste = a("actionPaste", "&Paste", lambda: _paste(window), K.Paste)
    window.actionDuplicate = a(
        "actionDuplicate", "D&uplicate", window.stack.duplicate_selected, "Ctrl+D"
    )
    window.actionDelete = a("actionDelete", "&Delete", window.stack.delete_selected, K.Delete)
    # Layer edits act on the stack only: in a spin box, Delete and Ctrl+C edit its text.
    for action in (
        window.actionCut,
        window.actionCopy,
        window.actionPaste,
        window.actionDuplicate,
        window.actionDelete,
    ):
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.removeAction(action)
        window.stack.addAction(action)
        window.design.canvas.addAction(action)  # the graph shares the stack's selection
    window.actionDelete.setShortcuts([QKeySequence(K.Delete), QKeySequence(Qt.Key.Key_Backspace)])
    window.actionAddResidual = a(
        "actionAddResidual",
        "Add &residual connection",
        window.design.canvas.add_residual,
        None,
        "Wrap the selected consecutive layers in a shortcut that ends in an add",
    )
    window.actionMakeInception = a(
        "actionMakeInception",
        "Make &Inception block…",
        window.design.canvas.make_inception,
        None,
        "Replace the selected layer with four parallel branches joined by a concat",
    )


def _paste(window: QMainWindow) -> None:
    """Paste layers; text that holds none says so (Ctrl+V did nothing, without a word)."""
    if window.stack.paste() or window.document.locked:
        return
    if decode(QGuiApplication.clipboard().mimeData()) is None:
        window.statusBar().showMessage(
            "Nothing to paste: the clipboard holds no layers (copy blocks, or layer JSON "
            'such as {"type": "relu"})',
            8000,
        )


def make_menus(window: QMainWindow) -> None:
    """File, Edit and View; the window fills ``window.recent_menu`` itself."""
    bar = window.menuBar()
    file = bar.addMenu("&File")
    file.addActions([window.actionNew, window.actionNewFromTemplate])
    presets = window.preset_menu = file.addMenu("New from &Preset")
    for name in preset_names():
        act = presets.addAction(PRESET_TITLES.get(name, name), lambda n=name: window.load_preset(n))
        act.setObjectName(f"actionPreset_{name}")
    file.addSeparator()
    file.addAction(window.actionOpen)
    window.recent_menu = file.addMenu("Open &Recent")
    file.addActions([window.actionSave, window.actionSaveAs])
    file.addAction(window.actionImportModel)
    file.addMenu("&Export").addAction(window.actionExportOnnx)
    file.addSeparator()
    file.addAction(window.actionQuit)
    edit = bar.addMenu("&Edit")
    edit.addActions([window.actionUndo, window.actionRedo])
    edit.addSeparator()
    edit.addActions(
        [
            window.actionCut,
            window.actionCopy,
            window.actionPaste,
            window.actionDuplicate,
            window.actionDelete,
        ]
    )
    edit.addSeparator()
    edit.addActions([window.actionAddResidual, window.actionMakeInception])
    view = bar.addMenu("&View")
    view.addActions(
        [window.palette_dock.toggleViewAction(), window.inspector_dock.toggleViewAction()]
    )
    view.addSeparator()
    themes = QActionGroup(window)
    current = str(window.settings.value("theme", "system"))
    for theme in style.THEMES:
        act = view.addAction(f"{theme.title()} theme", lambda t=theme: window.set_theme(t))
        act.setCheckable(True)
        act.setChecked(theme == current)
        themes.addAction(act)
    window.view_menu = view
