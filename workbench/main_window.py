"""The workbench's main window: the Design page, the palette and inspector docks, the menus,
project files (open, save, recent, autosave, drops) and the status bar.

The centre is a QTabWidget (objectName "pages") whose first page, "Design", holds the layer
stack, the shape table and the problems; the palette and the inspector are docks. Other
parts (the training panel) plug in with ``MainWindow.add_page`` and ``MainWindow.document``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QWidget,
)

from engine.spec import SpecError, load_spec
from workbench import gc_guard, style
from workbench.dock_widths import DockWidths
from workbench.document import Document
from workbench.model_files import install_pytorch_export
from workbench.project import (
    FILE_FILTER,
    PROJECT_SUFFIX,
    Autosave,
    Project,
    RecentFiles,
    load_project,
    user_settings,
)
from workbench.transfer_actions import install_transfer_actions
from workbench.views.design_page import DesignPage
from workbench.views.inspector import Inspector
from workbench.views.page_tabs import PageTabs
from workbench.views.palette import PaletteView
from workbench.views.template_dialog import TemplateDialog
from workbench.window_menus import PRESET_TITLES, make_actions, make_menus

DEFAULT_SPEC = "lenet5"
AUTOSAVE_MS = 30_000
DOCK_WIDTHS = (264, 290)  # palette, inspector: at 1440 px the shape table fits without scrolling


class MainWindow(QMainWindow):
    """The workbench. ``document`` is the open project; ``add_page`` adds a centre tab."""

    def __init__(
        self,
        document: Document,
        settings: QSettings | None = None,
        autosave: Autosave | None = None,
    ):
        super().__init__()
        gc_guard.install()  # cycles with Qt objects are freed on this thread only
        self.setObjectName("mainWindow")
        self.setWindowIcon(style.app_icon())
        self.setAcceptDrops(True)
        self.document = document
        document.setParent(self)  # lives and dies with the window
        self.settings = settings if settings is not None else user_settings()
        self.recent = RecentFiles(self.settings)
        self.autosave = autosave

        self.palette_view = PaletteView(self)
        self.inspector = Inspector(document, self)
        self.design = DesignPage(document, self)
        self.stack, self.shape_table = self.design.stack, self.design.shape_table
        self.problems, self.lock_banner = self.design.problems, self.design.lock_banner
        self.design_splitter = self.design.splitter
        self.pages = PageTabs(self)
        self.pages.setObjectName("pages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.design, "Design")
        self.setCentralWidget(self.pages)
        # The tabs sit above the docks, so they stay put when the docks step aside.
        tabs = QToolBar("Pages", self, objectName="pagesToolBar")
        tabs.setMovable(False)
        tabs.setFloatable(False)
        tabs.toggleViewAction().setVisible(False)
        tabs.addWidget(self.pages.bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tabs)
        # Before the window closes: guards may refuse (asked before the unsaved-changes
        # prompt); actions run once the close is certain (before the project is saved).
        self.close_guards: list[Callable[[], bool]] = []
        self.close_actions: list[Callable[[], None]] = []
        self._docks_shown: dict[str, bool] | None = None  # the choice kept off Design
        self.data_blocker = ("", False)  # what Train waits for beside the network, a problem?
        self.palette_dock = self._dock(
            self.palette_view, "Layers", "paletteDock", Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.inspector_dock = self._dock(
            self.inspector, "Inspector", "inspectorDock", Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.resizeDocks(
            [self.palette_dock, self.inspector_dock], list(DOCK_WIDTHS), Qt.Orientation.Horizontal
        )
        self.dock_widths = DockWidths(self, [self.palette_dock, self.inspector_dock], DOCK_WIDTHS)
        self.pages.currentChanged.connect(self._page_changed)

        make_actions(self)
        make_menus(self)
        install_transfer_actions(self)
        install_pytorch_export(self)
        self._refresh_recent()
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

    def add_page(self, widget: QWidget, title: str, scroll: bool = True) -> int:
        """Add a tab to the centre (after Design); returns its index.

        With ``scroll`` the page sits in a frameless scroll area, so its minimum size never
        squeezes the Design page's docks (a QTabWidget is as wide as its widest page's
        minimum). Pages of plots that size themselves by their content (aspect-locked
        images) go without: in a scroll area they would grow instead of fitting."""
        if not scroll:
            return self.pages.addTab(widget, title)
        area = QScrollArea(self.pages)
        area.setObjectName(f"{widget.objectName() or title}Scroll")
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(widget)
        return self.pages.addTab(area, title)

    def page_index(self, widget: QWidget) -> int:
        """The tab index of a page added with ``add_page`` (or of Design)."""
        for i in range(self.pages.count()):
            page = self.pages.widget(i)
            if page is widget or (isinstance(page, QScrollArea) and page.widget() is widget):
                return i
        return -1

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
            # The OS names the temporary file of the atomic write (".p.cnnwb.x1y2.tmp"), which
            # the person never chose: say why in its words, where, and what to do instead.
            why = e.strerror or str(e)
            self._error("Cannot save", f"The project could not be saved to {path}.",
                        [f"{why} (folder {Path(path).parent})",
                         "Choose another folder or name with File ▸ Save As…"])  # fmt: skip
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
        # The selection, not the current row: a click moves the current row first and the
        # selection after, so actions read from rowSelected lagged one click behind.
        self.stack.selectionModel().selectionChanged.connect(self._update_actions)
        doc.fixApplied.connect(self._focus_stack)
        doc.refused.connect(lambda text: self.statusBar().showMessage("⚠ " + text, 10_000))
        doc.specChanged.connect(self._update_title)  # a preset renames an unsaved network
        # Undo/Redo from any field: each widget of this window that takes the focus gets the
        # filter below. Not an application-wide filter: PySide wraps the receiver of every
        # event the application sends, and a receiver in the middle of its destruction
        # (a timer's, a closed window's) crashes that wrapping.
        QApplication.instance().focusChanged.connect(self._watch_focus)
        self.shape_table.rowSelected.connect(self.stack.select_row)
        self.palette_view.layerActivated.connect(self.stack.insert_type)

    def _focus_stack(self) -> None:
        """After a one-click fix the button that had the focus is gone: the keyboard goes
        back to the stack (on the Design page), not to whatever widget comes next."""
        if self.pages.currentWidget() is self.design:
            self.stack.setFocus(Qt.FocusReason.OtherFocusReason)

    def _watch_focus(self, _old, new) -> None:
        if new is not None and new.window() is self:
            new.installEventFilter(self)  # installing twice keeps one filter

    def eventFilter(self, obj, event) -> bool:
        """Ctrl+Z / Shift+Ctrl+Z reach the document's undo stack from anywhere in the window.
        A spin box's edits are document edits already, so its own text undo must not hide
        them; a text field keeps Ctrl+Z only while it has typing of its own to undo."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(obj, QWidget):
            undo = event.matches(QKeySequence.StandardKey.Undo)
            redo = event.matches(QKeySequence.StandardKey.Redo)
            if (undo or redo) and obj.window() is self and not self._field_undoes(obj, undo):
                return True  # not accepted: Qt triggers the Undo/Redo action instead
        return super().eventFilter(obj, event)

    @staticmethod
    def _field_undoes(widget: QWidget, undo: bool) -> bool:
        spin = widget if isinstance(widget, QAbstractSpinBox) else None
        if spin is None and isinstance(widget.parent(), QAbstractSpinBox):
            spin = widget.parent()
        if spin is not None or not isinstance(widget, QLineEdit):
            return False
        return widget.isUndoAvailable() if undo else widget.isRedoAvailable()

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
        if self.document.locked:
            self._error("Cannot load a preset", "The network cannot change now.",
                        [self.document.lock_reason])  # fmt: skip
            return
        spec = load_spec(name)
        self.document.replace_network(spec, f"Preset {PRESET_TITLES.get(name, name)}")
        if getattr(self, "training", None) is not None:
            self.training.training_panel.recommend_for(name)

    def new_from_template(self) -> None:
        dialog = TemplateDialog(
            self.document.spec.input.shape, self, classes=self.document.data_classes
        )
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
        # The project's own folder, else the documents folder: never the working directory
        # the program happened to start in.
        start = self.document.path
        if not start:
            docs = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.DocumentsLocation
            )
            folder = Path(docs) if docs and Path(docs).is_dir() else Path.home()
            start = str(folder / f"{self.document.spec.name or 'network'}{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, FILE_FILTER)
        return bool(path) and self.save_to(path)

    def maybe_save(self, prepare: Callable[[], None] | None = None) -> bool:
        """Ask about unsaved changes; False if the user cancels. ``prepare`` runs once the
        answer is Save or Discard, before saving (closing: stop what still changes it)."""
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
        if answer not in (B.Save, B.Discard):
            return False
        if prepare is not None:
            prepare()
        return self.save() if answer == B.Save else True

    def set_data_blocker(self, text: str, problem: bool = False) -> None:
        """What the status bar says while the network is fine but Train is refused: ``text``
        ("" for nothing), a ``problem`` in red ("Cannot train: ...") or a step still to take
        ("Ready to train once a data set is chosen")."""
        if (text, problem) != self.data_blocker:
            self.data_blocker = (text, problem)
            self._spec_changed()

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
        frozen = report.frozen_params
        split = f" ({report.trainable_params:,} trainable, {frozen:,} frozen)" if frozen else ""
        total = f"{report.total_params:,} parameters{split} · output {shape}"
        self._show_train_status(blocker, total)
        self._update_actions()

    def _show_train_status(self, blocker: str, total: str) -> None:
        """Why training is blocked (in red; the whole reason on hover), or that it is not."""
        n = len(self.document.report.problems)
        if self.document.locked:
            # While a run holds the network, "ready to train" would be wrong: say what holds it.
            self.train_label.setText(f"● {self.document.lock_reason.split(':')[0]}")
            self.train_label.setToolTip(self.document.lock_reason)
            self.totals_label.setText(total)
            return
        if blocker:
            short = f"{n} problem{'s' if n != 1 else ''} to fix" if n else blocker
            red = style.problem_color().name()
            self.train_label.setText(f"<span style='color:{red}'>⚠ Cannot train: {short}</span>")
        elif self.data_blocker[0]:
            # The network is fine but Train is still refused (no data yet): say what is
            # missing, never a bare "ready" beside a disabled Train button.
            text, problem = self.data_blocker
            red = style.problem_color().name()
            self.train_label.setText(
                f"<span style='color:{red}'>⚠ Cannot train: {html.escape(text)}</span>"
                if problem
                else f"✓ {text}"
            )
        else:
            self.train_label.setText("✓ Ready to train")
        self.train_label.setToolTip(blocker or self.data_blocker[0])
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
        # A preset or a recent file replaces the network: not while a run holds it (a preset
        # picked then did nothing at all, without a word).
        self.preset_menu.setEnabled(not locked)
        self.recent_menu.setEnabled(not locked and bool(self.recent.paths()))
        for action in [*self.preset_menu.actions(), *self.recent_menu.actions()]:
            action.setEnabled(not locked)

    def _design_docks(self) -> list[QDockWidget]:
        return [self.palette_dock, self.inspector_dock]

    def _page_changed(self, index: int) -> None:
        """The Layers and Inspector docks belong to the Design page: other pages get the
        whole width. Whether the person had them open is remembered for the return."""
        on_design = self.pages.widget(index) is self.design
        if not on_design and self._docks_shown is None:
            self._docks_shown = {d.objectName(): not d.isHidden() for d in self._design_docks()}
            for dock in self._design_docks():
                if not dock.isFloating():
                    dock.hide()
        elif on_design and self._docks_shown is not None:
            shown, self._docks_shown = self._docks_shown, None
            for dock in self._design_docks():
                dock.setVisible(shown.get(dock.objectName(), True))

    def _locked(self, locked: bool, reason: str) -> None:
        self.lock_banner.show_message(
            f"The network is read-only: {reason}" if locked else "", icon="lock"
        )
        self.palette_view.set_editable(not locked)
        self._spec_changed()

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — CNN Workbench")
        self.setWindowModified(self.document.dirty)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        names = [Path(p).name for p in paths]
        for path, name in zip(paths, names, strict=True):
            # Two projects of one name (p.cnnwb in two folders) read apart by their folder.
            shown = f"{name} — {Path(path).parent.name}" if names.count(name) > 1 else name
            self.recent_menu.addAction(shown, lambda p=path: self._open_recent(p)).setToolTip(path)
        self._update_actions()  # enables the menu when it has entries and nothing is locked

    def _open_recent(self, path: str) -> None:
        """Open a recent file; one that is gone leaves the list after saying so."""
        if not self.maybe_save() or self.open_path(path) or Path(path).exists():
            return
        self.recent.remove(path)
        QTimer.singleShot(0, self._refresh_recent)  # not while its own action is triggering

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
        self.design.restore_state(self.settings.value("window/designSplitter"))

    def closeEvent(self, event) -> None:
        # One sequence: every question first (a running training, unsaved changes), then,
        # only when the close really proceeds, the close actions (stop training), then save.
        prepared: list[bool] = []

        def prepare() -> None:
            if not prepared:
                prepared.append(True)
                for action in self.close_actions:
                    action()

        if not all(guard() for guard in self.close_guards) or not self.maybe_save(prepare=prepare):
            event.ignore()
            return
        prepare()
        if self._docks_shown is not None:  # remember the docks as the person left them
            self.pages.setCurrentWidget(self.design)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/designSplitter", self.design_splitter.saveState())
        if self.autosave is not None:
            self.autosave.close()
        event.accept()
