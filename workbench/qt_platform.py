"""Before the window opens: can Qt's X11 platform plugin load on this machine?

On a stock Debian/Ubuntu desktop, Qt 6's xcb plugin needs a few X libraries that are not
installed by default (libxcb-icccm4, libxcb-keysyms1, libxcb-cursor0, ...). Without them Qt
aborts with "Could not load the Qt platform plugin xcb", which does not say what to install.
This module asks ``ldd`` which libraries the plugin is missing, so that ``cnn-workbench``
can print the one ``apt-get install`` line instead (the README names the same line).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Everything Qt 6's xcb plugin links that a fresh desktop may lack (checked with ldd on
# PySide6's plugins/platforms/libqxcb.so and lib/libQt6XcbQpa.so.6). README.md repeats it.
APT_PACKAGES = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-util1",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
)
APT_LINE = "sudo apt-get install -y " + " ".join(APT_PACKAGES)


def wants_xcb(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """True when Qt will try the xcb plugin: asked for by name, or on Linux with an X display
    and no Wayland one (Qt prefers Wayland where both exist)."""
    platform = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if platform:
        return platform == "xcb"
    return (
        sys.platform.startswith("linux")
        and bool(environ.get("DISPLAY"))
        and not environ.get("WAYLAND_DISPLAY")
    )


def _plugin_files() -> list[Path]:
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    libs = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    return [
        p for p in (plugins / "platforms" / "libqxcb.so", libs / "libQt6XcbQpa.so.6") if p.is_file()
    ]


def missing_xcb_libraries() -> list[str]:
    """The shared libraries (e.g. "libxcb-icccm.so.4") that the xcb plugin needs and the
    dynamic loader cannot find; empty when all are there or ``ldd`` is not available."""
    ldd = shutil.which("ldd")
    files = _plugin_files()
    if not ldd or not files:
        return []
    try:
        out = subprocess.run(
            [ldd, *map(str, files)], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = re.findall(r"^\s*(\S+)\s*=>\s*not found", out, flags=re.MULTILINE)
    return sorted(set(missing))


def xcb_message(missing: list[str]) -> str:
    """What to say instead of Qt's abort, naming the missing files and the install line."""
    return (
        "cnn-workbench: the window cannot open: Qt's X11 (xcb) platform plugin needs "
        f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed. "
        f"On Debian or Ubuntu install them with:\n    {APT_LINE}"
    )


def check_xcb() -> str | None:
    """The message to print when the window is about to fail on missing X libraries, or
    None when it can open (or the check does not apply: offscreen, Wayland, not Linux)."""
    if not wants_xcb():
        return None
    missing = missing_xcb_libraries()
    return xcb_message(missing) if missing else None
