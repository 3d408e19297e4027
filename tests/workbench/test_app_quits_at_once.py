"""The process ends as soon as the window closes, even while a background compile (a warm-up,
an epoch-time estimate) is still running (issue 9: it lingered 2-5 s)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from workbench.app import application, main
    from workbench.workers.background import BackgroundCall

    application()  # the timer below needs the application's event loop

    def close_soon():
        window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
        slow = BackgroundCall(window)
        slow.start(lambda: time.sleep(20))  # stands in for a numba compile still running
        window.document.undo_stack.setClean()
        print(f"closing {time.time():.3f}", flush=True)
        window.close()

    QTimer.singleShot(1500, close_soon)
    sys.exit(main(["lenet5"]))
    """
)


def test_the_process_ends_when_the_window_closes(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT),
           "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"),
           "XDG_DATA_HOME": str(tmp_path / ".local/share")}  # fmt: skip
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    ended = time.time()
    assert done.returncode == 0, done.stderr[-2000:]
    closing = float(done.stdout.split("closing ")[1].split()[0])
    assert ended - closing < 4.0, f"lingered {ended - closing:.1f} s after the window closed"
    assert "Destroyed while thread" not in done.stderr
