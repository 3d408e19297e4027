"""File ▸ Export ▸ ONNX…: the open network as an ONNX model (engine.interop.onnx_export).

The trained weights of the newest run of this very network whose checkpoint still exists,
else the network's initial weights (seed 0); the status bar says which. The export itself is
the engine's; this module only asks where and reports.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox

__all__ = ["export_onnx_dialog", "export_source"]


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
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        from engine.checkpoint import CheckpointError
        from engine.data import DatasetError
        from engine.interop.onnx_export import export_onnx

        export_onnx(source, path)
    except ModuleNotFoundError as e:
        problem = f"the {e.name} package is not installed (pip install 'cnn-workbench[onnx]')"
    except (CheckpointError, DatasetError, ValueError, OSError) as e:
        problem = str(e)
    else:
        problem = ""
    finally:
        QApplication.restoreOverrideCursor()
    if problem:
        box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", f"{path}: {problem}",
                          parent=window)  # fmt: skip
        box.exec()
        return None
    window.statusBar().showMessage(f"Exported {path} with the {what}", 10_000)
    return path
