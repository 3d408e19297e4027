"""The workbench window: QApplication set-up, the main window's assembly, ``cnn-workbench``.

    cnn-workbench [SPEC_OR_PROJECT]            open the window (default: the lenet5 preset)
    cnn-workbench --screenshot PATH [SPEC]     render the window to a PNG and exit 0

The centre is a QTabWidget (objectName "pages") whose first page, "Design", holds the layer
stack, the shape table and the problems; the palette and the inspector are docks. Other
parts (the training panel) plug in with ``MainWindow.add_page`` and ``MainWindow.document``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.spec import SpecError, load_spec, preset_names
from workbench import style
from workbench.document import Document
from workbench.project import (
    FILE_FILTER,
    PROJECT_SUFFIX,
    Autosave,
    Project,
    RecentFiles,
    load_project,
)
from workbench.views.inspector import Inspector
from workbench.views.layer_stack import LayerStackView
from workbench.views.palette import PaletteView
from workbench.views.problems import Banner, ProblemsPanel
from workbench.views.shape_table import ShapeTable
from workbench.views.template_dialog import TemplateDialog

ORGANIZATION = APPLICATION = "CNN Workbench"
DEFAULT_SPEC = "lenet5"
AUTOSAVE_MS = 30_000
PRESET_TITLES = {
    "lenet5": "LeNet-5",
    "mnist-2conv": "MNIST 2-conv",
    "alexnet": "AlexNet",
    "vgg16": "VGG-16",
}


class MainWindow(QMainWindow):
    """The workbench. ``document`` is the open project; ``add_page`` adds a centre tab."""

    def __init__(
        self,
        document: Document,
        settings: QSettings | None = None,
        autosave: Autosave | None = None,
    ):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowIcon(style.app_icon())
        self.setAcceptDrops(True)
        self.document = document
        document.setParent(self)  # lives and dies with the window
        self.settings = settings if settings is not None else QSettings()
        self.recent = RecentFiles(self.settings)
        self.autosave = autosave

        self.palette_view = PaletteView(self)
        self.stack = LayerStackView(document, self)
        self.inspector = Inspector(document, self)
        self.shape_table = ShapeTable(document, self)
        self.problems = ProblemsPanel(document, self)
        self.lock_banner = Banner(self)
        self.pages = QTabWidget(self)
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(self._design_page(), "Design")
        self.setCentralWidget(self.pages)
        self.palette_dock = self._dock(
            self.palette_view, "Layers", "paletteDock", Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.inspector_dock = self._dock(
            self.inspector, "Inspector", "inspectorDock", Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.resizeDocks(
            [self.palette_dock, self.inspector_dock], [240, 320], Qt.Orientation.Horizontal
        )

        self._make_actions()
        self._make_menus()
        self.train_label = QLabel(self)
        self.train_label.setObjectName("trainStatus")
        self.totals_label = QLabel(self)
        self.statusBar().addWidget(self.train_label, 1)
        self.statusBar().addPermanentWidget(self.totals_label)
        self._connect()
        self._restore_layout()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.write_autosave)
        self._autosave_timer.start()
        self._spec_changed()
        self._update_title()
        self.stack.select_row(0)

    # ------------------------------------------------------------------ public API

    def add_page(self, widget: QWidget, title: str) -> int:
        """Add a tab to the centre (after Design); returns its index."""
        return self.pages.addTab(widget, title)

    def add_dock(
        self, widget: QWidget, title: str, area=Qt.DockWidgetArea.BottomDockWidgetArea
    ) -> QDockWidget:
        """Add a dock (remembered in the saved layout by the widget's objectName)."""
        return self._dock(widget, title, f"{widget.objectName() or title}Dock", area)

    def open_path(self, path: str) -> bool:
        """Open a project or spec file. A bad file shows a dialog and changes nothing."""
        try:
            project = load_project(path)
            self.document.reset(project, str(path) if str(path).endswith(PROJECT_SUFFIX) else "")
        except SpecError as e:
            self._error("Cannot open file", f"{Path(path).name} cannot be opened.", e.problems)
            return False
        self.recent.add(path)
        self._refresh_recent()
        if self.autosave is not None:
            self.autosave.clear()
        return True

    def save_to(self, path: str) -> bool:
        if not path.endswith(PROJECT_SUFFIX) and not path.endswith(".json"):
            path += PROJECT_SUFFIX
        try:
            self.document.save(path)
        except OSError as e:
            self._error("Cannot save", f"The project could not be saved to {path}.", [str(e)])
            return False
        self.recent.add(path)
        self._refresh_recent()
        if self.autosave is not None:
            self.autosave.clear()
        return True

    def write_autosave(self) -> None:
        if self.autosave is not None and self.document.dirty:
            self.autosave.write(self.document.project(), self.document.path)

    def offer_recovery(self) -> bool:
        """Offer the newest autosave of a session that crashed; True if it was restored."""
        if self.autosave is None:
            return False
        orphans = self.autosave.orphans()
        if not orphans:
            return False
        newest = orphans[0]
        where = newest.source or "an unsaved project"
        answer = QMessageBox.question(
            self,
            "Recover unsaved work?",
            "CNN Workbench did not close properly last time. "
            f"Recover the autosaved copy of {where}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        for orphan in orphans:
            orphan.discard()
        if answer != QMessageBox.StandardButton.Yes:
            return False
        source = newest.source if Path(newest.source).suffix == PROJECT_SUFFIX else ""
        self.document.reset(newest.project, source if source and Path(source).is_file() else "")
        self.document.mark_modified()  # recovered work is unsaved work
        return True

    # ------------------------------------------------------------------ assembly

    def _design_page(self) -> QWidget:
        page = QWidget(self)
        col = QVBoxLayout(page)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.lock_banner)
        problems_scroll = QScrollArea(page)
        problems_scroll.setWidgetResizable(True)
        problems_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        problems_scroll.setWidget(self.problems)
        right = QSplitter(Qt.Orientation.Vertical, page)
        right.addWidget(self.shape_table)
        right.addWidget(problems_scroll)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        self.design_splitter = QSplitter(Qt.Orientation.Horizontal, page)
        self.design_splitter.setObjectName("designSplitter")
        self.design_splitter.addWidget(self.stack)
        self.design_splitter.addWidget(right)
        self.design_splitter.setStretchFactor(0, 2)
        self.design_splitter.setStretchFactor(1, 3)
        self.design_splitter.setSizes([290, 660])
        col.addWidget(self.design_splitter)
        return page

    def _dock(self, widget: QWidget, title: str, name: str, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _action(self, name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        a = self._action
        self.actionNew = a(
            "actionNew", "&New", self.new_project, K.New, "Start from the default network"
        )
        self.actionNewFromTemplate = a(
            "actionNewFromTemplate", "New from &Template…", self.new_from_template
        )
        self.actionOpen = a("actionOpen", "&Open…", self.open_dialog, K.Open)
        self.actionSave = a("actionSave", "&Save", self.save, K.Save)
        self.actionSaveAs = a("actionSaveAs", "Save &As…", self.save_as, K.SaveAs)
        self.actionQuit = a("actionQuit", "&Quit", self.close, K.Quit)
        stack = self.document.undo_stack
        self.actionUndo = a("actionUndo", "&Undo", stack.undo, K.Undo)
        self.actionRedo = a("actionRedo", "&Redo", stack.redo, K.Redo)
        self.actionCut = a("actionCut", "Cu&t", self.stack.cut_selected, K.Cut)
        self.actionCopy = a("actionCopy", "&Copy", self.stack.copy_selected, K.Copy)
        self.actionPaste = a("actionPaste", "&Paste", self.stack.paste, K.Paste)
        self.actionDuplicate = a(
            "actionDuplicate", "D&uplicate", self.stack.duplicate_selected, "Ctrl+D"
        )
        self.actionDelete = a("actionDelete", "&Delete", self.stack.delete_selected, K.Delete)
        # Layer edits act on the stack only: in a spin box, Delete and Ctrl+C edit its text.
        for action in (
            self.actionCut,
            self.actionCopy,
            self.actionPaste,
            self.actionDuplicate,
            self.actionDelete,
        ):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.removeAction(action)
            self.stack.addAction(action)
        self.actionDelete.setShortcuts([QKeySequence(K.Delete), QKeySequence(Qt.Key.Key_Backspace)])

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.actionNew, self.actionNewFromTemplate])
        presets = file.addMenu("New from &Preset")
        for name in preset_names():
            act = presets.addAction(
                PRESET_TITLES.get(name, name), lambda n=name: self.load_preset(n)
            )
            act.setObjectName(f"actionPreset_{name}")
        file.addSeparator()
        file.addAction(self.actionOpen)
        self.recent_menu = file.addMenu("Open &Recent")
        file.addActions([self.actionSave, self.actionSaveAs])
        file.addSeparator()
        file.addAction(self.actionQuit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.actionUndo, self.actionRedo])
        edit.addSeparator()
        edit.addActions(
            [
                self.actionCut,
                self.actionCopy,
                self.actionPaste,
                self.actionDuplicate,
                self.actionDelete,
            ]
        )
        view = bar.addMenu("&View")
        view.addActions(
            [self.palette_dock.toggleViewAction(), self.inspector_dock.toggleViewAction()]
        )
        view.addSeparator()
        themes = QActionGroup(self)
        current = str(self.settings.value("theme", "system"))
        for theme in style.THEMES:
            act = view.addAction(f"{theme.title()} theme", lambda t=theme: self.set_theme(t))
            act.setCheckable(True)
            act.setChecked(theme == current)
            themes.addAction(act)
        self.view_menu = view
        self._refresh_recent()

    def _connect(self) -> None:
        doc = self.document
        doc.specChanged.connect(self._spec_changed)
        doc.dirtyChanged.connect(self._update_title)
        doc.pathChanged.connect(self._update_title)
        doc.lockedChanged.connect(self._locked)
        doc.undo_stack.canUndoChanged.connect(self._update_actions)
        doc.undo_stack.canRedoChanged.connect(self._update_actions)
        doc.undo_stack.undoTextChanged.connect(self._undo_text)
        doc.undo_stack.redoTextChanged.connect(self._redo_text)
        self.stack.rowSelected.connect(self.inspector.show_row)
        self.stack.rowSelected.connect(self.shape_table.select_row)
        self.stack.rowSelected.connect(self._update_actions)
        self.shape_table.rowSelected.connect(self.stack.select_row)
        self.palette_view.layerActivated.connect(self.stack.insert_type)

    def _undo_text(self, text: str) -> None:
        self.actionUndo.setText(f"&Undo {text}".strip())

    def _redo_text(self, text: str) -> None:
        self.actionRedo.setText(f"&Redo {text}".strip())

    # ------------------------------------------------------------------ commands

    def new_project(self) -> None:
        if self.maybe_save():
            self.document.reset(Project(load_spec(DEFAULT_SPEC)))

    def load_preset(self, name: str) -> None:
        """Replace the network by a preset, undoably (settings and file stay)."""
        spec = load_spec(name)
        self.document.replace_network(spec, f"Preset {PRESET_TITLES.get(name, name)}")

    def new_from_template(self) -> None:
        dialog = TemplateDialog(self.document.spec.input.shape, self)
        if dialog.exec() and (spec := dialog.spec()) is not None:
            self.document.replace_network(spec, "New from template")

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        folder = str(Path(self.document.path).parent) if self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open project or spec", folder, FILE_FILTER)
        if path:
            self.open_path(path)

    def save(self) -> bool:
        if self.document.path:
            return self.save_to(self.document.path)
        return self.save_as()

    def save_as(self) -> bool:
        start = self.document.path or f"{self.document.spec.name or 'network'}{PROJECT_SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, FILE_FILTER)
        return bool(path) and self.save_to(path)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False if the user cancels."""
        if not self.document.dirty:
            return True
        B = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to {self.document.display_name}?",
            B.Save | B.Discard | B.Cancel,
            B.Save,
        )
        if answer == B.Save:
            return self.save()
        return answer == B.Discard

    def set_theme(self, theme: str) -> None:
        style.apply_theme(QApplication.instance(), theme)
        self.settings.setValue("theme", theme)
        self.problems._update_header()
        self.problems.list.rebuild()
        self.inspector.problems.rebuild()
        self._spec_changed()

    # ------------------------------------------------------------------ state

    def _spec_changed(self) -> None:
        report, blocker = self.document.report, self.document.train_blocker
        shape = "×".join(map(str, report.output_shape or ())) or "—"
        total = f"{report.total_params:,} parameters · output {shape}"
        self._show_train_status(blocker, total)
        self._update_actions()

    def _show_train_status(self, blocker: str, total: str) -> None:
        """Why training is blocked (in red; the whole reason on hover), or that it is not."""
        n = len(self.document.report.problems)
        if blocker:
            short = f"{n} problem{'s' if n != 1 else ''} to fix" if n else blocker
            red = style.problem_color().name()
            self.train_label.setText(f"<span style='color:{red}'>⚠ Cannot train: {short}</span>")
        else:
            self.train_label.setText("✓ Ready to train")
        self.train_label.setToolTip(blocker)
        self.totals_label.setText(total)

    def _update_actions(self, *_args) -> None:
        doc, locked = self.document, self.document.locked
        self.actionUndo.setEnabled(doc.undo_stack.canUndo() and not locked)
        self.actionRedo.setEnabled(doc.undo_stack.canRedo() and not locked)
        has_selection = bool(self.stack.selected_layers())
        for action in (self.actionCut, self.actionDelete, self.actionDuplicate):
            action.setEnabled(has_selection and not locked)
        self.actionCopy.setEnabled(has_selection)
        self.actionPaste.setEnabled(not locked)
        for action in (self.actionNew, self.actionOpen, self.actionNewFromTemplate):
            action.setEnabled(not locked)

    def _locked(self, locked: bool, reason: str) -> None:
        self.lock_banner.show_message(f"🔒 The network is read-only: {reason}" if locked else "")
        self.palette_view.set_editable(not locked)
        self._update_actions()

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — CNN Workbench")
        self.setWindowModified(self.document.dirty)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            self.recent_menu.addAction(
                Path(path).name, lambda p=path: self.maybe_save() and self.open_path(p)
            ).setToolTip(path)
        self.recent_menu.setEnabled(bool(self.recent.paths()))

    def _error(self, title: str, text: str, problems: list[str]) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setInformativeText("\n".join(problems[:8]) + ("\n…" if len(problems) > 8 else ""))
        box.setDetailedText("\n".join(problems))
        box.exec()

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            screen = QGuiApplication.primaryScreen().availableGeometry()
            self.resize(
                min(1320, max(1200, int(screen.width() * 0.85))),
                min(860, max(800, int(screen.height() * 0.85))),
            )
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("window/designSplitter")
        if splitter is not None:
            self.design_splitter.restoreState(splitter)

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/designSplitter", self.design_splitter.saveState())
        if self.autosave is not None:
            self.autosave.close()
        event.accept()

    # Dropping a spec or project file on the window opens it.
    def dragEnterEvent(self, event) -> None:
        if _dropped_file(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = _dropped_file(event.mimeData())
        if path and self.maybe_save():
            self.open_path(path)
            event.acceptProposedAction()


def _dropped_file(data) -> str:
    for url in data.urls() if data.hasUrls() else ():
        if url.isLocalFile() and url.toLocalFile().endswith((".json", PROJECT_SUFFIX)):
            return url.toLocalFile()
    return ""


# ---------------------------------------------------------------------- start-up


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings and autosave find their place."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication([sys.argv[0] if sys.argv else "cnn-workbench", *(argv or [])])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setWindowIcon(style.app_icon())
    return app


def create_main_window(
    source: str | None = None, *, theme: str | None = None, autosave: bool = True
) -> MainWindow:
    """Build the main window on ``source`` (a preset, spec or project; default lenet5).

    Does not show it or enter the event loop. A source that cannot be loaded raises SpecError.
    """
    app = application()
    settings = QSettings()
    style.apply_theme(app, theme or str(settings.value("theme", "system")))
    if source is None:
        project, path = Project(load_spec(DEFAULT_SPEC)), ""
    elif Path(source).is_file():
        project = load_project(source)
        path = source if source.endswith(PROJECT_SUFFIX) else ""
    else:
        project, path = Project(load_spec(source)), ""
    window = MainWindow(Document(project, path), settings, Autosave() if autosave else None)
    if theme is not None:
        window.settings.setValue("theme", theme)
    return window


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
    app = application()
    try:
        window = create_main_window(args.source, theme=args.theme, autosave=not args.screenshot)
    except SpecError as e:
        if args.screenshot:
            print("\n".join(f"cnn-workbench: {p}" for p in e.problems), file=sys.stderr)
            return 1
        window = create_main_window(None, theme=args.theme)
        window._error("Cannot open file", f"{args.source} cannot be opened.", e.problems)
    if args.screenshot:  # a fixed size, so pictures do not depend on the screen
        window.resize(1440, 900)
        window.resizeDocks(
            [window.palette_dock, window.inspector_dock], [240, 320], Qt.Orientation.Horizontal
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
    return app.exec()
