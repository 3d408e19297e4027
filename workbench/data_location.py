"""Whether a data folder named by a project file may be loaded without asking the user.

Opening a project used to start loading whatever folder its ``settings.data`` named: ``/etc``,
or ``../../`` resolved against the process's working directory (``/`` walks the whole file
system). A project file is data from anywhere (a download, a colleague's mail), so the folder
it names is loaded at once only when it lies inside the project's own folder or the user's
home (not the home folder itself: that is everything the user has). Anything else is shown
to the user first, with the reason; a system folder is named as one. No Qt here: the window
asks, this module only decides.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SYSTEM_FOLDERS", "data_folder_concern", "is_system_folder"]

#: Top-level folders of the operating system: never walked on a project file's say-so.
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/System", "/Library",
    "/private", "/Applications", "C:\\Windows", "C:\\Program Files",
)  # fmt: skip


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path == folder or path.is_relative_to(folder)
    except ValueError:
        return False


def _real(path: str | os.PathLike[str]) -> Path:
    # Symlinks resolved: a link inside the project that points at /etc is /etc.
    return Path(os.path.realpath(Path(path).expanduser()))


def is_system_folder(path: str | os.PathLike[str]) -> bool:
    """True for the file system's root and anything inside an operating-system folder."""
    real = _real(path)
    if real == Path(real.anchor):
        return True
    return any(_inside(real, Path(os.path.realpath(f))) for f in SYSTEM_FOLDERS)


def _bundled() -> Path | None:
    try:
        from engine.resources import resource_path

        return _real(resource_path())
    except Exception:  # no resources installed: nothing bundled to allow
        return None


def data_folder_concern(
    path: str | os.PathLike[str],
    project_dir: str | os.PathLike[str] | None,
    home: str | os.PathLike[str] | None = None,
) -> str | None:
    """None when the data folder ``path`` (from a project in ``project_dir``, None for an
    unsaved one) may be loaded at once; otherwise one sentence for the user saying why it is
    asked about. ``home`` defaults to the user's home folder."""
    real = _real(path)
    bundled = _bundled()
    if bundled is not None and _inside(real, bundled):
        return None  # the sample data shipped with CNN Workbench
    if is_system_folder(real):
        return (
            f"{real} is a system folder; loading it would read files of the operating "
            "system, not a data set"
        )
    if project_dir and _inside(real, _real(project_dir)):
        return None
    home_dir = _real(home if home is not None else Path.home())
    if real == home_dir:
        return f"{real} is your whole home folder; loading it would read every file you have"
    if _inside(real, home_dir):
        return None
    return f"{real} is outside the project's folder and your home folder"
