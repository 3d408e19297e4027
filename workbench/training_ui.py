"""Train and Inspect: the pages of issue 5 put together and wired to the training worker.

``install_training(window)`` adds three pages to a ``MainWindow`` (Data, Train, Inspect) and
returns the ``TrainingController`` that joins their parts, each in a module of its own:

- ``train_pages.TrainPages``: the widgets and their layout;
- ``loaded_data.LoadedDataModel``: the loaded data set, fed here from the Data page;
- ``run_controller.RunController``: start, pause, stop and record runs (the ``TrainRunner``
  thread of ``workers.train_worker``), the network locked while one runs;
- ``live_feed.LiveFeed``: the run's events to the views at a bounded rate;
- ``epoch_estimate_ui.EpochEstimateUI``: the predicted epoch time;
- ``predict_controller.PredictController``: predictions, a reopened run's results, dead units;
- ``window_drops.WindowDrops``: the window's one drop handler (networks, data, images).

What stays here is the glue between the document and the Data and Train forms: the reason
Train is refused, the settings kept in the project, the data folder the project names.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from workbench.epoch_estimate_ui import EpochEstimateUI
from workbench.live_feed import LiveFeed
from workbench.loaded_data import LoadedDataModel
from workbench.predict_controller import PredictController
from workbench.run_controller import RunController, default_runs_root
from workbench.train_pages import TrainPages
from workbench.views.elided_label import shorten_runs
from workbench.window_drops import WindowDrops
from workbench.workers.train_worker import TrainRunner

__all__ = ["TrainingController", "default_runs_root", "install_training"]


def _part(part: str, name: str) -> property:
    """A read-only attribute of the controller that is ``name`` of its ``part``."""
    return property(lambda self: getattr(getattr(self, part), name))


class TrainingController(QObject):
    """Owns the training run of one MainWindow and everything on the Data/Train/Inspect pages."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self._allowed_data: set[str] = set()  # data folders the person agreed to load
        self._automatic_source = ""  # a data set loaded for the person, not chosen by them
        self._load_failed = False  # the Data page's last load failed (and none came since)
        self.pages = pages = TrainPages(window)
        self.dataset_panel, self.training_panel = pages.dataset_panel, pages.training_panel
        self.runs_panel, self.curves = pages.runs_panel, pages.curves
        self.feature_maps, self.filters = pages.feature_maps, pages.filters
        self.confusion, self.predict = pages.confusion, pages.predict
        self.inspect_tabs, self.inspect_label = pages.inspect_tabs, pages.inspect_label
        self.train_page, self.inspect_page = pages.train_page, pages.inspect_page
        self.data_index, self.train_index = pages.data_index, pages.train_index
        self.inspect_index = pages.inspect_index

        self.data = LoadedDataModel(self)
        self.runner = TrainRunner(self)
        self.feed = LiveFeed(self.runner, pages, self.data, self)
        self.estimate = EpochEstimateUI(pages, self.document, self.data, self.runner,
                                        self.feed, self)  # fmt: skip
        self.predictions = PredictController(pages, self.data, self.runner, self.feed,
                                             self._message, self)  # fmt: skip
        self.runs = RunController(window, pages, self.data, self.runner, self.feed,
                                  self.estimate, self.predictions, self._message, self)  # fmt: skip
        self.drops = WindowDrops(window, self._folder_dropped, self.predictions.predict_file,
                                 self)  # fmt: skip
        self._connect()
        self.dataset_panel.set_input_shape(self.document.spec.input.shape)
        self.feed.show_spec(self.document.spec)
        self.runs_panel.set_runs(self.document.runs)
        self._settings_to_panel()
        self._spec_changed()
        # Nothing touches the engine until the person heads for training: the warm-up
        # starts when the Data or Train page is first shown (or data is loaded), the epoch
        # time is measured only while the Train page is on screen.
        window.close_guards.append(self.runs.confirm_close)
        window.close_actions.append(self.shutdown)

    def _connect(self) -> None:
        tp, panel, doc = self.training_panel, self.dataset_panel, self.document
        tp.fixRequested.connect(self._apply_blocker_fix)
        tp.settingsChanged.connect(self._settings_changed)
        self.runner.stateChanged.connect(self._state_changed)
        doc.specChanged.connect(self._spec_changed)
        doc.settingsChanged.connect(self._settings_to_panel)
        doc.runsChanged.connect(lambda: self.runs_panel.set_runs(doc.runs))
        # The Data page announces each load; the data model is what everything else reads.
        panel.datasetChanged.connect(self.data.set_current)
        panel.sourceChanged.connect(lambda _path: self.data.clear())
        panel.datasetChanged.connect(self._dataset_loaded)
        panel.loadFailed.connect(self._load_failed_with)
        pages = self.window.pages
        pages.currentChanged.connect(self.feed.feed_visible)
        pages.currentChanged.connect(self._page_changed)
        self.inspect_tabs.currentChanged.connect(self.feed.feed_visible)

    # ------------------------------------------------------------------ the parts' faces
    # Tests, the Learn page and the benchmarks reach the parts through these names.

    @property
    def runs_root(self) -> Path | None:
        """Where runs are written (None: next to the project file, else the app's data)."""
        return self.runs.runs_root

    @runs_root.setter
    def runs_root(self, root: Path | None) -> None:
        self.runs.runs_root = root

    # The earlier names of what now lives in the parts (read only).
    estimator = _part("estimate", "estimator")  # the EpochTimeEstimator
    _estimate_asked = _part("estimate", "asked")  # the key being measured, or None
    _model = _part("predictions", "model")  # the newest ModelWeights, or None
    _predictor = _part("predictions", "single")  # the BackgroundCall of each call below
    _batch = _part("predictions", "batch")
    _inspecting = _part("predictions", "inspecting")
    _dead_counter = _part("predictions", "dead_counter")

    def _request_estimate(self) -> None:
        self.estimate.request()

    def is_training(self) -> bool:
        return self.runner.is_active()

    def start_training(self) -> bool:
        """Start a run of the document's network on the loaded data (``RunController``)."""
        return self.runs.start_training()

    def reopen_run(self, record) -> bool:
        return self.runs.reopen_run(record)

    def predict_file(self, path: str) -> bool:
        return self.predictions.predict_file(path)

    def predict_files(self, paths: list[str]) -> None:
        self.predictions.predict_files(paths)

    def predict_folder(self, folder: str) -> None:
        self.predictions.predict_folder(folder)

    def eventFilter(self, obj, event) -> bool:
        """The window's drops (``WindowDrops``): where Qt hands them, and where tests do."""
        return self.drops.eventFilter(obj, event)

    # ------------------------------------------------------------------ state

    def _spec_changed(self) -> None:
        if not self.runner.is_active():
            self.dataset_panel.set_input_shape(self.document.spec.input.shape)
        self._update_blocker()
        self.estimate.schedule()

    def _state_changed(self, state: str) -> None:
        if state == "idle":
            self._update_blocker()
            self.estimate.run_ended()

    def _update_blocker(self) -> None:
        reason = self.document.train_blocker
        if not reason and not self.dataset_panel.path:
            reason = "choose a data set on the Data page (or drop a folder on the window)"
        elif (
            not reason
            and self.data.current is None
            and (self._load_failed or not self.dataset_panel.is_loading())
        ):
            reason = "the data set could not be loaded (see the Data page)"
        if not reason:
            reason = self._memory_reason()
        fix = self._blocker_fix() if self.document.train_blocker else None
        self.training_panel.set_blocker(reason, fix.label if fix is not None else "")
        self._status_bar_blocker(reason)

    def _status_bar_blocker(self, reason: str) -> None:
        """The status bar's "Ready to train" names what is still missing (the data)."""
        text, problem = "", False
        if not self.document.train_blocker:
            if not self.dataset_panel.path:
                text = "Ready to train once a data set is chosen (Data page)"
            elif self.data.current is None and not self._load_failed:
                text = "Ready to train once the data set has loaded"
            elif reason:
                text, problem = reason, True
        self.window.set_data_blocker(text, problem)

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
            self.dataset_panel.set_augmentation(self.training_panel.config().augment)
        data = self.document.settings.get("data")
        if data and data != self.dataset_panel.path and Path(data).exists():
            if self._may_load_project_data(data):
                self._set_source(data)

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
        self.dataset_panel.set_augmentation(cfg.augment)
        settings = self.document.settings
        if settings.get("training") != cfg.to_dict():
            settings["training"] = cfg.to_dict()
            self.document.set_settings(settings)
        self.estimate.schedule()

    def _load_failed_with(self, _message: str) -> None:
        # The Data page still counts itself as loading while it announces the failure.
        self._load_failed = True
        self.data.clear()
        self._update_blocker()

    def _dataset_loaded(self, loaded) -> None:
        self._load_failed = False
        self.estimate.warm_up()  # data chosen: training is likely next
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
        self.estimate.schedule()

    def _page_changed(self, index: int) -> None:
        if index in (self.data_index, self.train_index):
            self.estimate.warm_up()  # once per process; pressing Train then starts at once
        if index == self.train_index:
            self.feed.show_spec(self.document.spec)
            self.estimate.schedule()

    # ------------------------------------------------------------------ data, close

    def _set_source(self, path: str) -> None:
        """Load the data at ``path``; nothing is loaded until it has."""
        self.data.clear()
        self._load_failed = False
        self.dataset_panel.set_source(path)
        self._update_blocker()  # "once the data set has loaded", not "choose one"

    def use_sample_data(self) -> None:
        """Load the bundled sample data set (in the background): what a fresh start trains
        on. The project's own data setting is left alone until the load succeeds."""
        from engine.resources import resource_path

        self._automatic_source = str(resource_path("sample"))
        self._set_source(self._automatic_source)

    def _folder_dropped(self, path: str) -> None:
        if self.runner.is_active():
            self._message("Training is running", "Stop it before changing the data set.")
            return
        self._set_source(path)
        self.pages.show_data()

    def shutdown(self) -> None:
        """The window closes: stop and join the run (its record joins the project before
        the project is saved), drop waiting requests. An epoch-time measurement still
        running is left to the background registry (it ends within a second or two)."""
        self.runner.stop_and_wait()
        self.estimate.shutdown()
        self.dataset_panel.wait()
        self.predictions.shutdown()

    def _message(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, shorten_runs(text))


def install_training(window) -> TrainingController:
    """Add the Data, Train and Inspect pages to ``window`` (a workbench MainWindow) and
    return their controller (also kept as ``window.training``)."""
    existing = getattr(window, "training", None)
    if isinstance(existing, TrainingController):
        return existing  # installed already (create_main_window may do it)
    controller = TrainingController(window)
    window.training = controller
    return controller
