"""Train and Inspect: the panels and live views of issue 5, wired to the training worker.

``install_training(window)`` adds three pages to a ``MainWindow`` (Data, Train, Inspect) and
returns the ``TrainingController`` that owns the run: it freezes the document's spec, the data
choice and the settings into a ``TrainJob``, hands it to a ``TrainRunner`` (a QThread iterating
``engine.training.fit``); a ``LiveFeed`` passes the events on to the views at a bounded rate.
While a run is active the document is locked, so an edit can never silently change the
running network. Dropping a folder on the window chooses the data; dropping an image predicts
it. Closing the window during a run asks first, then stops the run and joins its thread.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.data import IMAGE_EXTENSIONS, DatasetError
from workbench.live_feed import LiveFeed
from workbench.project import data_dir
from workbench.runs import RunHistoryPanel, RunRecord, new_run_id
from workbench.views.curves import TrainingCurves
from workbench.views.dataset_panel import DatasetPanel, LoadedData
from workbench.views.training_panel import TrainingPanel
from workbench.workers.background import BackgroundCall
from workbench.workers.predict_worker import (
    ModelWeights,
    dead_units_of,
    inspect_run,
    predict_file,
    predict_paths,
)
from workbench.workers.train_worker import TrainJob, TrainRunner, describe_error
from workbench.workers.warmup import EpochTimeEstimator

__all__ = ["TrainingController", "install_training"]

LOCK_REASON = "Training is running: stop it to edit the network (or edit after it ends)."
PAUSED_REASON = "Training is paused: resume it, or stop it to edit the network."
SNAPSHOT_INTERVAL_S = 1.0
PROBE_IMAGES = 16
GIL_SWITCH_S = 0.001


def default_runs_root() -> Path:
    """Where runs of a project never saved go: ~/.local/share/CNN Workbench/runs on Linux."""
    return data_dir() / "runs"


class TrainingController(QObject):
    """Owns the training run of one MainWindow and everything on the Data/Train/Inspect pages."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self.runs_root: Path | None = None  # None: next to the project file, else app data
        self.runner = TrainRunner(self)
        self.estimator = EpochTimeEstimator(self)
        self._job: TrainJob | None = None
        self._run_id = ""
        self._model: ModelWeights | None = None  # newest weights for predictions
        self._switch_interval = sys.getswitchinterval()
        self._allowed_data: set[str] = set()  # data folders the person agreed to load
        self._automatic_source = ""  # a data set loaded for the person, not chosen by them
        self._build_pages()
        self.feed = LiveFeed(self.runner, self, self.dataset_panel, self)
        self._connect()
        self._estimate: tuple | None = None  # (key, EpochEstimate) of the latest answer
        self._estimate_asked: tuple | None = None  # key being measured
        self._last_epoch_s: float | None = None  # the last run's own epoch time
        self._estimate_timer = QTimer(self, singleShot=True, interval=400)
        self._estimate_timer.timeout.connect(self._request_estimate)
        self.dataset_panel.set_input_shape(self.document.spec.input.shape)
        self.feed.show_spec(self.document.spec)
        self.runs_panel.set_runs(self.document.runs)
        self._settings_to_panel()
        self._spec_changed()
        # Nothing touches the engine until the person heads for training: the warm-up
        # starts when the Data or Train page is first shown (or data is loaded), the epoch
        # time is measured only while the Train page is on screen.
        window.installEventFilter(self)
        window.close_guards.append(self._confirm_close)
        window.close_actions.append(self.shutdown)

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

        # A fixed width: the panel's texts change while training (progress, ETA, estimate), and
        # a panel that followed them would re-lay out every plot beside it, a 50 ms stall.
        self.training_panel.setFixedWidth(
            max(280, min(360, self.training_panel.sizeHint().width()))
        )
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
        # Which run the Inspect page shows: the one training, or one reopened from history.
        self.inspect_label = QLabel("No run yet: train, or reopen a run from the history",
                                    objectName="inspectRunLabel", wordWrap=True)  # fmt: skip
        inspect_layout = QVBoxLayout(inspect_page)
        inspect_layout.addWidget(self.inspect_label)
        inspect_layout.addWidget(self.inspect_tabs)

        self.data_index = self.window.add_page(self.dataset_panel, "Data")
        self.train_index = self.window.add_page(train_page, "Train")
        self.inspect_index = self.window.add_page(inspect_page, "Inspect", scroll=False)
        self.train_page, self.inspect_page = train_page, inspect_page

    def _connect(self) -> None:
        tp, r = self.training_panel, self.runner
        tp.trainRequested.connect(self.start_training)
        tp.fixRequested.connect(self._apply_blocker_fix)
        tp.pauseRequested.connect(r.pause)
        tp.resumeRequested.connect(r.resume)
        tp.stopRequested.connect(r.stop)
        tp.settingsChanged.connect(self._settings_changed)
        r.stateChanged.connect(tp.set_state)
        r.stateChanged.connect(self._state_changed)
        r.status.connect(tp.set_status)
        r.finished.connect(self._on_finished)
        r.failed.connect(self._on_failed)
        self.document.specChanged.connect(self._spec_changed)
        self.document.settingsChanged.connect(self._settings_to_panel)
        self.document.runsChanged.connect(lambda: self.runs_panel.set_runs(self.document.runs))
        self.dataset_panel.datasetChanged.connect(self._dataset_loaded)
        self.dataset_panel.loadFailed.connect(lambda _m: self._update_blocker())
        self.estimator.estimated.connect(self._on_estimate)
        self.estimator.failed.connect(self._on_estimate_failed)
        r.epochEnded.connect(self._epoch_ended)
        self.runs_panel.reopenRequested.connect(self.reopen_run)
        self.feed.modelChanged.connect(lambda model: setattr(self, "_model", model))
        self.window.pages.currentChanged.connect(self.feed.feed_visible)
        self.window.pages.currentChanged.connect(self._page_changed)
        self.inspect_tabs.currentChanged.connect(self.feed.feed_visible)
        self.predict.imageDropped.connect(self.predict_file)
        self.predict.imagesChosen.connect(self.predict_files)
        self.predict.folderChosen.connect(self.predict_folder)
        self._batch = BackgroundCall(self, describe=describe_error)
        self._batch.result.connect(lambda answer: self.predict.show_folder(*answer))
        self._batch.error.connect(lambda m: self._message("Cannot predict", m))
        self._predictor = BackgroundCall(self, describe=describe_error)
        self._predictor.result.connect(self._on_prediction)
        self._predictor.error.connect(lambda m: self._message("Cannot predict", m))
        self._inspecting = BackgroundCall(self, describe=describe_error)
        self._inspecting.result.connect(self._on_run_inspected)
        self._inspecting.error.connect(lambda m: self._message("Cannot inspect the run", m))
        # Dead filters and units, counted on a class-balanced validation sample after each
        # epoch and for a reopened run (the probe's 16 images overstate them).
        self._dead_counter = BackgroundCall(self, describe=describe_error)
        self._dead_counter.result.connect(self.filters.set_dead_units)

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
        if not reason:
            reason = self._memory_reason()
        fix = self._blocker_fix() if self.document.train_blocker else None
        self.training_panel.set_blocker(reason, fix.label if fix is not None else "")

    def _memory_reason(self) -> str:
        """Why Train is refused before anything is built: the network or a batch of the
        chosen size would not fit in this machine's memory (engine.memory_budget)."""
        from engine.memory_budget import network_memory_warning

        try:
            cfg = self.training_panel.config()
        except ValueError:
            return ""
        return network_memory_warning(self.document.spec, cfg.batch_size, cfg.optimizer) or ""

    def _blocker_fix(self):
        """The one-click fix of the network's first problem (None when it has none)."""
        problems = self.document.report.problems
        return problems[0].fixes[0] if problems and problems[0].fixes else None

    def _apply_blocker_fix(self) -> None:
        fix = self._blocker_fix()
        if fix is not None:
            self.document.apply_fix(fix)

    def _settings_to_panel(self) -> None:
        saved = self.document.settings.get("training")
        if saved and not self.runner.is_active():
            try:
                self.training_panel.set_config(saved)
            except ValueError:
                return  # a hand-edited project with a bad setting: keep the form as it is
        data = self.document.settings.get("data")
        if data and data != self.dataset_panel.path and Path(data).exists():
            if self._may_load_project_data(data):
                self.dataset_panel.set_source(data)

    def _may_load_project_data(self, data: str) -> bool:
        """A project file names its data folder; outside the project's folder and the home
        folder (or a system folder), the person says whether it is read (issue 14)."""
        from workbench.data_location import data_folder_concern

        project = self.document.path
        concern = data_folder_concern(data, Path(project).parent if project else None)
        if concern is None or data in self._allowed_data:
            return True
        answer = QMessageBox.question(
            self.window, "Load this data folder?",
            f"The project names its data as {data}.\n{concern}.\nLoad it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self._allowed_data.add(data)
            return True
        return False

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
        self.estimator.warm_up()  # data chosen: training is likely next
        self.document.set_data_classes(loaded.dataset.num_classes)  # the head must match
        probe = loaded.probe(1)
        if probe is not None and not self.runner.is_active():
            # Maps left from a prediction belong to another image: blank them under the probe.
            self.feed.show_spec(self.document.spec, fresh=True)
            self.feature_maps.set_probe(probe[0])  # the image the maps will show, already
        settings = self.document.settings
        if settings.get("data") != loaded.request.path:
            settings["data"] = loaded.request.path
            # The sample loaded on a fresh start is not the person's edit: not "modified".
            chosen = loaded.request.path != self._automatic_source
            self.document.set_settings(settings, modified=chosen)
        self._update_blocker()
        self._estimate_timer.start()

    def _page_changed(self, index: int) -> None:
        if index in (self.data_index, self.train_index):
            self.estimator.warm_up()  # once per process; pressing Train then starts at once
        if index == self.train_index:
            self.feed.show_spec(self.document.spec)
            self._estimate_timer.start()

    def _estimate_key(self) -> tuple:
        loaded = self.dataset_panel.loaded
        if loaded is None:
            return None  # no number until the data is known (no stand-in size)
        splits = loaded.dataset.splits
        n_train = len(splits["train"])
        n_val = len(splits["val"]) if "val" in splits else 0
        return (self.document.spec, self.training_panel.batch_size.value(), n_train, n_val)

    def _request_estimate(self) -> None:
        """Measure the epoch time when it is on screen and something it depends on changed
        (the timer debounces edits); an unchanged network and batch size reuse the answer."""
        tp = self.training_panel
        if self.runner.is_active():
            return
        if self.document.train_blocker:
            tp.show_estimate_text("Predicted epoch time: fix the network first")
            return
        if not self.train_page.isVisible():
            return  # measured when the Train page is next shown
        key = self._estimate_key()
        if key is None:
            tp.show_estimate_text("Predicted epoch time: shown once a data set is loaded")
            return
        if self._estimate is not None and self._estimate[0] == key:
            self._show_estimate()
            return
        if key == self._estimate_asked:
            return  # being measured
        self._estimate_asked = key
        self.feed.show_spec(self.document.spec)
        tp.show_estimate(None)
        self.estimator.request(*key)

    def _on_estimate(self, estimate) -> None:
        self._estimate = (self._estimate_asked, estimate)
        self._estimate_asked = None
        if not self.runner.is_active():
            self._show_estimate()
        if self._estimate_key() != self._estimate[0]:
            self._estimate_timer.start()  # edited while measuring

    def _on_estimate_failed(self, message: str) -> None:
        self._estimate_asked = None
        self.training_panel.show_estimate_text(f"No epoch-time estimate: {message}")

    def _show_estimate(self) -> None:
        tp = self.training_panel
        if self._estimate is None or self._estimate[0] is None:
            tp.show_estimate_text("Predicted epoch time: measured when you open the Train page")
            return
        est = self._estimate[1]
        tp.show_estimate(est.epoch_s, est.images_per_s)
        if self._last_epoch_s is not None:
            from workbench.views.training_panel import format_duration

            tp.show_estimate_text(
                f"{tp.estimate_label.text()}\nLast run: {format_duration(self._last_epoch_s)}"
                " per epoch"
            )

    def _state_changed(self, state: str) -> None:
        if state == "idle":
            sys.setswitchinterval(self._switch_interval)
            self.document.set_locked(False)
            self.feed.end()
            self._count_dead_units(self._model)  # the run's last weights
            self._update_blocker()
            self._show_estimate()  # settle: the measured value (and the run's own), never
            self._estimate_timer.start()  # "measuring…" left over from before the run
        else:
            self.document.set_locked(True, PAUSED_REASON if state == "paused" else LOCK_REASON)

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
        loaded = self.dataset_panel.loaded
        probe = loaded.probe(PROBE_IMAGES) if loaded is not None else None
        root = self.runs_root
        if root is None:
            path = self.document.path
            root = Path(path).with_suffix(".runs") if path else default_runs_root()
        # The data set the Data page shows is the one to train on: hand it over instead of
        # loading it again in the worker, whose Python-heavy loading (a file walk, the cache
        # key, the health report) would fight the GUI thread for the GIL as the run starts.
        # A source that has vanished since is loaded again, so the worker reports it.
        data = request
        if loaded is not None and loaded.request == request and Path(request.path).exists():
            data = loaded.dataset
        job = TrainJob(
            spec=self.document.spec, data=data, config=cfg, out_dir=root / self._run_id,
            probe=probe, snapshot_interval_s=SNAPSHOT_INTERVAL_S,
        )  # fmt: skip
        self._job = job
        self._estimate_timer.stop()
        self.estimator.cancel()  # a waiting measurement would only slow the run down
        if self._estimate is None or self._estimate[0] != self._estimate_key():
            self.training_panel.show_estimate_text(
                "Predicted epoch time: not measured (training started first)"
            )
        self.feed.begin(job.spec, job.probe)
        self.inspect_label.setText(f"Showing the run in progress ({self._run_id})")
        # The GUI and training threads share the GIL. A short switch interval lets a paint
        # waiting for it in at most 1 ms rather than 5 ms after each Python stretch of the loop.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        self.runner.start(job)
        return True

    def _epoch_ended(self, event) -> None:
        self._last_epoch_s = event.elapsed_s / max(1, event.epoch)
        self._count_dead_units(self._model)

    def _count_dead_units(self, model) -> None:
        loaded = self.dataset_panel.loaded
        if model is not None and loaded is not None:
            dataset = loaded.dataset
            self._dead_counter.start(lambda: dead_units_of(model, dataset))

    def _on_finished(self, event) -> None:
        history = event.history or self.feed.history
        self._record(event.reason, "", history, event.test_accuracy, event.checkpoint)
        test = event.test_accuracy
        tail = f" · test accuracy {test:.1%}" if test is not None else ""
        self.training_panel.set_status(f"Finished ({event.reason}){tail}")

    def _on_failed(self, message: str, checkpoint) -> None:
        self._record("failed", message, self.feed.history, None, checkpoint)
        kept = f"\n\nThe last checkpoint is kept: {checkpoint}" if checkpoint else ""
        self.training_panel.set_status("Training failed")
        self._message("Training stopped", message + kept)

    def _record(self, status, message, history, test_accuracy, checkpoint) -> None:
        job = self._job
        if job is None:
            return
        record = RunRecord.of_job(
            self._run_id, job, status, message, history, test_accuracy, checkpoint
        )
        self.document.add_run(record.to_dict())
        self.runs_panel.set_runs(self.document.runs)

    # ------------------------------------------------------------------ runs, predict, drops

    def reopen_run(self, record: RunRecord) -> bool:
        """Show a past run: its curves and settings; predictions use its checkpoint."""
        if self.runner.is_active():
            self._message("Cannot reopen a run", "Stop the current training first.")
            return False
        self.feed.show_history(record.history)
        try:
            self.training_panel.set_config(record.config)
        except ValueError:
            pass
        if not record.checkpoint_exists():
            self._message("Run reopened without weights",
                          f"{record.id}: its checkpoint {record.checkpoint or ''} is gone; "
                          "the curves and settings are shown.")  # fmt: skip
            return True
        try:
            self._model = record.load_model()
        except (ValueError, OSError) as exc:
            self._message("Cannot open the run's checkpoint", str(exc))
            return False
        self.training_panel.set_status(f"Reopened {record.id}: {record.summary()}")
        # Inspect shows the reopened run: its filters, and (on the loaded data, when it is
        # the run's) its confusion matrix, dead units and feature maps.
        loaded = self.dataset_panel.loaded
        dataset = loaded.dataset if loaded is not None else None
        model = self._model
        self._shown_run = f"Showing run {record.id} ({record.summary()})"
        self.inspect_label.setText(f"{self._shown_run}: computing its results…")
        self._inspecting.start(lambda: inspect_run(model, dataset))
        return True

    def _on_run_inspected(self, result) -> None:
        if self.runner.is_active():
            return  # a new run took the views over meanwhile
        model = result.model
        self.filters.update_snapshot(model.weights, result.activations, model.spec)
        self._count_dead_units(model)
        if result.probs is not None:
            self.confusion.set_results(result.probs, result.labels, model.class_names,
                                       result.images)  # fmt: skip
        self.feed.show_spec(model.spec)
        if result.probe is not None:
            self.feature_maps.set_probe(result.probe[0])
            self.feature_maps.update_activations(result.activations)
        tail = f"; {result.reason}" if result.reason else ""
        self.inspect_label.setText(f"{self._shown_run}{tail}")

    def predict_file(self, path: str) -> bool:
        """Classify one image file with the newest weights; the answer goes to the predict
        view (and its activations to the feature maps when no run is active). False when
        there are no weights yet."""
        model = self._model
        if model is None:
            self._nothing_to_predict_with()
            return False
        self.window.pages.setCurrentIndex(self.inspect_index)
        self.inspect_tabs.setCurrentWidget(self.predict)
        self._predictor.start(lambda: (model, predict_file(model, path)))
        return True

    def predict_files(self, paths: list[str]) -> None:
        """Open images…: the first is shown with its bars and maps; several also fill the
        table (top class and confidence of each)."""
        if not paths or not self.predict_file(paths[0]) or len(paths) == 1:
            return
        model = self._model
        self._batch.start(lambda: (predict_paths(model, paths), f"{len(paths)} files"))

    def predict_folder(self, folder: str) -> None:
        """Predict a folder…: every image in it (and its subfolders) in the table."""
        from engine.predict import image_files

        model = self._model
        if model is None:
            self._nothing_to_predict_with()
            return
        paths = image_files(folder)
        if not paths:
            self._message("No images", f"{folder} holds no image files.")
            return
        self.window.pages.setCurrentIndex(self.inspect_index)
        self.inspect_tabs.setCurrentWidget(self.predict)
        self._batch.start(lambda: (predict_paths(model, paths), folder))

    def _nothing_to_predict_with(self) -> None:
        self._message(
            "Nothing to predict with yet",
            "Train a network (or reopen a run) first, then choose the images again.",
        )

    def _on_prediction(self, result) -> None:
        model, p = result
        self.predict.show_prediction(p.source, p.probabilities, model.class_names)
        if not self.runner.is_active():
            self.feed.show_spec(model.spec)
            self.feature_maps.set_probe(p.image)
            self.feature_maps.update_activations(p.activations)

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
        return super().eventFilter(obj, event)

    def use_sample_data(self) -> None:
        """Load the bundled sample data set (in the background): what a fresh start trains
        on. The project's own data setting is left alone until the load succeeds."""
        from engine.resources import resource_path

        self._automatic_source = str(resource_path("sample"))
        self.dataset_panel.set_source(self._automatic_source)

    def _handle_drop(self, path: str) -> None:
        if Path(path).is_dir():
            if self.runner.is_active():
                self._message("Training is running", "Stop it before changing the data set.")
                return
            self.dataset_panel.set_source(path)
            self.window.pages.setCurrentIndex(self.data_index)
        else:
            self.predict_file(path)

    def _confirm_close(self) -> bool:
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

    def shutdown(self) -> None:
        """The window closes: stop and join the run (its record joins the project before
        the project is saved), drop waiting requests. An epoch-time measurement still
        running is left to the background registry (it ends within a second or two)."""
        self.runner.stop_and_wait()
        self.estimator.cancel()
        self._estimate_timer.stop()
        self.dataset_panel.wait()
        self._predictor.wait()

    def _message(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)


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
    existing = getattr(window, "training", None)
    if isinstance(existing, TrainingController):
        return existing  # installed already (create_main_window may do it)
    controller = TrainingController(window)
    window.training = controller
    return controller
