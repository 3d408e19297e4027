"""Render the Design page with the network canvas on four networks, and time the layouts.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_canvas_screenshots.py

Saves in docs/screenshots/ (1600×1100, light theme): canvas-lenet5.png (a chain: one column),
canvas-resnet20.png (stage 2's first block: the projection shortcut beside the main path),
canvas-inception-cifar.png (the first module's four branches side by side),
canvas-googlenet.png (inception 3a, with the shape table's inputs column),
canvas-densenet121.png (a dense block's concatenations) and canvas-make-inception.png (Edit ▸
Make Inception block on lenet5's second convolution: the dialog's live preview), and prints
each layout's time.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_home = tempfile.mkdtemp(prefix="cnn-workbench-shots-")  # no user settings read or written
os.environ["HOME"] = _home
os.environ["XDG_CONFIG_HOME"] = os.path.join(_home, ".config")

from engine.spec import load_spec  # noqa: E402
from workbench.app import application, create_main_window  # noqa: E402

OUT = Path(__file__).resolve().parent / "screenshots"
NETWORKS = ("lenet5", "resnet20", "inception-cifar", "googlenet", "densenet121")
ONLY = sys.argv[1:]  # names to render (all when none): e.g. make-inception


def main() -> int:
    app = application()
    window = create_main_window(None, theme="light", autosave=False)
    window.resize(1600, 1100)
    window.show()
    OUT.mkdir(exist_ok=True)
    for name in [n for n in NETWORKS if not ONLY or n in ONLY]:
        window.document.replace_network(load_spec(name), f"Preset {name}")
        app.processEvents()
        spec, canvas = window.document.spec, window.design.canvas
        types = [layer.type for layer in spec.layers]
        if name == "resnet20":  # stage 2's first block, where the shape changes
            add = [i for i, t in enumerate(types) if t == "add"][3]
            window.stack.select_row(add + 1)
            start = canvas.blocks[add - 7].pos()  # the relu the block starts from
            canvas.centerOn(start.x(), start.y() + canvas.viewport().height() / 2 - 60)
        elif name == "googlenet":  # inception 3a: its branches, and the concat selected
            concat = types.index("concat")
            window.stack.select_row(concat + 1)
            canvas.centerOn(
                canvas.blocks[concat + 1].pos().x(), canvas.blocks[concat - 6].pos().y()
            )
        elif name == "densenet121":  # the third concatenation of the first dense block
            concat = [i for i, t in enumerate(types) if t == "concat"][2]
            window.stack.select_row(concat + 1)
            canvas.centerOn(canvas.blocks[concat + 1])
        for _ in range(3):
            app.processEvents()
        path = OUT / f"canvas-{name}.png"
        window.grab().save(str(path))
        print(f"{name}: {len(spec.layers)} layers, layout {canvas.layout_ms:.0f} ms -> {path}")
    if not ONLY or "make-inception" in ONLY:
        make_inception_shot(app, window)
    window.close()
    return 0


def make_inception_shot(app, window) -> None:
    """Edit ▸ Make Inception block on lenet5's second convolution, counts typed in."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtGui import QColor, QPainter, QPen
    from PySide6.QtWidgets import QDialog, QSpinBox

    window.document.replace_network(load_spec("lenet5"), "Preset lenet5")
    app.processEvents()
    window.stack.select_row(4)
    window.actionMakeInception.trigger()
    dialog = window.findChild(QDialog, "inceptionDialog")
    counts = {"inceptionC1": 8, "inceptionC3Reduce": 6, "inceptionC3": 12,
              "inceptionC5Reduce": 2, "inceptionC5": 4, "inceptionPoolProj": 4}  # fmt: skip
    for name, value in counts.items():
        dialog.findChild(QSpinBox, name).setValue(value)
    for _ in range(3):
        app.processEvents()
    path = OUT / "canvas-make-inception.png"
    shot = window.grab()
    painter = QPainter(shot)  # the dialog is a window of its own: drawn where it stands
    at = dialog.mapToGlobal(QPoint(0, 0)) - window.mapToGlobal(QPoint(0, 0))
    if not shot.rect().contains(QRect(at, dialog.size())):  # offscreen: centre it
        at = QPoint((shot.width() - dialog.width()) // 2, (shot.height() - dialog.height()) // 3)
    painter.drawPixmap(at, dialog.grab())
    painter.setPen(QPen(QColor("#64748b"), 1))
    painter.drawRect(QRect(at, dialog.size()).adjusted(-1, -1, 0, 0))
    painter.end()
    shot.save(str(path))
    dialog.reject()
    print(f"make inception: dialog -> {path}")


if __name__ == "__main__":
    sys.exit(main())
