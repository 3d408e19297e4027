"""PySide6 6.12.0 on Python 3.11 corrupts None's refcount on void calls ("Fatal Python error:
none_dealloc" after a few thousand). pyproject pins <6.12; this catches a bump that brings the
bug back. It runs in a subprocess because the failure kills the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

CALLS = 100_000

SCRIPT = f"""
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
widget = QWidget()
for i in range({CALLS} // 2):
    widget.setEnabled(i % 2 == 0)     # void setters: each returns None to Python
    widget.setToolTip("x")
print("done", sys.getrefcount(None) > 0)
"""


def test_hundred_thousand_void_qt_calls_do_not_crash():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done True" in result.stdout
