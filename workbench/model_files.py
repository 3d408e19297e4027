"""Models in and out of the window: File ▸ Export ▸ ONNX…, File ▸ Export ▸ PyTorch project…
and File ▸ Import model….

Export writes the open network as an ONNX model (engine.interop.onnx_export), or as a
PyTorch project folder (engine.interop.torch_project: model.py, weights.safetensors, train.py
for torchrun), with the trained weights (and, for PyTorch, the training settings) of the
newest run of this very network whose checkpoint still exists, else its initial weights
(seed 0); the status bar says which. Import reads an ONNX model
(engine.interop.onnx_import), writes it as a run folder among the project's runs, makes its
network the open one (undoably) and lists the run, so predictions and export use its
weights. The work is the engine's; this module only asks where and reports.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox

__all__ = [
    "export_onnx_dialog",
    "export_pytorch_dialog",
    "export_source",
    "import_model_dialog",
    "install_pytorch_export",
]


def export_source(document):
    """(source for ``load_source``, what the weights are): the newest run of the document's
    spec with a checkpoint on disk, else the spec itself with seed 0."""
    from workbench.runs import RunRecord

    spec_dict = document.spec.to_dict()
    for raw in reversed(document.runs):
        try:
            run = RunRecord.from_dict(raw)
        except ValueError:
            continue
        if run.spec == spec_dict and run.checkpoint_exists:
            return run.checkpoint, f"trained weights of run {run.id}"
    return document.spec, "initial weights (seed 0): not trained yet"


def export_onnx_dialog(window: QMainWindow) -> str | None:
    """Ask for a file and write the model there; returns the path written, or None."""
    document = window.document
    source, what = export_source(document)
    folder = Path(document.path).parent if document.path else Path.home()
    start = str(folder / f"{document.spec.name or 'network'}.onnx")
    path, _ = QFileDialog.getSaveFileName(window, "Export ONNX", start, "ONNX models (*.onnx)")
    if not path:
        return None
    if not path.endswith(".onnx"):
        path += ".onnx"
    def write():
        from engine.interop.onnx_export import export_onnx

        return export_onnx(source, path)

    if _exported(window, path, write, "'cnn-workbench[onnx]'") is None:
        return None
    window.statusBar().showMessage(f"Exported {path} with the {what}", 10_000)
    return path


def export_pytorch_dialog(window: QMainWindow) -> str | None:
    """Ask for a folder and write the PyTorch project there; returns the folder, or None
    (cancelled, or refused with a message saying why). Files of an earlier export in that
    folder are replaced only after the user agrees."""
    document = window.document
    source, what = export_source(document)
    folder = Path(document.path).parent if document.path else Path.home()
    path = QFileDialog.getExistingDirectory(window, "Export PyTorch project", str(folder))
    if not path:
        return None
    from engine.interop.torch_project import FILES

    there = [f for f in FILES if (Path(path) / f).exists()]
    if there:
        answer = QMessageBox.question(
            window, "Replace files?",
            f"{path} already holds {', '.join(there)}. Replace them?",
        )  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            return None
    def write():
        from engine.interop.torch_project import export_torch_project

        return export_torch_project(source, path)

    project = _exported(window, path, write, "")
    if project is None:
        return None
    window.statusBar().showMessage(
        f"Exported a PyTorch project ({len(project.files)} files) to {path} with the {what}; "
        "see its README.md", 15_000,
    )  # fmt: skip
    return path


def _exported(window: QMainWindow, path: str, write, package: str):
    """Run ``write()`` under a wait cursor; its result, or None after a box saying why
    (``package``: what to pip install when a module is missing; "" names the module)."""
    from engine.checkpoint import CheckpointError
    from engine.data import DatasetError

    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return write()
    except ModuleNotFoundError as e:
        problem = f"the {e.name} package is not installed (pip install {package or e.name})"
    except (CheckpointError, DatasetError, ValueError, OSError) as e:
        problem = str(e)
    finally:
        QApplication.restoreOverrideCursor()
    box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", f"{path}: {problem}",
                      parent=window)  # fmt: skip
    box.exec()
    return None


def install_pytorch_export(window: QMainWindow):
    """``window.actionExportPytorch`` (File ▸ Export ▸ PyTorch project…), placed after
    Export ▸ ONNX… in the menu that holds it; made once, returned every time."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu

    action = getattr(window, "actionExportPytorch", None)
    if action is not None:
        return action
    action = QAction("&PyTorch project…", window)
    action.setObjectName("actionExportPytorch")
    tip = "Write a PyTorch project: model.py, its weights, and train.py for torchrun"
    action.setStatusTip(tip)
    action.setToolTip(tip)
    action.triggered.connect(lambda: export_pytorch_dialog(window))
    window.addAction(action)
    window.actionExportPytorch = action
    onnx = getattr(window, "actionExportOnnx", None)
    for menu in window.findChildren(QMenu):
        if onnx is not None and onnx in menu.actions():
            menu.addAction(action)
            break
    return action


def _runs_root(window) -> Path:
    from workbench.training_ui import default_runs_root

    training = getattr(window, "training", None)
    root = getattr(training, "runs_root", None)
    if root is not None:
        return Path(root)
    path = window.document.path
    return Path(path).with_suffix(".runs") if path else default_runs_root()


def import_model_dialog(window: QMainWindow, path: str | None = None) -> str | None:
    """Ask for an .onnx file (unless ``path`` is given) and import it; returns the run
    folder written, or None (cancelled, or refused with a message naming the node)."""
    from workbench.runs import RunRecord, new_run_id

    document = window.document
    if path is None:
        folder = str(Path(document.path).parent) if document.path else ""
        path, _ = QFileDialog.getOpenFileName(window, "Import model", folder,
                                              "ONNX models (*.onnx)")  # fmt: skip
        if not path:
            return None
    run_id = "imported-" + new_run_id().removeprefix("run-")
    out = _runs_root(window) / run_id
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        from engine.interop.onnx_import import OnnxImportError, read_onnx, write_run

        imported = read_onnx(path)
        checkpoint = write_run(imported, out)
    except ModuleNotFoundError as e:
        problem = f"the {e.name} package is not installed (pip install 'cnn-workbench[onnx]')"
    except (OnnxImportError, ValueError, OSError) as e:
        problem = str(e)
    else:
        problem = ""
    finally:
        QApplication.restoreOverrideCursor()
    if problem:
        QMessageBox(QMessageBox.Icon.Warning, "Import failed", problem, parent=window).exec()
        return None
    from engine.train_config import TrainConfig

    spec = imported.spec
    document.replace_network(spec, f"Import {Path(path).name}")
    record = RunRecord(
        id=run_id, started=run_id.removeprefix("imported-"), network=spec.name,
        spec=spec.to_dict(), config=TrainConfig().to_dict(), data=str(path),
        status="completed", message="imported: " + "; ".join(imported.notes),
        checkpoint=str(checkpoint),
    )  # fmt: skip
    document.add_run(record.to_dict())
    window.statusBar().showMessage(
        f"Imported {Path(path).name}: {len(spec.layers)} layers, "
        f"{len(imported.class_names)} classes (run {run_id})", 10_000,
    )  # fmt: skip
    return str(out)
