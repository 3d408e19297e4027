"""The engine never imports Qt: import it, build and run a network, check sys.modules."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
import engine
from engine.network import warm_up
net = engine.build(engine.load_spec("lenet5"), seed=0)
net.forward(np.zeros((1, 1, 32, 32), np.float32))
net.loss_and_grads(np.zeros((2, 1, 32, 32), np.float32), np.array([0, 1]))
warm_up()
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6",
            "shiboken2", "PyQt5", "PyQt6", "PySide2"))
print("QT:" + ",".join(qt))
"""


def test_engine_imports_no_qt():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "QT:\n" in result.stdout, result.stdout
