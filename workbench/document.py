"""The open project: its spec, settings, run history, file path, dirty state and undo stack.

Every edit builds a new immutable NetworkSpec and pushes a ``SpecEdit`` onto the QUndoStack,
so undo and redo work for everything (typing, drag and drop, fixes, presets) the same way.
Views never change the spec themselves: they call the edit methods here and re-read
``spec``/``report`` when ``specChanged`` fires.

Rows, as the views number them: row 0 is the input, row ``i + 1`` is layer ``i``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.graph_edits import merge_move_refusal
from engine.spec import LayerSpec, NetworkSpec, SpecError
from workbench.layer_edits import insert_after, remove_layers
from workbench.project import Project, save_project

_MERGE_ID = 4242  # any constant: QUndoStack only merges commands whose ids are equal


class SpecEdit(QUndoCommand):
    """One edit: the spec before and after, and which row to show afterwards.

    Edits with the same ``merge_key`` in a row (typing 1, 12, 128 into a spin box) merge
    into one undo step.
    """

    def __init__(
        self,
        document: Document,
        before: NetworkSpec,
        after: NetworkSpec,
        text: str,
        focus: int | None,
        merge_key: Any = None,
    ):
        super().__init__(text)
        self._doc = document
        self.before, self.after = before, after
        self.focus_before = document.focus_row
        self.focus_after = focus
        self.merge_key = merge_key

    def redo(self) -> None:
        self._doc._set_spec(self.after, self.focus_after)

    def undo(self) -> None:
        self._doc._set_spec(self.before, self.focus_before)

    def id(self) -> int:
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecEdit) or other.merge_key != self.merge_key:
            return False
        self.after, self.focus_after = other.after, other.focus_after
        self.setObsolete(self.after == self.before)
        return True


class Document(QObject):
    """The open project. ``specChanged`` fires after every change of ``spec``."""

    specChanged = Signal()
    focusRequested = Signal(int)  # a row the views should select and show
    pathChanged = Signal(str)
    dirtyChanged = Signal(bool)
    settingsChanged = Signal()
    lockedChanged = Signal(bool, str)
    fixApplied = Signal()
    refused = Signal(str)  # an edit that does not apply, in words (the window says it)
    runsChanged = Signal()  # a run was added, or another project (with its runs) opened

    def __init__(
        self, project: Project | NetworkSpec, path: str = "", parent: QObject | None = None
    ):
        super().__init__(parent)
        if isinstance(project, NetworkSpec):
            project = Project(project)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self._spec = project.spec
        self._settings = dict(project.settings)
        self._runs = list(project.runs)
        self._report = None
        #: (spec, report) before the last change, and the rows it changed (computed once).
        self._before: tuple[NetworkSpec, Any] | None = None
        self._changes: frozenset[int] | bool | None = False  # False: not computed yet
        #: Counts the changes (specChanged): a view's cache of rows knows how old it is.
        self.generation = 0
        self._path = path
        self._extra_dirty = False
        self._locked = False
        self._lock_reason = ""
        self._classes: int | None = None  # the loaded data's class count (None: no data yet)
        self.focus_row = 0

    # ------------------------------------------------------------------ state

    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    @property
    def report(self):
        """engine.shapes' report for the current spec (computed once per spec), with a
        final dense layer that does not match the loaded data's classes as a problem."""
        if self._report is None:
            from engine.head import with_head_problem
            from engine.shapes import infer_shapes

            self._report = with_head_problem(infer_shapes(self._spec), self._spec, self._classes)
        return self._report

    def changed_rows(self) -> frozenset[int] | None:
        """The rows (0 = input, i + 1 = layer i) that look different since the last
        ``specChanged``: their layer, wiring or report row changed (see
        workbench.models.row_changes). None: redraw every row (rows were inserted or
        removed, or there is nothing to compare with). Views call it from their
        ``specChanged`` slots; it is computed once per change."""
        if self._changes is False:
            from workbench.models.row_changes import changed_rows

            self._changes = changed_rows(self._before, (self._spec, self.report))
            self._before = None  # compared: the old report is not needed any more
        return self._changes

    @property
    def data_classes(self) -> int | None:
        """How many classes the loaded data set has (None until one is loaded)."""
        return self._classes

    def set_data_classes(self, classes: int | None) -> None:
        """The data set changed: its class count is what the final dense layer must match.
        Not an edit (nothing to undo, nothing unsaved); the views re-read the report."""
        if classes != self._classes:
            self._remember_before()
            self._classes = classes
            self._report = None
            self.specChanged.emit()

    @property
    def settings(self) -> dict[str, Any]:
        """Training settings saved with the project (a copy; change with set_settings)."""
        return dict(self._settings)

    @property
    def runs(self) -> list[Any]:
        return list(self._runs)

    @property
    def path(self) -> str:
        return self._path

    @property
    def display_name(self) -> str:
        if self._path:
            return Path(self._path).name
        return self._spec.name or "Untitled"

    @property
    def dirty(self) -> bool:
        return self._extra_dirty or not self.undo_stack.isClean()

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def lock_reason(self) -> str:
        return self._lock_reason

    @property
    def train_blocker(self) -> str:
        """Why the network cannot be trained now ("" when it can)."""
        problems = self.report.problems
        if problems:
            n = len(problems)
            return f"{n} problem{'s' if n > 1 else ''} in the network: {problems[0].message}"
        if not self._spec.layers:
            return "the network has no layers"
        return ""

    def project(self) -> Project:
        return Project(self._spec, dict(self._settings), list(self._runs))

    # ------------------------------------------------------------------ locking

    def set_locked(self, locked: bool, reason: str = "") -> None:
        """Refuse edits (while training, say); views turn read-only and show ``reason``."""
        reason = reason if locked else ""
        if (locked, reason) == (self._locked, self._lock_reason):
            return
        self._locked, self._lock_reason = locked, reason
        self.lockedChanged.emit(locked, reason)

    # ------------------------------------------------------------------ edits

    def edit(
        self, after: NetworkSpec, text: str, focus: int | None = None, merge_key: Any = None
    ) -> bool:
        """Push an edit. False (and nothing changes) when locked or when nothing changed."""
        if self._locked or after == self._spec:
            return False
        self.undo_stack.push(SpecEdit(self, self._spec, after, text, focus, merge_key))
        return True

    def insert_layer(self, index: int, layer: LayerSpec) -> bool:
        index = max(0, min(index, len(self._spec.layers)))
        return self.insert_layers(index, [layer], f"Insert {layer.kind.label}")

    def insert_layers(
        self, index: int, layers: Iterable[LayerSpec], text: str, into: int | None = None,
        entry: str | None = None,
    ) -> bool:
        """Insert ``layers`` after layer ``index - 1`` (0: after the input), in one undo
        step: what took its output (only layer ``into``, when given) takes theirs; copies
        keep their wiring among themselves and get ids of their own
        (workbench.layer_edits)."""
        index = max(0, min(index, len(self._spec.layers)))
        after, last = insert_after(self._spec, index - 1, layers, into, entry)
        return self.edit(after, text, focus=last + 1)

    def remove_layers(self, indices: Iterable[int]) -> bool:
        """Remove layers in one undo step; whatever took a removed layer's output takes what
        it took (workbench.layer_edits.remove_layers: the shortcuts and branches around it
        stay)."""
        drop = sorted({i for i in indices if 0 <= i < len(self._spec.layers)}, reverse=True)
        if not drop:
            return False
        kept = remove_layers(self._spec, drop)
        what = self._spec.layers[drop[0]].kind.label if len(drop) == 1 else f"{len(drop)} layers"
        focus = min(drop[-1], len(kept.layers))  # the row of the layer before the first removed
        return self.edit(kept, f"Delete {what}", focus=focus)

    def move_layer(self, src: int, dst: int) -> bool:
        """Move layer ``src`` so that it ends up at index ``dst``."""
        n = len(self._spec.layers)
        if not 0 <= src < n:
            return False
        dst = max(0, min(dst, n - 1))
        label = self._spec.layers[src].kind.label
        refusal = merge_move_refusal(self._spec, src, f"{label} #{src + 1}")
        if refusal:
            self.refused.emit(refusal)
            return False
        moved = self._spec.move_layer(src, dst)
        return self.edit(moved, f"Move {label}", focus=dst + 1)

    def set_layer_field(self, index: int, name: str, value: Any) -> bool:
        """Change one field of a layer; SpecError if the value is not allowed."""
        layer = self._spec.layers[index]
        new = layer.replace(**{name: value})
        text = f"Change {layer.kind.label} {name.replace('_', ' ')}"
        return self.edit(
            self._spec.replace_layer(index, new),
            text,
            focus=index + 1,
            merge_key=("field", index, name),
        )

    def set_input(self, **changes: int) -> bool:
        """Change the input's channels, height or width; SpecError if not allowed."""
        text = "Change input " + ", ".join(changes)
        return self.edit(
            self._spec.with_input(**changes), text, focus=0, merge_key=("input", *changes)
        )

    def apply_fix(self, fix) -> bool:
        """Apply one of engine.shapes' fixes (a Fix with .label and .apply(spec));
        ``fixApplied`` then tells the window to give the keyboard back to the stack. False,
        and nothing changes, for a fix offered for an earlier network that no longer fits
        this one (a menu opened before an edit); the views offer the current fixes."""
        from engine.spec import SpecError

        try:
            after = fix.apply(self._spec)
        except SpecError:
            return False
        done = self.edit(after, f"Fix: {fix.label}", focus=self.focus_row)
        if done:
            self.fixApplied.emit()
        return done

    def replace_network(self, spec: NetworkSpec, text: str) -> bool:
        """Swap in a whole network (a preset or a template), undoably: with data loaded, its
        final dense layer is set to the data's classes in the same undo step."""
        from engine.head import adapt_head

        spec, adapted = adapt_head(spec, self._classes)
        if adapted:
            text += f" ({adapted})"
        return self.edit(spec, text, focus=0)

    def show_row(self, row: int) -> None:
        """Ask the views to select and show ``row`` (0 = input)."""
        self.focus_row = max(0, min(row, len(self._spec.layers)))
        self.focusRequested.emit(self.focus_row)

    def set_focus_row(self, row: int) -> None:
        """Remember the selected row, so undo can return to it."""
        self.focus_row = row

    # ------------------------------------------------------------------ settings and runs

    def set_settings(self, settings: dict[str, Any], modified: bool = True) -> None:
        """Replace the saved settings. ``modified=False`` for what the person did not choose
        (the sample data loaded on a fresh start): nothing to save, no autosave, no prompt."""
        if settings != self._settings:
            self._settings = dict(settings)
            if modified:
                self.mark_modified()
            self.settingsChanged.emit()

    def mark_modified(self) -> None:
        """Unsaved changes that are not spec edits (settings, a recovered autosave)."""
        self._mark_extra_dirty()

    def add_run(self, run: Any) -> None:
        self._runs.append(run)
        self.mark_modified()
        self.runsChanged.emit()

    # ------------------------------------------------------------------ files

    def save(self, path: str) -> None:
        """Write the project to ``path`` (atomically) and make it the document's path."""
        save_project(path, self.project())
        self._extra_dirty = False
        self.undo_stack.setClean()
        self.dirtyChanged.emit(False)
        self._set_path(str(path))

    def reset(self, project: Project, path: str = "") -> None:
        """Replace everything (open, new): a fresh undo history, clean."""
        if self._locked:
            raise SpecError(f"cannot open another project now: {self._lock_reason}")
        self.undo_stack.clear()
        self._settings = dict(project.settings)
        self._runs = list(project.runs)
        self._extra_dirty = False
        self._set_spec(project.spec, 0)
        self.settingsChanged.emit()
        self.runsChanged.emit()
        self.dirtyChanged.emit(False)
        self._set_path(path)

    # ------------------------------------------------------------------ internals

    def _set_spec(self, spec: NetworkSpec, focus: int | None) -> None:
        self._remember_before()
        self._spec = spec
        self._report = None
        self.specChanged.emit()
        if focus is not None:
            self.focus_row = max(0, min(focus, len(spec.layers)))
            self.focusRequested.emit(self.focus_row)

    def _remember_before(self) -> None:
        """Keep what the views showed (when they read it) to compare the next one with."""
        self._before = (self._spec, self._report) if self._report is not None else None
        self._changes = False
        self.generation += 1

    def _set_path(self, path: str) -> None:
        if path != self._path:
            self._path = path
            self.pathChanged.emit(path)

    def _clean_changed(self, _clean: bool) -> None:
        self.dirtyChanged.emit(self.dirty)

    def _mark_extra_dirty(self) -> None:
        was = self.dirty
        self._extra_dirty = True
        if not was:
            self.dirtyChanged.emit(True)
