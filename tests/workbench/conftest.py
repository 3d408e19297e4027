"""Workbench tests run offscreen, with settings, autosaves and recent files in a temporary
home, and with every modal dialog answered without blocking (recorded in ``dialogs``)."""

from __future__ import annotations

import os
import tempfile

# Before HOME moves: the engine points numba's cache at the user's keyed kernel cache
# (engine.jit_cache), shared with the engine tests and the app. Under the temporary home
# every session compiled all kernels again: a minute before its first training run.
import engine.config  # noqa: E402, F401, I001

_HOME = tempfile.mkdtemp(prefix="cnn-workbench-tests-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Before Qt loads: QSettings and QStandardPaths read these, so nothing touches the user's.
for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share")):
    os.environ[var] = os.path.join(_HOME, sub)
os.environ.setdefault("XDG_RUNTIME_DIR", os.path.join(_HOME, "run"))
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
    QSettings.setPath(fmt, QSettings.Scope.UserScope, os.path.join(_HOME, "settings"))


class Dialogs:
    """What modal message boxes said; ``answer`` is what question() returns."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.answer = QMessageBox.StandardButton.Discard

    @property
    def last(self) -> str:
        return self.shown[-1] if self.shown else ""


@pytest.fixture(autouse=True)
def dialogs(monkeypatch) -> Dialogs:
    record = Dialogs()

    def exec_(box: QMessageBox) -> int:
        record.shown.append("\n".join([box.text(), box.informativeText(), box.detailedText()]))
        return int(QMessageBox.StandardButton.Ok)

    def question(parent, title, text, *args, **kwargs):
        record.shown.append(f"{title}\n{text}")
        return record.answer

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return record


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test starts with no remembered layout, theme or recent files."""
    from workbench.project import user_settings

    settings = user_settings()
    settings.clear()
    settings.sync()
    return settings


@pytest.fixture
def make_window(qtbot):
    """Build main windows the way the app does (no autosave slot unless asked)."""
    from workbench.app import create_main_window

    def make(source: str | None = None, **kwargs):
        kwargs.setdefault("autosave", False)
        window = create_main_window(source, theme=kwargs.pop("theme", "light"), **kwargs)
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)  # so shortcuts reach the focused widget
        return window

    return make


@pytest.fixture(autouse=True)
def empty_clipboard_afterwards(qapp):
    """Leave the clipboard empty after each test.

    With the offscreen platform, QMimeData left on the clipboard is destroyed after the
    QApplication at interpreter exit, which segfaults the process (exit 139) after every test
    has passed. Clearing it while the application is alive avoids that.
    """
    yield
    qapp.clipboard().clear()


@pytest.fixture(autouse=True, scope="session")
def no_thread_outlives_the_tests():
    """Background threads (a warm-up compiling kernels, an estimate) may still run when the
    last test ends; the app leaves them behind at quit, but an interpreter exiting under a
    running QThread aborts. Join them before pytest exits."""
    yield
    from workbench.workers.background import join_all

    join_all()
