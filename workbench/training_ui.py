"""Train and Inspect: the panels and live views of issue 5, wired to the training worker.

``install_training(window)`` adds three pages to a ``MainWindow`` (Data, Train, Inspect) and
returns the ``TrainingController`` that owns the run: it freezes the document's spec, the data
choice and the settings into a ``TrainJob``, hands it to a ``TrainRunner`` (a QThread iterating
``engine.training.fit``) and feeds the views from the events. Views are fed at a bounded rate:
batches arrive coalesced, curves redraw on their own 10 Hz timer, and the heavier views
(feature maps, filters) take only the newest snapshot on a 4 Hz timer, skipping any snapshot
that arrived in between. While a run is active the document is locked, so an edit can never
silently change the running network.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QStandardPaths, QTimer
from PySide6.QtWidgets import QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine.data import DatasetError, IMAGE_EXTENSIONS
from workbench.runs import RunHistoryPanel, RunRecord, new_run_id
from workbench.views.curves import TrainingCurves
from workbench.views.dataset_panel import DatasetPanel, LoadedData
from workbench.views.training_panel import TrainingPanel
from workbench.workers.train_worker import TrainJob, TrainRunner
from workbench.workers.warmup import EpochTimeEstimator

__all__ = ["TrainingController", "install_training"]

LOCK_REASON = "Training is running: stop it to edit the network (or edit after it ends)."
SNAPSHOT_INTERVAL_S = 0.5


def default_runs_root() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".cnn-workbench") / "runs"


class _Model:
    """The newest weights the views may use (a snapshot's copies or a checkpoint's), with
    what is needed to run them: spec, fitted preprocessing and class names. Never the live
    network of the training thread."""

    def __init__(self, spec, weights, preprocessing, class_names) -> None:
        self.spec, self.weights = spec, weights
        self.preprocessing, self.class_names = preprocessing, tuple(class_names)


def _predict(model: _Model, path: str):
    """(image float32 (C, H, W), probabilities (K,), activations per layer) for one file;
    runs in a worker thread on copies."""
    from engine.data import apply_image
    from engine.network import build

    x = apply_image(model.preprocessing, path)[None]
    net = build(model.spec, seed=0)
    net.load_state_dict(model.weights)
    activations = net.forward_activations(x)
    from engine.losses import softmax

    return path, x, softmax(activations[-1])[0], activations


class TrainingController(QObject):
    """Owns the training run of one MainWindow and everything on the Data/Train/Inspect pages."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self.runs_root: Path | None = None  # None: next to the project file, else app data
        self.update_hidden_views = False  # the benchmark feeds every view, visible or not
        self.runner = TrainRunner(self)
        self.estimator = EpochTimeEstimator(self)
        self._job: TrainJob | None = None
        self._run_id = ""
        self._history: dict[str, list] = {}
        self._model: _Model | None = None
        self._pending_snapshot = None
        self._latest_batch = None
        self._class_names: tuple[str, ...] = ()
        self._build_pages()
        self._connect()
        self._snapshot_timer = QTimer(self, interval=250)
        self._snapshot_timer.timeout.connect(self._flush_snapshot)
        self._estimate_timer = QTimer(self, singleShot=True, interval=400)
        self._estimate_timer.timeout.connect(self._request_estimate)
        self.dataset_panel.set_input_shape(self.document.spec.input.shape)
        self.runs_panel.set_runs(self.document.runs)
        self._settings_to_panel()
        self._spec_changed()
        self.estimator.warm_up()
        window.installEventFilter(self)
