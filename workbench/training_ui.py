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

import numpy as np
from PySide6.QtCore import QEvent, QObject, QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine.data import IMAGE_EXTENSIONS, DatasetError
from workbench.runs import RunHistoryPanel, RunRecord, new_run_id
from workbench.views.curves import TrainingCurves
from workbench.views.dataset_panel import DatasetPanel, LoadedData
from workbench.views.training_panel import TrainingPanel
from workbench.workers.background import BackgroundCall
from workbench.workers.train_worker import TrainJob, TrainRunner, describe_error
from workbench.workers.warmup import EpochTimeEstimator

__all__ = ["TrainingController", "install_training"]

LOCK_REASON = "Training is running: stop it to edit the network (or edit after it ends)."
SNAPSHOT_INTERVAL_S = 0.5
PROBE_IMAGES = 16


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
        self._shown = None  # (Snapshot, spec) last shown
        self._fed: set[str] = set()  # views that have drawn it
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

    # ------------------------------------------------------------------ pages

    def _build_pages(self) -> None:
        from workbench.views.confusion import ConfusionMatrixView
        from workbench.views.feature_maps import FeatureMapsView
        from workbench.views.filters import FiltersView
        from workbench.views.predict_view import PredictView

        self.dataset_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        self.runs_panel = RunHistoryPanel()
        self.curves = TrainingCurves()
        self.feature_maps = FeatureMapsView()
        self.filters = FiltersView()
        self.confusion = ConfusionMatrixView()
        self.predict = PredictView()

        self.training_panel.setMaximumWidth(400)
        views = QSplitter(Qt.Orientation.Vertical, objectName="trainViews")
        for widget, stretch in ((self.curves, 3), (self.feature_maps, 4), (self.runs_panel, 1)):
            views.addWidget(widget)
            views.setStretchFactor(views.count() - 1, stretch)
        train_page = QSplitter(objectName="trainPage")
        train_page.addWidget(self.training_panel)
        train_page.addWidget(views)
        train_page.setStretchFactor(1, 1)

        self.inspect_tabs = QTabWidget(objectName="inspectTabs")
        self.inspect_tabs.addTab(self.filters, "Filters and health")
        self.inspect_tabs.addTab(self.confusion, "Confusion matrix")
        self.inspect_tabs.addTab(self.predict, "Predict")
        inspect_page = QWidget(objectName="inspectPage")
        QVBoxLayout(inspect_page).addWidget(self.inspect_tabs)

        self.data_index = self.window.add_page(self.dataset_panel, "Data")
        self.train_index = self.window.add_page(train_page, "Train")
        self.inspect_index = self.window.add_page(inspect_page, "Inspect")
        self.train_page, self.inspect_page = train_page, inspect_page

    def _connect(self) -> None:
        tp, r = self.training_panel, self.runner
        tp.trainRequested.connect(self.start_training)
        tp.pauseRequested.connect(r.pause)
        tp.resumeRequested.connect(r.resume)
        tp.stopRequested.connect(r.stop)
        tp.settingsChanged.connect(self._settings_changed)
        r.stateChanged.connect(tp.set_state)
        r.stateChanged.connect(self._state_changed)
        r.status.connect(tp.set_status)
        r.started.connect(self._on_started)
        r.batches.connect(self._on_batches)
        r.snapshot.connect(self._on_snapshot)
        r.epochEnded.connect(self._on_epoch)
        r.finished.connect(self._on_finished)
        r.failed.connect(self._on_failed)
        self.document.specChanged.connect(self._spec_changed)
        self.document.settingsChanged.connect(self._settings_to_panel)
        self.dataset_panel.datasetChanged.connect(self._dataset_loaded)
        self.dataset_panel.loadFailed.connect(lambda _m: self._update_blocker())
        self.estimator.estimated.connect(
            lambda e: tp.show_estimate(e.epoch_s, e.images_per_s) if not r.is_active() else None
        )
        self.estimator.failed.connect(lambda m: tp.show_estimate_text(f"No estimate: {m}"))
        self.runs_panel.reopenRequested.connect(self.reopen_run)
        self.window.pages.currentChanged.connect(self._feed_visible)
        self.inspect_tabs.currentChanged.connect(self._feed_visible)
        self.predict.imageDropped.connect(self.predict_file)
        self._predictor = BackgroundCall(self, describe=describe_error)
        self._predictor.result.connect(self._on_prediction)
        self._predictor.error.connect(lambda m: self._message("Cannot predict", m))

    # ------------------------------------------------------------------ state

    def is_training(self) -> bool:
        return self.runner.is_active()

    def _spec_changed(self) -> None:
        if not self.runner.is_active():
            self.dataset_panel.set_input_shape(self.document.spec.input.shape)
        self._update_blocker()
        self._estimate_timer.start()

    def _update_blocker(self) -> None:
        reason = self.document.train_blocker
        if not reason and not self.dataset_panel.path:
            reason = "choose a data set on the Data page (or drop a folder on the window)"
        elif (
            not reason and self.dataset_panel.loaded is None and not self.dataset_panel.is_loading()
        ):
            reason = "the data set could not be loaded (see the Data page)"
        self.training_panel.set_blocker(reason)

    def _settings_to_panel(self) -> None:
        saved = self.document.settings.get("training")
        if saved and not self.runner.is_active():
            try:
                self.training_panel.set_config(saved)
            except ValueError:
                return  # a hand-edited project with a bad setting: keep the form as it is
        data = self.document.settings.get("data")
        if data and data != self.dataset_panel.path and Path(data).exists():
            self.dataset_panel.set_source(data)

    def _settings_changed(self) -> None:
        try:
            cfg = self.training_panel.config()
        except ValueError as exc:
            self.training_panel.set_status(str(exc))
            return
        self.dataset_panel.set_split(cfg.val_split, cfg.seed)
        settings = self.document.settings
        if settings.get("training") != cfg.to_dict():
            settings["training"] = cfg.to_dict()
            self.document.set_settings(settings)
        self._estimate_timer.start()

    def _dataset_loaded(self, loaded: LoadedData) -> None:
        settings = self.document.settings
        if settings.get("data") != loaded.request.path:
            settings["data"] = loaded.request.path
            self.document.set_settings(settings)
        self._update_blocker()
        self._estimate_timer.start()

    def _request_estimate(self) -> None:
        if self.runner.is_active() or self.document.train_blocker:
            return
        loaded = self.dataset_panel.loaded
        if loaded is None:
            n_train, n_val = 1000, 0
        else:
            splits = loaded.dataset.splits
            n_train = len(splits["train"])
            n_val = len(splits["val"]) if "val" in splits else 0
        self.training_panel.show_estimate(None)
        self.estimator.request(
            self.document.spec, self.training_panel.batch_size.value(), n_train, n_val
        )

    def _state_changed(self, state: str) -> None:
        if state == "idle":
            self.document.set_locked(False)
            self._snapshot_timer.stop()
            self._flush_snapshot()
            self._update_blocker()
            self._estimate_timer.start()
        else:
            self.document.set_locked(True, LOCK_REASON)

    # ------------------------------------------------------------------ running

    def start_training(self) -> bool:
        """Freeze spec, data choice and settings into a job and start it; False (with a
        message) when something is missing."""
        if self.runner.is_active():
            return False
        blocker = self.document.train_blocker
        if blocker:
            self._message("Cannot train", blocker)
            return False
        try:
            cfg = self.training_panel.config()
            self.dataset_panel.set_split(cfg.val_split, cfg.seed)
            request = self.dataset_panel.request()
        except (ValueError, DatasetError) as exc:
            self._message("Cannot train", str(exc))
            return False
        self._run_id = new_run_id()
        root = self.runs_root
        if root is None:
            path = self.document.path
            root = Path(path).with_suffix(".runs") if path else default_runs_root()
        job = TrainJob(
            spec=self.document.spec, data=request, config=cfg, out_dir=root / self._run_id,
            probe=self._probe(), snapshot_interval_s=SNAPSHOT_INTERVAL_S,
        )  # fmt: skip
        self._job = job
        self._history = {}
        self._pending_snapshot = None
        self._latest_batch = None
        self.curves.clear()
        self.training_panel.progress.setValue(0)
        self.feature_maps.set_spec(job.spec)
        if job.probe is not None:
            self.feature_maps.set_probe(job.probe[0])
        self.runner.start(job)
        self._snapshot_timer.start()
        return True

    def _probe(self):
        """float32 (P, C, H, W): the first validation images (else training images) of the
        loaded data, preprocessed as training will; None before data is loaded. The feature
        maps show the first; the dead-ReLU count uses them all."""
        loaded = self.dataset_panel.loaded
        if loaded is None:
            return None
        from engine.data import apply_array

        ds = loaded.dataset
        split = ds.splits.get("val") or ds.splits["train"]
        if len(split) == 0:
            return None
        images, _ = split.take(np.arange(min(PROBE_IMAGES, len(split))))
        return apply_array(ds.preprocessing, images)

    def _on_started(self, event) -> None:
        self._class_names = tuple(event.class_names)
        self.training_panel.start_run(event)

    def _on_batches(self, events) -> None:
        for e in events:
            self.curves.add_batch(e.epoch - 1 + e.batch / e.batches_per_epoch, e.loss, e.accuracy)
        self._latest_batch = events[-1]
        self.training_panel.show_batch(events[-1])

    def _on_snapshot(self, snapshot) -> None:
        self._pending_snapshot = snapshot  # the 4 Hz timer shows only the newest one

    def _flush_snapshot(self) -> None:
        snap, job = self._pending_snapshot, self._job
        if snap is None or job is None:
            return
        self._pending_snapshot = None
        self._shown = (snap, job.spec)
        self._fed: set[str] = set()
        loaded = self.dataset_panel.loaded
        if loaded is not None:
            self._model = _Model(
                job.spec, snap.weights, loaded.dataset.preprocessing, loaded.dataset.class_names
            )
        self._feed_visible()

    def _feed_visible(self, *_args) -> None:
        """Give the newest snapshot to each view that is on screen and has not had it; a
        hidden view catches up when it is shown (unless ``update_hidden_views``)."""
        if self._shown is None:
            return
        snap, spec = self._shown
        every = self.update_hidden_views
        if "maps" not in self._fed and (every or self.feature_maps.isVisible()):
            if snap.activations is not None:
                self.feature_maps.update_activations(snap.activations)
            self._fed.add("maps")
        if "filters" not in self._fed and (every or self.filters.isVisible()):
            self.filters.update_snapshot(snap.weights, snap.activations, spec)
            self._fed.add("filters")

    def _on_epoch(self, e) -> None:
        for key, value in (("epoch", e.epoch), ("train_loss", e.train_loss),
                           ("train_accuracy", e.train_accuracy), ("val_loss", e.val_loss),
                           ("val_accuracy", e.val_accuracy), ("lr", e.lr)):  # fmt: skip
            self._history.setdefault(key, []).append(value)
        self.curves.add_epoch(e.epoch, e.val_loss, e.val_accuracy)
        probs, labels = e.val_predictions
        if len(labels):
            loaded = self.dataset_panel.loaded
            images = None
            if loaded is not None and "val" in loaded.dataset.splits:
                val = loaded.dataset.splits["val"]
                images = val.images if len(val) == len(labels) else None
            self.confusion.set_results(probs, labels, self._class_names, images)

    def _on_finished(self, event) -> None:
        history = event.history or self._history
        self._record(event.reason, "", history, event.test_accuracy, event.checkpoint)
        self.training_panel.set_status(
            f"Finished ({event.reason})" + (f" · test accuracy {event.test_accuracy:.1%}"
                                            if event.test_accuracy is not None else "")
        )  # fmt: skip

    def _on_failed(self, message: str, checkpoint) -> None:
        self._record("failed", message, self._history, None, checkpoint)
        kept = f"\n\nThe last checkpoint is kept: {checkpoint}" if checkpoint else ""
        self.training_panel.set_status("Training failed")
        self._message("Training stopped", message + kept)

    def _record(self, status, message, history, test_accuracy, checkpoint) -> None:
        job = self._job
        if job is None:
            return
        record = RunRecord(
            id=self._run_id, started=self._run_id[4:], network=job.spec.name,
            spec=job.spec.to_dict(), config=job.config.to_dict(), data=str(job.data.path),
            status=status, message=message, epochs_done=len(history.get("epoch", [])),
            history={k: list(v) for k, v in history.items()}, test_accuracy=test_accuracy,
            checkpoint=str(checkpoint) if checkpoint else None,
        )  # fmt: skip
        self.document.add_run(record.to_dict())
        self.runs_panel.set_runs(self.document.runs)

    # ------------------------------------------------------------------ runs, predict, drops

    def reopen_run(self, record: RunRecord) -> bool:
        """Show a past run: its curves and settings; predictions use its checkpoint."""
        if self.runner.is_active():
            self._message("Cannot reopen a run", "Stop the current training first.")
            return False
        self.curves.clear()
        h = record.history
        for i, epoch in enumerate(h.get("epoch", [])):
            self.curves.add_batch(epoch, h["train_loss"][i], h["train_accuracy"][i])
            self.curves.add_epoch(epoch, _at(h, "val_loss", i), _at(h, "val_accuracy", i))
        try:
            self.training_panel.set_config(record.config)
        except ValueError:
            pass
        if not record.checkpoint_exists():
            self._message("Run reopened without weights",
                          f"{record.id}: its checkpoint {record.checkpoint or ''} is gone; "
                          "the curves and settings are shown.")  # fmt: skip
            return True
        from engine.checkpoint import load_checkpoint
        from engine.data import Preprocessing

        try:
            ckpt = load_checkpoint(record.checkpoint)
            pre = Preprocessing.from_dict(ckpt.preprocessing)
        except (ValueError, OSError) as exc:
            self._message("Cannot open the run's checkpoint", str(exc))
            return False
        self._model = _Model(ckpt.spec, ckpt.weights, pre, ckpt.class_names)
        self.training_panel.set_status(f"Reopened {record.id}: {record.summary()}")
        return True

    def predict_file(self, path: str) -> None:
        """Classify one image file with the newest weights; the answer goes to the predict
        view (and its activations to the feature maps when no run is active)."""
        model = self._model
        if model is None:
            self._message(
                "Nothing to predict with yet",
                "Train a network (or reopen a run) first, then drop the image again.",
            )
            return
        self.window.pages.setCurrentIndex(self.inspect_index)
        self.inspect_tabs.setCurrentWidget(self.predict)
        self._predictor.start(lambda: _predict(model, path))

    def _on_prediction(self, result) -> None:
        path, x, probs, activations = result
        model = self._model
        names = model.class_names if model is not None else tuple(map(str, range(len(probs))))
        self.predict.show_prediction(path, probs, names)
        if not self.runner.is_active() and model is not None:
            self.feature_maps.set_spec(model.spec)
            self.feature_maps.set_probe(x[0])
            self.feature_maps.update_activations(activations)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window:
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and _dropped(event):
                event.acceptProposedAction()
                return True
            if kind == QEvent.Type.Drop:
                path = _dropped(event)
                if path:
                    event.acceptProposedAction()
                    self._handle_drop(path)
                    return True
            if kind == QEvent.Type.Close and not self._allow_close():
                event.ignore()
                return True
        return super().eventFilter(obj, event)

    def _handle_drop(self, path: str) -> None:
        if Path(path).is_dir():
            if self.runner.is_active():
                self._message("Training is running", "Stop it before changing the data set.")
                return
            self.dataset_panel.set_source(path)
            self.window.pages.setCurrentIndex(self.data_index)
        else:
            self.predict_file(path)

    def _allow_close(self) -> bool:
        """Closing during a run asks first; yes stops the run and joins its thread."""
        if self.runner.is_active():
            answer = QMessageBox.question(
                self.window, "Training is running",
                "A network is training. Stop it and close? The last checkpoint is kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                return False
            self.runner.stop_and_wait()
        self.shutdown()
        return True

    def shutdown(self) -> None:
        """Join every thread this controller started (training, estimates, loads)."""
        self.runner.stop_and_wait()
        self.estimator.wait()
        self.dataset_panel.wait()
        self._predictor.wait()

    def _message(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)


def _at(history: dict[str, list], key: str, i: int):
    values = history.get(key, [])
    return values[i] if i < len(values) else None


def _dropped(event) -> str:
    """A dropped folder or image file (the first one), else ""."""
    data = event.mimeData()
    for url in data.urls() if data.hasUrls() else ():
        if url.isLocalFile():
            path = url.toLocalFile()
            if Path(path).is_dir() or path.lower().endswith(tuple(IMAGE_EXTENSIONS)):
                return path
    return ""


def install_training(window) -> TrainingController:
    """Add the Data, Train and Inspect pages to ``window`` (a workbench MainWindow) and
    return their controller (also kept as ``window.training``)."""
    controller = TrainingController(window)
    window.training = controller
    return controller
