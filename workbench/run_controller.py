"""One window's training run: start it, lock the network while it runs, record how it ended.

``RunController.start_training`` freezes the document's spec, the loaded data and the
training form into a ``TrainJob`` and hands it to the ``TrainRunner`` (the training
thread). While the run is active the document is locked, so an edit can never silently
change the running network, and the interpreter's GIL switch interval is shortened so that
paints get in between the loop's Python stretches. Each finished or failed run becomes a
``RunRecord`` in the project's history; ``reopen_run`` shows a past one again. Closing the
window during a run asks first (``confirm_close``), then stops the run and joins its thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from engine.data import DatasetError
from workbench.project import data_dir
from workbench.runs import RunRecord, new_run_id
from workbench.views.view_turns import view_turns
from workbench.workers.train_worker import TrainJob

__all__ = ["RunController", "default_runs_root"]

LOCK_REASON = "Training is running: stop it to edit the network (or edit after it ends)."
PAUSED_REASON = "Training is paused: resume it, or stop it to edit the network."
#: Seconds between the snapshots that feed the feature maps, filters and histograms (the
#: curves and the progress follow every batch). A snapshot costs the training its probe
#: forward and weight copies, and the window its drawing: pictures of the cells in view,
#: four plots, histograms, all Python that holds the GIL the training's threads need between
#: their kernels. benchmarks/bench_gui.py, every view open, 5 interleaved rounds: at 1 s,
#: densenet-cifar trained at 0.79 of headless (CPU per image 1.22x) and inception-cifar at
#: 0.82; at 2 s densenet-cifar 0.89 (1.10x) and resnet20 0.94 (1.11x).
SNAPSHOT_INTERVAL_S = 2.0
#: Images whose activations every snapshot carries: the feature maps show the first, the
#: filters page's histograms use all of them (dead units are counted on validation images).
#: The probe forward is most of a snapshot's cost (resnet20: 16 images 62 ms, 8 images 34 ms),
#: which comes out of the training's time, so no more than a histogram needs.
PROBE_IMAGES = 8


def default_runs_root() -> Path:
    """Where runs of a project never saved go: ~/.local/share/CNN Workbench/runs on Linux."""
    return data_dir() / "runs"


class RunController(QObject):
    """Starts, follows and records the runs of ``window``'s document. ``pages``: the
    ``TrainPages``; ``data``: the ``LoadedDataModel``; ``runner``, ``feed``: the
    ``TrainRunner`` and its ``LiveFeed``; ``estimate``: the ``EpochEstimateUI``;
    ``predictions``: the ``PredictController``; ``message(title, text)``: a warning."""

    def __init__(
        self, window, pages, data, runner, feed, estimate, predictions,
        message: Callable[[str, str], None], parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.window, self.document, self.pages, self.data = window, window.document, pages, data
        self.runner, self.feed = runner, feed
        self.estimate, self.predictions = estimate, predictions
        self._message = message
        self.runs_root: Path | None = None  # None: next to the project file, else app data
        self.job: TrainJob | None = None
        self.run_id = ""
        tp = pages.training_panel
        tp.trainRequested.connect(self.start_training)
        tp.pauseRequested.connect(runner.pause)
        tp.resumeRequested.connect(runner.resume)
        tp.stopRequested.connect(runner.stop)
        runner.stateChanged.connect(tp.set_state)
        runner.stateChanged.connect(self._state_changed)
        runner.status.connect(tp.set_status)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.epochEnded.connect(self._epoch_ended)
        pages.runs_panel.reopenRequested.connect(self.reopen_run)

    def start_training(self) -> bool:
        """Freeze spec, data choice and settings into a job and start it; False (with a
        message) when something is missing."""
        if self.runner.is_active():
            return False
        blocker = self.document.train_blocker
        if blocker:
            self._message("Cannot train", blocker)
            return False
        pages = self.pages
        try:
            cfg = pages.training_panel.config()
            pages.dataset_panel.set_split(cfg.val_split, cfg.seed)
            request = pages.dataset_panel.request()
        except (ValueError, DatasetError) as exc:
            self._message("Cannot train", str(exc))
            return False
        self.run_id = new_run_id(folder=self._runs_folder())
        loaded = self.data.current
        probe = self.data.probe(PROBE_IMAGES)
        # The data set the Data page shows is the one to train on: hand it over instead of
        # loading it again in the worker, whose Python-heavy loading (a file walk, the cache
        # key, the health report) would fight the GUI thread for the GIL as the run starts.
        # A source that has vanished since is loaded again, so the worker reports it.
        data = request
        if loaded is not None and loaded.request == request and Path(request.path).exists():
            data = loaded.dataset
        job = TrainJob(
            spec=self.document.spec, data=data, config=cfg,
            out_dir=self._runs_folder() / self.run_id, probe=probe,
            snapshot_interval_s=SNAPSHOT_INTERVAL_S,
        )  # fmt: skip
        self.job = job
        self.estimate.run_started()
        self.feed.begin(job.spec, job.probe, cfg.epochs)
        pages.inspect_label.setText(f"Showing the run in progress ({self.run_id})")
        self.runner.start(job)
        return True

    def _epoch_ended(self, event) -> None:
        # Dead units on the newest weights, counted in the background beside the training;
        # after the last epoch the run's end counts them on its final weights instead.
        # Both start after the views' drawing of the epoch's end (the confusion matrix, the
        # curves, the feature maps: their steps are in the line before this one): a count's
        # Python holds the GIL that each of those paints takes hundreds of times, and beside
        # it the paints of a run's end took 13-26 ms instead of 4 (resnet20).
        job = self.job
        if job is None or event.epoch < job.config.epochs:
            view_turns().request(
                self, "dead units", lambda: self.predictions.count_dead_units(live=True)
            )

    def _runs_folder(self) -> Path:
        if self.runs_root is not None:
            return self.runs_root
        path = self.document.path
        return Path(path).with_suffix(".runs") if path else default_runs_root()

    def _state_changed(self, state: str) -> None:
        if state == "idle":
            self.document.set_locked(False)
            self.feed.end()
            # The run's last weights, after the drawing of its end (see _epoch_ended).
            view_turns().request(self, "dead units", self.predictions.count_dead_units)
        else:
            self.document.set_locked(True, PAUSED_REASON if state == "paused" else LOCK_REASON)

    def _on_finished(self, event) -> None:
        history = event.history or self.feed.history
        self._record(event.reason, "", history, event.test_accuracy, event.checkpoint)
        test = event.test_accuracy
        tail = f" · test accuracy {test:.1%}" if test is not None else ""
        self.pages.training_panel.set_status(f"Finished ({event.reason}){tail}")

    def _on_failed(self, message: str, checkpoint) -> None:
        self._record("failed", message, self.feed.history, None, checkpoint)
        kept = f"\n\nThe last checkpoint is kept: {checkpoint}" if checkpoint else ""
        self.pages.training_panel.set_status("Training failed")
        self._message("Training stopped", message + kept)

    def _record(self, status, message, history, test_accuracy, checkpoint) -> None:
        job = self.job
        if job is None:
            return
        record = RunRecord.of_job(
            self.run_id, job, status, message, history, test_accuracy, checkpoint
        )
        self.document.add_run(record.to_dict())  # its runsChanged refills the runs panel
        # The Inspect page said "the run in progress": it is over, say how it ended.
        self.pages.inspect_label.setText(f"Showing run {record.id} ({record.summary()})")

    def reopen_run(self, record: RunRecord) -> bool:
        """Show a past run: its curves and settings; predictions use its checkpoint."""
        if self.runner.is_active():
            self._message("Cannot reopen a run", "Stop the current training first.")
            return False
        tp = self.pages.training_panel
        self.feed.show_history(record.history)
        try:
            tp.set_config(record.config)
        except ValueError:
            pass
        if not record.checkpoint_exists():
            self._message("Run reopened without weights",
                          f"{record.id}: its checkpoint {record.checkpoint or ''} is gone; "
                          "the curves and settings are shown.")  # fmt: skip
            return True
        try:
            model = record.load_model()
        except (ValueError, OSError) as exc:
            self._message("Cannot open the run's checkpoint", str(exc))
            return False
        tp.set_status(f"Reopened {record.id}: {record.summary()}")
        self.predictions.inspect(model, f"Showing run {record.id} ({record.summary()})")
        return True

    def confirm_close(self) -> bool:
        """A close guard: during a run, ask first. Nothing is stopped here: the window may
        still ask about unsaved changes, and a Cancel there must leave the run going."""
        if not self.runner.is_active():
            return True
        answer = QMessageBox.question(
            self.window, "Training is running",
            "A network is training. Stop it and close? The last checkpoint is kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes
