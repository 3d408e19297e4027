"""The application exits cleanly (exit code 0) even after layers were copied.

Layers on the clipboard are QMimeData created from Python; left there, they were destroyed
after the QApplication at interpreter exit and the process died with SIGSEGV (exit 139).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from workbench.app import create_main_window

    window = create_main_window(None, autosave=False)
    window.show()
    window.stack.select_row(1)
    window.actionCopy.trigger()
    assert QApplication.clipboard().text(), "copy put nothing on the clipboard"
    QTimer.singleShot(100, QApplication.instance().quit)
    QApplication.instance().exec()
    """
)


def test_exit_after_copy_is_clean(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
