"""Predictions and inspection with a trained network: the Inspect page's answers.

``PredictController`` holds the newest weights of the window (``model``, a
``ModelWeights``: a running run's latest snapshot, or a reopened run's checkpoint) and runs
everything computed with them in background threads (``workers.background.BackgroundCall``,
one per kind of answer, each delivering only its latest call's answer):

- ``predict_file``/``predict_files``/``predict_folder``: the Predict tab's bars and table;
  a single image's activations go to the feature maps while no run is active;
- ``inspect``: a reopened run's filters, confusion matrix and feature maps on the loaded data;
- ``count_dead_units``: dead filters and units on a class-balanced validation sample.

The work itself is in ``workers.predict_worker`` over the engine's ``Predictor``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from engine.kernels.workers import alone
from workbench.workers.background import BackgroundCall
from workbench.workers.predict_worker import (
    DEAD_SAMPLE,
    ModelWeights,
    dead_units_of,
    inspect_run,
    live_dead_sample,
    predict_file,
    predict_paths,
)
from workbench.workers.train_worker import describe_error

__all__ = ["PredictController"]


class PredictController(QObject):
    """The window's predictions. ``pages``: the ``TrainPages``; ``data``: the
    ``LoadedDataModel``; ``runner``: the ``TrainRunner`` (the live views belong to a running
    run); ``feed``: the ``LiveFeed`` (its newest weights become ``model``); ``message``:
    ``(title, text)`` shown to the person as a warning."""

    def __init__(
        self, pages, data, runner, feed, message: Callable[[str, str], None],
        parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.pages, self.data, self.runner, self.feed = pages, data, runner, feed
        self._message = message
        self.model: ModelWeights | None = None
        self._shown_run = ""
        feed.modelChanged.connect(self.set_model)
        p = pages.predict
        p.imageDropped.connect(self.predict_file)
        p.imagesChosen.connect(self.predict_files)
        p.folderChosen.connect(self.predict_folder)
        self.batch = BackgroundCall(self, describe=describe_error)
        self.batch.result.connect(lambda answer: p.show_folder(*answer))
        self.batch.error.connect(lambda m: message("Cannot predict", m))
        self.single = BackgroundCall(self, describe=describe_error)
        self.single.result.connect(self._on_prediction)
        self.single.error.connect(lambda m: message("Cannot predict", m))
        self.inspecting = BackgroundCall(self, describe=describe_error)
        self.inspecting.result.connect(self._on_run_inspected)
        self.inspecting.error.connect(lambda m: message("Cannot inspect the run", m))
        # Dead filters and units, counted on a class-balanced validation sample after each
        # epoch and for a reopened run (the probe's 16 images overstate them).
        self.dead_counter = BackgroundCall(self, describe=describe_error)
        self.dead_counter.result.connect(pages.filters.set_dead_units)

    def set_model(self, model: ModelWeights | None) -> None:
        """The weights later predictions use."""
        self.model = model

    # ------------------------------------------------------------------ predict

    def predict_file(self, path: str) -> bool:
        """Classify one image file with the newest weights; the answer goes to the predict
        view (and its activations to the feature maps when no run is active). False when
        there are no weights yet."""
        model = self.model
        if model is None:
            self._nothing_to_predict_with()
            return False
        self.pages.show_predictions()
        self.single.start(lambda: (model, predict_file(model, path)))
        return True

    def predict_files(self, paths: list[str]) -> None:
        """Open images…: the first is shown with its bars and maps; several also fill the
        table (top class and confidence of each)."""
        if not paths or not self.predict_file(paths[0]) or len(paths) == 1:
            return
        model = self.model
        self.batch.start(lambda: (predict_paths(model, paths), f"{len(paths)} files"))

    def predict_folder(self, folder: str) -> None:
        """Predict a folder…: every image in it (and its subfolders) in the table."""
        from engine.predict import image_files

        model = self.model
        if model is None:
            self._nothing_to_predict_with()
            return
        paths = image_files(folder)
        if not paths:
            self._message("No images", f"{folder} holds no image files.")
            return
        self.pages.show_predictions()
        self.batch.start(lambda: (predict_paths(model, paths), folder))

    def _nothing_to_predict_with(self) -> None:
        self._message(
            "Nothing to predict with yet",
            "Train a network (or reopen a run) first, then choose the images again.",
        )

    def _on_prediction(self, result) -> None:
        model, p = result
        self.pages.predict.show_prediction(p.source, p.probabilities, model.class_names)
        if not self.runner.is_active():
            self.feed.show_spec(model.spec)
            self.pages.feature_maps.set_probe(p.image)
            self.pages.feature_maps.update_activations(p.activations)

    # ------------------------------------------------------------------ inspect

    def inspect(self, model: ModelWeights, title: str) -> None:
        """Show a reopened run's ``model`` on the Inspect page: its filters and (on the
        loaded data, when it is the run's) its confusion matrix, dead units and feature
        maps. ``title`` names the run on the page's label."""
        self.model = model
        dataset = self.data.dataset
        self._shown_run = title
        self.pages.inspect_label.setText(f"{title}: computing its results…")
        self.inspecting.start(lambda: inspect_run(model, dataset))

    def _on_run_inspected(self, result) -> None:
        if self.runner.is_active():
            return  # a new run took the views over meanwhile
        pages, model = self.pages, result.model
        pages.filters.update_snapshot(model.weights, result.activations, model.spec)
        self.count_dead_units(model)
        if result.probs is not None:
            pages.confusion.set_results(result.probs, result.labels, model.class_names,
                                        result.images)  # fmt: skip
        self.feed.show_spec(model.spec)
        if result.probe is not None:
            pages.feature_maps.set_probe(result.probe[0])
            pages.feature_maps.update_activations(result.activations)
        tail = f"; {result.reason}" if result.reason else ""
        pages.inspect_label.setText(f"{self._shown_run}{tail}")

    def count_dead_units(self, model: ModelWeights | None = None, live: bool = False) -> None:
        """Count ``model``'s (default: the newest weights') dead units on the loaded data;
        ``live``: beside a run still training, on the smaller sample of
        :func:`live_dead_sample`, on one core and none of the training's threads
        (``engine.kernels.workers.alone``)."""
        model = model if model is not None else self.model
        dataset = self.data.dataset
        if model is None or dataset is None:
            return
        if not live:
            self.dead_counter.start(lambda: dead_units_of(model, dataset, DEAD_SAMPLE))
            return
        count = live_dead_sample(dataset)

        def beside_the_run():
            with alone():
                return dead_units_of(model, dataset, count)

        self.dead_counter.start(beside_the_run)

    def shutdown(self) -> None:
        """Join a prediction still running (the window closes)."""
        self.single.wait()
