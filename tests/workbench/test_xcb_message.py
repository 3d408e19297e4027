"""`cnn-workbench` on a desktop without the X libraries Qt's xcb plugin needs prints the one
apt-get line (which the README names too) instead of Qt's abort (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench.qt_platform import APT_LINE

ROOT = Path(__file__).resolve().parents[2]


def test_missing_xcb_libraries_print_the_apt_line(tmp_path):
    # A stand-in ldd that reports what a stock Debian desktop lacks.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldd").write_text(
        "#!/bin/sh\n"
        "echo '\tlibxcb-icccm.so.4 => not found'\n"
        "echo '\tlibxcb-keysyms.so.1 => not found'\n"
        "echo '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x0)'\n"
    )
    (fake / "ldd").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(PATH=f"{fake}{os.pathsep}{env.get('PATH', '')}", DISPLAY=":57", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in done.stderr
    assert APT_LINE in done.stderr
    assert "Could not load the Qt platform plugin" not in done.stderr
    assert "Traceback" not in done.stderr


def test_readme_names_the_same_apt_line():
    assert APT_LINE in (ROOT / "README.md").read_text(encoding="utf-8")
