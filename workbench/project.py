"""Project files, recent files and autosave with crash recovery.

A project file (contract) is ``{"format": "cnn-workbench/project", "version": 1, "network":
<spec dict>, "settings": {...}, "runs": [...]}``. A plain spec file opens as a project with
empty settings. Loading validates everything before anything is used; a file that fails
raises SpecError saying why, so the open project is never touched by a bad file. Writes are
atomic (engine.io).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QSettings, QStandardPaths

from engine.io import atomic_write_text
from engine.spec import FORMAT, PROJECT_FORMAT, NetworkSpec, SpecError, read_json
from engine.spec import PROJECT_VERSION as VERSION
from engine.validation import show
from workbench.project_schema import check_runs, check_settings

PROJECT_SUFFIX = ".cnnwb"
FILE_FILTER = "CNN Workbench files (*.cnnwb *.json);;Projects (*.cnnwb);;Network specs (*.json)"
MAX_RECENT = 8


@dataclass
class Project:
    """What a project file holds: the network, the training settings and the run history."""

    spec: NetworkSpec
    settings: dict[str, Any] = field(default_factory=dict)
    runs: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROJECT_FORMAT,
            "version": VERSION,
            "network": self.spec.to_dict(),
            "settings": self.settings,
            "runs": self.runs,
        }


def project_from_dict(data: Any, source: str = "", base: Path | None = None) -> Project:
    """A Project from a project dict or a bare spec dict; SpecError lists every problem,
    each with the path of the bad value. A relative ``settings.data`` is resolved against
    ``base`` (the project file's folder), never against the working directory."""
    prefix = f"{source}: " if source else ""
    if not isinstance(data, Mapping):
        raise SpecError(f"{prefix}must be a JSON object, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt == FORMAT or (fmt is None and "layers" in data):
        return Project(NetworkSpec.from_dict(data, source=source))
    if fmt != PROJECT_FORMAT:
        raise SpecError(
            f'{prefix}format: expected "{PROJECT_FORMAT}" or "{FORMAT}", got {show(fmt)}'
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpecError(f"{prefix}version: must be a positive integer, got {show(version)}")
    if version > VERSION:
        raise SpecError(
            f"{prefix}version: this project is version {version}, newer than this CNN Workbench "
            f"understands (version {VERSION}); update CNN Workbench to open it"
        )
    allowed = ("format", "version", "network", "settings", "runs")
    problems = [
        f"{prefix}{k}: unknown field (allowed: {', '.join(allowed)})"
        for k in data
        if k not in allowed
    ]
    settings, bad = check_settings(data.get("settings", {}), prefix, base)
    problems += bad
    runs = data.get("runs", [])
    problems += check_runs(runs, prefix)
    if "network" not in data:
        problems.append(f"{prefix}network: missing (the network spec)")
        raise SpecError(problems)
    try:
        # A half-drawn graph (a dangling branch) must not make the project unopenable.
        spec = NetworkSpec.from_dict(data["network"], source=f"{prefix}network", wiring="lenient")
    except SpecError as e:
        raise SpecError(problems + e.problems) from None
    if problems:
        raise SpecError(problems)
    return Project(spec, dict(settings), list(runs))


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a project or spec file. Raises SpecError naming the file and every problem."""
    return project_from_dict(read_json(path), source=str(path), base=Path(path).resolve().parent)


def save_project(path: str | os.PathLike[str], project: Project) -> None:
    """Write the project as JSON, atomically (a crash mid-write keeps the old file)."""
    atomic_write_text(path, json.dumps(project.to_dict(), indent=2) + "\n")


# --------------------------------------------------------------------------- recent files


class RecentFiles:
    """The most recently opened or saved files, newest first, kept in QSettings."""

    KEY = "recentFiles"

    def __init__(self, settings: QSettings):
        self._settings = settings

    def paths(self) -> list[str]:
        value = self._settings.value(self.KEY, [])
        if isinstance(value, str):  # QSettings collapses a one-element list on some backends
            value = [value]
        return [str(p) for p in value or [] if p]

    def add(self, path: str | os.PathLike[str]) -> None:
        p = str(Path(path).resolve())
        paths = [p] + [q for q in self.paths() if q != p]
        self._settings.setValue(self.KEY, paths[:MAX_RECENT])

    def remove(self, path: str) -> None:
        self._settings.setValue(self.KEY, [q for q in self.paths() if q != path])

    def clear(self) -> None:
        self._settings.setValue(self.KEY, [])


# --------------------------------------------------------------------------- locations

APPLICATION = "CNN Workbench"
SETTINGS_GROUP = "CNN Workbench"  # the folder of the settings file, as it always was


def user_settings() -> QSettings:
    """The user's settings: ~/.config/CNN Workbench/CNN Workbench.conf on Linux.

    Named explicitly rather than by the application's organisation: that is left empty so
    the data location below is not the same name twice."""
    return QSettings(SETTINGS_GROUP, APPLICATION)


def data_dir() -> Path:
    """Per-user data (autosaves, runs of unsaved projects): ~/.local/share/CNN Workbench on
    Linux (the application's organisation name is empty, so it is not nested twice)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) if base else Path.home() / ".cnn-workbench"


# --------------------------------------------------------------------------- autosave


def autosave_dir() -> Path:
    return data_dir() / "autosave"


@dataclass
class Recovered:
    """An autosave left by a session that did not exit cleanly."""

    path: Path
    project: Project
    source: str  # the file the session had open ("" for an unsaved project)
    saved_at: float

    def discard(self) -> None:
        for p in (self.path, self.path.with_suffix(".lock")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


class Autosave:
    """This session's autosave slot: ``session-<id>.json`` guarded by a QLockFile.

    The lock is held while the session runs. A slot whose lock can be taken at start-up
    belongs to a session that died (QLockFile recognises a dead owner), so its project is
    offered for recovery. A clean exit removes the slot.
    """

    def __init__(self, folder: Path | None = None):
        self.folder = folder if folder is not None else autosave_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"session-{uuid.uuid4().hex}.json"
        self._lock = QLockFile(str(self.path.with_suffix(".lock")))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never age
        self._lock.tryLock(0)

    def write(self, project: Project, source: str) -> None:
        data = {"source": source, "project": project.to_dict()}
        atomic_write_text(self.path, json.dumps(data) + "\n")

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """A clean exit: drop the slot and release the lock."""
        self.clear()
        self._lock.unlock()

    def orphans(self) -> list[Recovered]:
        """Autosaves of sessions that died, newest first; unreadable ones are dropped."""
        found = []
        for path in self.folder.glob("session-*.json"):
            if path == self.path:
                continue
            lock = QLockFile(str(path.with_suffix(".lock")))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # its session is still running
            lock.unlock()
            try:
                data = read_json(path)
                source = data.get("source", "") if isinstance(data, dict) else ""
                source = source if isinstance(source, str) else ""
                base = Path(source).resolve().parent if source else None
                project = project_from_dict(data["project"], base=base)
            except (SpecError, KeyError, TypeError):
                path.unlink(missing_ok=True)
                continue
            found.append(Recovered(path, project, source, path.stat().st_mtime))
        return sorted(found, key=lambda r: -r.saved_at)
