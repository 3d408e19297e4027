"""Render the Design page with the network canvas on four networks, and time the layouts.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_canvas_screenshots.py

Saves in docs/screenshots/ (1600×1100, light theme): canvas-lenet5.png (a chain: one column),
canvas-resnet20.png (stage 2's first block: the projection shortcut beside the main path),
canvas-inception-cifar.png (the first module's four branches side by side) and
canvas-densenet121.png (a dense block's concatenations), and prints each layout's time.
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
NETWORKS = ("lenet5", "resnet20", "inception-cifar", "densenet121")


def main() -> int:
    app = application()
    window = create_main_window(None, theme="light", autosave=False)
    window.resize(1600, 1100)
    window.show()
    OUT.mkdir(exist_ok=True)
    for name in NETWORKS:
        window.document.replace_network(load_spec(name), f"Preset {name}")
        app.processEvents()
        spec, canvas = window.document.spec, window.design.canvas
        types = [layer.type for layer in spec.layers]
        if name == "resnet20":  # stage 2's first block, where the shape changes
            add = [i for i, t in enumerate(types) if t == "add"][3]
            window.stack.select_row(add + 1)
            start = canvas.blocks[add - 7].pos()  # the relu the block starts from
            canvas.centerOn(start.x(), start.y() + canvas.viewport().height() / 2 - 60)
        elif name == "densenet121":  # the third concatenation of the first dense block
            concat = [i for i, t in enumerate(types) if t == "concat"][2]
            window.stack.select_row(concat + 1)
            canvas.centerOn(canvas.blocks[concat + 1])
        for _ in range(3):
            app.processEvents()
        path = OUT / f"canvas-{name}.png"
        window.grab().save(str(path))
        print(f"{name}: {len(spec.layers)} layers, layout {canvas.layout_ms:.0f} ms -> {path}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
