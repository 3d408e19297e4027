"""Start-up: the QApplication's set-up, ``create_main_window`` and ``cnn-workbench``.

    cnn-workbench [SPEC_OR_PROJECT]            open the window (default: the lenet5 preset)
    cnn-workbench --screenshot PATH [SPEC]     render the window to a PNG and exit 0

The window itself is ``workbench.main_window.MainWindow`` (also importable from here).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from engine.spec import SpecError, load_spec
from workbench import gc_guard, style
from workbench.document import Document
from workbench.main_window import DEFAULT_SPEC, DOCK_WIDTHS, PRESET_TITLES, MainWindow
from workbench.project import (
    APPLICATION,
    PROJECT_SUFFIX,
    Autosave,
    Project,
    load_project,
    user_settings,
)

__all__ = [
    "APPLICATION",
    "DEFAULT_SPEC",
    "ORGANIZATION",
    "PRESET_TITLES",
    "MainWindow",
    "application",
    "create_main_window",
    "main",
]

# No organisation: QStandardPaths would nest it ("CNN Workbench/CNN Workbench"). Settings
# keep their file through ``project.user_settings``.
ORGANIZATION = ""


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings and autosave find their place."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication([sys.argv[0] if sys.argv else "cnn-workbench", *(argv or [])])
        app.aboutToQuit.connect(_release_clipboard)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setWindowIcon(style.app_icon())
    return app


def _release_clipboard() -> None:
    # Layers copied to the clipboard are QMimeData that Python created; left there, they are
    # destroyed after the QApplication at interpreter exit and the process segfaults (seen
    # with the offscreen platform). Clear what we own while the application still lives.
    clipboard = QGuiApplication.clipboard()
    if clipboard.ownsClipboard() or QGuiApplication.platformName() == "offscreen":
        clipboard.clear()


def create_main_window(
    source: str | None = None,
    *,
    theme: str | None = None,
    autosave: bool = True,
    sample_data: bool = False,
    settings: QSettings | None = None,
) -> MainWindow:
    """Build the main window on ``source`` (a preset, spec or project; default lenet5).

    ``sample_data``: start loading the bundled sample data set (in the background) unless
    the project names its own, so that Train works out of the box. Does not show the window
    or enter the event loop. A source that cannot be loaded raises SpecError. ``settings``:
    where the window keeps its theme, layout and recent files (default: the user's).
    """
    app = application()
    settings = settings if settings is not None else user_settings()
    style.apply_theme(app, theme or str(settings.value("theme", "system")))
    if source is None:
        project, path = Project(load_spec(DEFAULT_SPEC)), ""
    elif Path(source).is_file():
        project = load_project(source)
        path = source if source.endswith(PROJECT_SUFFIX) else ""
    else:
        project, path = Project(load_spec(source)), ""
    window = MainWindow(Document(project, path), settings, Autosave() if autosave else None)
    # The Data, Train and Inspect pages (issue 5) plug into the designer window here.
    from workbench.training_ui import install_training

    training = install_training(window)
    from workbench.learning import install_learning  # the Learn page (issue 13)

    install_learning(window)
    if sample_data and not window.document.settings.get("data"):
        training.use_sample_data()
    if theme is not None:
        window.settings.setValue("theme", theme)
    return window


def _scratch_settings() -> QSettings:
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="cnn-workbench-screenshot-")
    atexit.register(shutil.rmtree, folder, True)
    scratch = QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)
    scratch.setValue("theme", user_settings().value("theme", "system"))
    return scratch


def main(argv: list[str] | None = None) -> int:
    """``cnn-workbench [SPEC_OR_PROJECT]`` or ``--screenshot PATH [SPEC]``; the exit code."""
    parser = argparse.ArgumentParser(
        prog="cnn-workbench", description="Open the CNN Workbench window."
    )
    parser.add_argument("source", nargs="?", help="a spec or project file, or a preset name")
    parser.add_argument("--screenshot", metavar="PATH", help="render the window to a PNG and exit")
    parser.add_argument("--theme", choices=style.THEMES, help="light, dark or system colours")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if QApplication.instance() is None:
        from workbench.qt_platform import check_xcb

        problem = check_xcb()  # Qt's own abort does not say what to install
        if problem:
            print(problem, file=sys.stderr)
            return 1
    app = application()
    # A screenshot leaves the user's settings alone (theme, layout, recent files): it works
    # on a throw-away copy of the one setting it reads.
    settings = _scratch_settings() if args.screenshot else None
    try:
        window = create_main_window(
            args.source,
            theme=args.theme,
            autosave=not args.screenshot,
            sample_data=args.source is None and not args.screenshot,
            settings=settings,
        )
    except SpecError as e:
        if args.screenshot:
            print("\n".join(f"cnn-workbench: {p}" for p in e.problems), file=sys.stderr)
            return 1
        window = create_main_window(None, theme=args.theme, sample_data=True)
        window._error("Cannot open file", f"{args.source} cannot be opened.", e.problems)
    if args.screenshot:  # a fixed size, so pictures do not depend on the screen
        window.resize(1440, 900)
        window.resizeDocks(
            [window.palette_dock, window.inspector_dock],
            list(DOCK_WIDTHS),
            Qt.Orientation.Horizontal,
        )
    window.show()
    if args.screenshot:
        for _ in range(3):
            app.processEvents()
        ok = window.grab().save(args.screenshot)
        window.document.undo_stack.setClean()
        window.close()
        if not ok:
            print(f"cnn-workbench: cannot write {args.screenshot}", file=sys.stderr)
        return 0 if ok else 1
    window.offer_recovery()
    gc_guard.freeze_startup()  # the window is built: its objects live until the end
    code = app.exec()
    from workbench.workers.background import running

    if running():
        # Only a warm-up, an estimate or a prediction is left (a training run was stopped and
        # joined at quit): nothing of the person's is in it. Waiting for a numba compile kept
        # the process alive for seconds after the window closed; leave without it (a QThread
        # destroyed while running would abort the interpreter's own exit).
        window.settings.sync()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
