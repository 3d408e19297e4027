"""Run history: one record per training run, kept in the project file, and its list view.

A record is plain JSON (it lives in the project's ``"runs"`` list): the network and settings it
ran with, the data it read, how it ended, the per-epoch metrics and the checkpoint folder, so
a run can be reopened (curves, settings, predictions) long after the window was closed.
Selecting two or more runs (Ctrl- or Shift-click) compares them: the panel's companion
``RunComparisonView`` (workbench.views.run_compare) shows what differs, and their curves are
overlaid on the Train page's ``TrainingCurves``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["RunHistoryPanel", "RunRecord", "new_run_id"]

STATUSES = ("completed", "stopped", "failed")


def new_run_id(now: datetime | None = None, folder: Path | None = None) -> str:
    """A readable, sortable id: ``run-20261122-034012``; with ``folder`` (where run folders
    are kept), one no folder there has yet: ``run-20261122-034012-2`` for a second run in the
    same second (Train, Stop, Train), which would otherwise write into the first one's."""
    base = (now or datetime.now()).strftime("run-%Y%m%d-%H%M%S")
    if folder is None:
        return base
    run_id, n = base, 1
    while (Path(folder) / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class RunRecord:
    """One training run. ``history``: the engine's per-epoch lists ("train_loss",
    "val_accuracy", ...). ``checkpoint``: folder of the last checkpoint, or None."""

    id: str
    started: str
    network: str
    spec: dict
    config: dict
    data: str
    status: str
    message: str = ""
    epochs_done: int = 0
    history: dict[str, list] = field(default_factory=dict)
    test_accuracy: float | None = None
    checkpoint: str | None = None

    @property
    def best_val_accuracy(self) -> float | None:
        values = [v for v in map(_finite, self.history.get("val_accuracy", [])) if v is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["history"] = {k: [_finite(v) for v in vs] for k, vs in self.history.items()}
        d["test_accuracy"] = _finite(self.test_accuracy)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> RunRecord:
        """Read a record back; ValueError naming the field for anything malformed."""
        if not isinstance(d, dict):
            raise ValueError(f"a run must be an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        missing = [n for n in ("id", "started", "spec", "config", "data", "status") if n not in d]
        if missing:
            raise ValueError(f"run {d.get('id', '?')}: missing {', '.join(missing)}")
        if d["status"] not in STATUSES:
            raise ValueError(
                f"run {d['id']}: status must be one of {STATUSES}, got {d['status']!r}"
            )
        if not isinstance(d.get("history", {}), dict):
            raise ValueError(f"run {d['id']}: history must be an object")
        return cls(**{k: v for k, v in d.items() if k in known and k != "network"},
                   network=str(d.get("network", "")))  # fmt: skip

    def summary(self) -> str:
        acc = self.best_val_accuracy
        best = f", best validation accuracy {acc:.1%}" if acc is not None else ""
        n = self.epochs_done
        epochs = f"{n} epoch{'' if n == 1 else 's'}"
        return f"{self.network or 'network'}: {self.status} after {epochs}{best}"

    def comparison_input(self):
        """This run as ``engine.compare.RunInput`` (named by its id)."""
        from engine.compare import RunInput

        return RunInput(self.id, self.spec, self.config, self.history, self.test_accuracy)

    def checkpoint_exists(self) -> bool:
        return self.checkpoint is not None and Path(self.checkpoint).exists()

    @classmethod
    def of_job(cls, run_id: str, job, status: str, message: str = "", history=None,
               test_accuracy=None, checkpoint=None) -> RunRecord:  # fmt: skip
        """The record of a ``TrainJob`` that ended with ``status``."""
        history = history or {}
        data = getattr(job.data, "path", None) or getattr(job.data, "source", "")
        return cls(
            id=run_id, started=run_id.removeprefix("run-"), network=job.spec.name,
            spec=job.spec.to_dict(), config=job.config.to_dict(), data=str(data),
            status=status, message=message, epochs_done=len(history.get("epoch", [])),
            history={k: list(v) for k, v in history.items()}, test_accuracy=test_accuracy,
            checkpoint=str(checkpoint) if checkpoint else None,
        )  # fmt: skip

    def load_model(self):
        """The checkpoint's weights as a ``ModelWeights``; ValueError or OSError naming the
        file when it is missing or unreadable."""
        from engine.checkpoint import load_checkpoint
        from engine.data import Preprocessing
        from workbench.workers.predict_worker import ModelWeights

        if self.checkpoint is None:
            raise ValueError(f"{self.id}: no checkpoint was written for this run")
        ckpt = load_checkpoint(self.checkpoint)
        pre = Preprocessing.from_dict(ckpt.preprocessing)
        return ModelWeights(ckpt.spec, ckpt.weights, pre, tuple(ckpt.class_names))


def records(runs: list[Any]) -> list[RunRecord]:
    """The readable records of a project's run list (malformed entries are left out)."""
    out = []
    for entry in runs:
        try:
            out.append(entry if isinstance(entry, RunRecord) else RunRecord.from_dict(entry))
        except (ValueError, TypeError):
            continue
    return out


class RunHistoryPanel(QWidget):
    """The project's runs, newest first, and the comparison of the selected ones.

    Double-click or Reopen emits ``reopenRequested`` (one run). ``selection_changed`` carries
    the selected records (oldest first) on every change; ``comparison_requested`` the same
    list when it holds two or more, which the panel then compares in ``comparison`` (a
    ``RunComparisonView`` beside the list, hidden otherwise) and overlays on the curves (see
    ``set_curves``)."""

    reopenRequested = Signal(object)  # RunRecord
    selection_changed = Signal(list)  # [RunRecord], oldest first
    comparison_requested = Signal(list)  # [RunRecord], two or more, oldest first

    COLUMNS = ("Run", "Network", "Status", "Epochs", "Best val acc", "Test acc", "Checkpoint")
    COMPARE_HEIGHT = 210  # the panel's least height while comparing: four runs' rows readable

    def __init__(self, parent: QWidget | None = None) -> None:
        from workbench.views.run_compare import RunComparisonView

        super().__init__(parent)
        self.setObjectName("runHistory")
        self.tree = QTreeWidget(objectName="runTree")
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setToolTip("Ctrl-click two or more runs to compare them")
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._reopen(item))
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.reopen_button = QPushButton("Reopen run", objectName="reopenRunButton")
        self.reopen_button.setToolTip("Show this run's curves and settings, and predict with it")
        self.reopen_button.setEnabled(False)
        self.reopen_button.clicked.connect(lambda: self._reopen())
        title = QLabel("Run history")
        title.setStyleSheet("font-weight: 600;")
        self.hint = QLabel("Ctrl-click runs to compare", objectName="runHistoryHint")
        self.hint.setEnabled(False)  # drawn in the palette's muted text colour
        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(self.hint)
        head.addStretch(1)
        head.addWidget(self.reopen_button)
        runs = QWidget()
        runs_layout = QVBoxLayout(runs)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addLayout(head)
        runs_layout.addWidget(self.tree)
        self.comparison = RunComparisonView()
        self.comparison.hide()
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="runHistorySplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(runs)
        self.splitter.addWidget(self.comparison)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._records: list[RunRecord] = []
        self._curves = None
        self._curves_given = False

    def set_curves(self, curves) -> None:
        """The ``TrainingCurves`` on which compared runs are overlaid. Without this call the
        panel uses the one in its window (the Train page has one)."""
        self._curves, self._curves_given = curves, True
        self.comparison.set_curves(curves)

    def _find_curves(self):
        if not self._curves_given:
            from workbench.views.curves import TrainingCurves

            found = self.window().findChild(TrainingCurves) if self.window() else None
            if found is not self._curves:
                self._curves = found
                self.comparison.set_curves(found)
        return self._curves

    def set_runs(self, runs: list[Any]) -> None:
        """Show ``runs`` (records or their dicts); the runs that were selected stay selected."""
        keep = {rec.id for rec in self.selected_records()}
        self._records = records(runs)
        self.tree.blockSignals(True)
        self.tree.clear()
        for rec in reversed(self._records):
            best, test = rec.best_val_accuracy, _finite(rec.test_accuracy)
            item = QTreeWidgetItem([
                rec.id,
                rec.network,
                rec.status,
                str(rec.epochs_done),
                f"{best:.1%}" if best is not None else "–",
                f"{test:.1%}" if test is not None else "–",
                rec.checkpoint or "–",
            ])  # fmt: skip
            item.setData(0, Qt.ItemDataRole.UserRole, rec)
            item.setToolTip(0, rec.message or rec.summary())
            item.setToolTip(6, rec.checkpoint or "no checkpoint was written")
            self.tree.addTopLevelItem(item)
            item.setSelected(rec.id in keep)
        self.tree.blockSignals(False)
        for col in range(len(self.COLUMNS) - 1):
            self.tree.resizeColumnToContents(col)
        self._selection_changed()

    def records(self) -> list[RunRecord]:
        return list(self._records)

    def selected_records(self) -> list[RunRecord]:
        """The selected runs, oldest first (the first is a comparison's reference, A)."""
        chosen = {id(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.tree.selectedItems()}
        return [rec for rec in self._records if id(rec) in chosen]

    def _selection_changed(self) -> None:
        chosen = self.selected_records()
        self.reopen_button.setEnabled(len(chosen) == 1)
        self.selection_changed.emit(chosen)
        self._find_curves()
        if len(chosen) >= 2:
            self.comparison.show_runs([rec.comparison_input() for rec in chosen])
            self.comparison.show()
            self.hint.hide()
            self.setMinimumHeight(self.COMPARE_HEIGHT)
            self.comparison_requested.emit(chosen)
        else:
            self.comparison.clear()
            self.comparison.hide()
            self.hint.setVisible(len(self._records) >= 2)
            self.setMinimumHeight(0)

    def _reopen(self, item: QTreeWidgetItem | None = None) -> None:
        if item is None:
            chosen = self.selected_records()
            rec = chosen[0] if len(chosen) == 1 else None
        else:
            rec = item.data(0, Qt.ItemDataRole.UserRole)
        if rec is not None:
            self.reopenRequested.emit(rec)
