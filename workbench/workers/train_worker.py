"""Training in a QThread: iterate ``engine.training.fit`` and re-emit each event as a signal.

The shape is superqt's ``GeneratorWorker`` and Orange3's task/state split: a frozen
``TrainJob`` goes in, the worker walks the engine's generator in its own thread and turns every
frozen event into a queued signal. It never touches a widget and never hands out the live
network: ``Snapshot`` events already carry copies. Stop and pause go straight to the engine's
thread-safe ``TrainControl``, which the generator consults between batches.

Per-batch events are coalesced: the worker collects ``BatchEnd`` events and emits them as one
tuple at most every ``batch_interval_s`` (and always before any other event), so a fast network
cannot flood the GUI thread's event queue with thousands of tiny signals a second.

Why not superqt's ``GeneratorWorker`` itself (``workers.background`` gives the reasons that
hold for every worker: the process-wide warnings hook, the shared thread pool): its pause
sleeps the worker between yields and its ``quit`` abandons the generator where it stands,
so the run would end without its last checkpoint and its ``finally`` code would run whenever
the suspended generator is collected, on any thread. Here pause, resume and stop are the
engine's ``TrainControl`` requests: the generator honours them between batches, reports
them as ``Paused``/``Resumed`` events, and a stop ends the loop with ``Finished`` after
the run's last checkpoint is written. ``stop_and_wait`` joins this run's own thread
(closing the window), which a pooled runnable does not allow.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from engine.data import Dataset, DatasetError, Preprocessing, load_dataset
from engine.spec import NetworkSpec, SpecError
from engine.training import (
    BatchEnd,
    EarlyStopped,
    EpochEnd,
    Finished,
    Note,
    Paused,
    Resumed,
    Snapshot,
    Started,
    TrainConfig,
    TrainControl,
    TrainingError,
    fit,
)
from engine.transfer import TransferError
from workbench.workers.background import keep_until_finished
from workbench.workers.priority import lower_background_threads

__all__ = ["DataRequest", "TrainJob", "TrainRunner", "TrainWorker", "describe_error"]


@dataclass(frozen=True)
class DataRequest:
    """A data set to load in the worker thread: ``path``, an unfitted ``Preprocessing``
    (the network's input geometry and the chosen steps), the validation fraction and seed.
    Loading is fast once the decoded pixels are in the engine's disk cache."""

    path: str
    preprocessing: Preprocessing
    val_fraction: float = 0.1
    seed: int = 0

    def load(self) -> Dataset:
        """The Dataset; raises DatasetError with one line for a missing or unusable source."""
        return load_dataset(
            self.path, self.preprocessing, val_fraction=self.val_fraction, seed=self.seed
        )


@dataclass(frozen=True)
class TrainJob:
    """Everything one run needs, frozen when Train is pressed.

    ``data``: an ``engine.data`` Dataset, or a ``DataRequest`` the worker loads first.
    ``probe``: float32 (P, C, H, W) preprocessed images whose activations ``Snapshot``
    events carry, or None.
    """

    spec: NetworkSpec
    data: object
    config: TrainConfig
    out_dir: Path | None = None
    resume: Path | None = None
    probe: np.ndarray | None = None
    snapshot_interval_s: float = 0.5


def describe_error(exc: BaseException) -> str:
    """One clear message for the GUI. Engine errors already read as sentences; anything else
    gets its type so a bug report can still name it."""
    if isinstance(exc, TrainingError | DatasetError | SpecError | TransferError):
        return str(exc)  # a setting that names no layer (freeze, init from) is one too
    if isinstance(exc, FileNotFoundError | PermissionError | OSError):
        return f"A file could not be read or written: {exc}"
    if isinstance(exc, MemoryError):
        return "Out of memory: try a smaller batch size or a smaller network."
    return f"Training stopped by an unexpected error ({type(exc).__name__}): {exc}"


class TrainWorker(QObject):
    """Runs one ``TrainJob`` when ``run`` is called in its thread. One use only."""

    status = Signal(str)  # human text while nothing else is happening ("Compiling kernels…")
    started = Signal(object)  # engine Started
    batches = Signal(object)  # tuple[BatchEnd, ...], oldest first
    snapshot = Signal(object)  # engine Snapshot
    epochEnded = Signal(object)  # engine EpochEnd
    paused = Signal()
    resumed = Signal()
    finished = Signal(object)  # engine Finished
    failed = Signal(str, object)  # message, last checkpoint path (or None)
    done = Signal()  # always the last signal, after finished or failed

    def __init__(
        self, job: TrainJob, control: TrainControl, batch_interval_s: float = 0.25
    ) -> None:
        super().__init__()
        self._job = job
        self._control = control
        self._interval = batch_interval_s
        self._pending: list[BatchEnd] = []
        self._last_flush = 0.0
        self.last_checkpoint: Path | None = None

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # every failure reaches the GUI as a message
            traceback.print_exc(file=sys.stderr)
            self._flush()
            self.failed.emit(describe_error(exc), self.last_checkpoint)
        finally:
            self.done.emit()

    def _run(self) -> None:
        from engine.network import warm_up

        job = self._job
        # Below the GUI thread from here on (the pools it starts inherit it); the sweep at
        # each epoch's end lowers pool threads that another thread started meanwhile.
        lower_background_threads()
        self.status.emit("Compiling kernels…")
        warm_up()  # compiled once per process; a no-op afterwards
        data = job.data
        if isinstance(data, DataRequest):
            self.status.emit("Loading data…")
            data = data.load()
        events = fit(
            job.spec,
            data,
            job.config,
            control=self._control,
            out_dir=job.out_dir,
            resume=job.resume,
            probe=job.probe,
            snapshot_interval_s=job.snapshot_interval_s,
        )
        for event in events:
            if isinstance(event, BatchEnd):
                self._pending.append(event)
                if time.perf_counter() - self._last_flush >= self._interval:
                    self._flush()
                continue
            self._flush()
            if isinstance(event, Snapshot):
                self.snapshot.emit(event)
            elif isinstance(event, EpochEnd):
                if event.checkpoint is not None:
                    self.last_checkpoint = Path(event.checkpoint)
                self.epochEnded.emit(event)
                lower_background_threads()
            elif isinstance(event, Started):
                self.started.emit(event)
            elif isinstance(event, Paused):
                self.paused.emit()
            elif isinstance(event, Resumed):
                self.resumed.emit()
            elif isinstance(event, Note):
                self.status.emit(event.text)
            elif isinstance(event, EarlyStopped):
                self.status.emit(
                    f"Early stopping after epoch {event.epoch}: the validation loss was lowest "
                    f"at epoch {event.best_epoch} and has not improved for {event.patience}"
                )
            elif isinstance(event, Finished):
                if event.checkpoint is not None:
                    self.last_checkpoint = Path(event.checkpoint)
                self.finished.emit(event)

    def _flush(self) -> None:
        if self._pending:
            self.batches.emit(tuple(self._pending))
            self._pending = []
        self._last_flush = time.perf_counter()


class TrainRunner(QObject):
    """Owns the thread and the worker of the current run; lives in the GUI thread.

    Forwards the worker's signals under the same names, so views connect once to the runner
    and never to a short-lived worker.
    """

    status = Signal(str)
    started = Signal(object)
    batches = Signal(object)
    snapshot = Signal(object)
    epochEnded = Signal(object)
    paused = Signal()
    resumed = Signal()
    finished = Signal(object)
    failed = Signal(str, object)
    stateChanged = Signal(str)  # "idle", "running", "paused", "stopping"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainWorker | None = None
        self._control: TrainControl | None = None
        self.state = "idle"

    # ------------------------------------------------------------------ control

    def is_active(self) -> bool:
        """True from ``start`` until the thread has finished (stopping included)."""
        return self._thread is not None

    def start(self, job: TrainJob) -> None:
        if self.is_active():
            raise RuntimeError("a training run is already active; stop it first")
        self._control = TrainControl()
        # No parent: if the window goes while the run is still stopping, the registry (not
        # this object) keeps the thread alive until it ends; a QThread destroyed while
        # running would abort the process. At quit the run is asked to stop, then joined.
        self._thread = QThread()
        self._thread.setObjectName("trainThread")
        self._worker = TrainWorker(job, self._control)
        self._worker.moveToThread(self._thread)
        w = self._worker
        for name in ("status", "started", "batches", "snapshot", "epochEnded", "finished"):
            getattr(w, name).connect(getattr(self, name))
        w.failed.connect(self.failed)
        w.paused.connect(self._on_paused)
        w.resumed.connect(self._on_resumed)
        # Direct: quit must reach the thread even while the GUI thread waits in stop_and_wait.
        w.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.started.connect(w.run)
        self._thread.finished.connect(self._cleanup)
        keep_until_finished(self._thread, self._worker, stop=self._control.request_stop)
        self._set_state("running")
        self._thread.start()

    def pause(self) -> None:
        if self._control is not None and self.state == "running":
            self._control.pause()

    def resume(self) -> None:
        if self._control is not None and self.state == "paused":
            self._control.resume()

    def stop(self) -> None:
        """Ask the run to end after the current batch; it keeps its last checkpoint."""
        if self._control is None or self.state == "stopping":
            return
        self._control.request_stop()  # also wakes a paused loop
        self._set_state("stopping")

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        """Stop and join the thread (for closing the window). True when it ended in time."""
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        ended = thread.wait(timeout_ms)
        if ended:
            # Deliver the queued finished/done signals now, so the thread is cleaned up.
            QCoreApplication.sendPostedEvents()
            QCoreApplication.processEvents()
        return ended

    # ------------------------------------------------------------------ internals

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    @Slot()
    def _on_paused(self) -> None:
        if self.state != "stopping":
            self._set_state("paused")
        self.paused.emit()

    @Slot()
    def _on_resumed(self) -> None:
        if self.state != "stopping":
            self._set_state("running")
        self.resumed.emit()

    @Slot()
    def _cleanup(self) -> None:
        # The registry drops its references to the finished thread and worker (Python owns
        # them, so that deletes them); nothing to delete here.
        self._thread = self._worker = self._control = None
        self._set_state("idle")
