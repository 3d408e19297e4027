"""Learn by seeing (issue 13): the Learn page and its links to Train, Inspect and Predict.

``install_learning(window)`` adds a "Learn" page to a ``MainWindow`` that already has the
training pages (``install_training``): the kernel playground with conv1's learned filters
beside it, the step-by-step view and the baselines. It also wires them to the rest:

- a "Baselines…" button on the Train page opens the baselines, whose scores join the run
  history beside the CNN runs;
- double-clicking a pixel in the feature maps ("Explain this pixel") opens the step-by-step
  view at that layer and position with the trained network's own numbers;
- the Predict view gets the Grad-CAM / occlusion overlay, for a dropped image and for an
  image double-clicked behind a confusion-matrix cell;
- the playground offers the loaded data set's images and the probe image.

The controller only moves copies between views; the numbers come from the engine.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QTabWidget, QWidget

from workbench.views.baselines_view import BaselinesPanel
from workbench.views.kernel_playground import KernelPlayground
from workbench.views.learned_filters import LearnedFiltersView, first_conv_label, first_conv_weight
from workbench.views.saliency_view import SaliencyPanel
from workbench.views.step_by_step import StepByStepView

__all__ = ["LearningController", "baseline_record", "install_learning"]

SAMPLES_OFFERED = 3  # images per class the playground lists from a loaded data set


def baseline_record(result, data: str, now: datetime | None = None) -> dict:
    """A run-history entry (``RunRecord.to_dict`` form) for a ``BaselineResult``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    history = {} if result.val_accuracy is None else {"val_accuracy": [result.val_accuracy]}
    return {
        "id": f"baseline-{result.kind}-{stamp}",
        "started": stamp,
        "network": result.label(),
        "spec": {},
        "config": {"baseline": result.kind, **result.settings},
        "data": data,
        "status": "completed",
        "message": f"{result.label()} on {result.num_train} training images (no checkpoint)",
        "epochs_done": 0,
        "history": history,
        "test_accuracy": result.test_accuracy,
        "checkpoint": None,
    }


def _add_beside(view, widget, panel) -> None:
    """Add ``panel`` to the layout of ``view`` that holds ``widget`` (its row), else at the
    end of ``view``'s own layout."""

    def holder(layout):
        for i in range(layout.count()):
            item = layout.itemAt(i)
            if item.widget() is widget:
                return layout
            if item.layout() is not None and (found := holder(item.layout())) is not None:
                return found
        return None

    (holder(view.layout()) or view.layout()).addWidget(panel, 0, Qt.AlignmentFlag.AlignTop)


class LearningController(QObject):
    """Owns the Learn page of one window and its connections to the training pages."""

    def __init__(self, window, training) -> None:
        super().__init__(window)
        self.window, self.training = window, training
        self.playground = KernelPlayground()
        self.learned = LearnedFiltersView()
        self.steps = StepByStepView()
        self.baselines = BaselinesPanel()
        self.saliency = SaliencyPanel()
        self._model_seen = None

        play = QSplitter(Qt.Orientation.Vertical, objectName="playgroundPage")
        play.addWidget(self.playground)
        play.addWidget(self.learned)
        # "Start conv1 from these kernels": one undoable edit of the network (init "kernels").
        self.start_from_kernels = QPushButton(
            "Start conv1 from the named kernels", objectName="startFromKernels"
        )
        self.start_from_kernels.setToolTip(
            "The first convolution's filters start as the named kernels (edge detectors, "
            "blurs, sharpen, Sobel, emboss), one per filter in turn; Undo takes it back"
        )
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(4, 2, 4, 2)
        row_layout.addWidget(self.start_from_kernels)
        row_layout.addStretch(1)
        play.addWidget(row)
        play.setStretchFactor(0, 3)
        play.setStretchFactor(1, 1)
        self.tabs = QTabWidget(objectName="learnTabs")
        self.tabs.addTab(play, "Kernel playground")
        self.tabs.addTab(self.steps, "Step by step")
        self.tabs.addTab(self.baselines, "Baselines")
        self.page_index = window.add_page(self.tabs, "Learn", scroll=False)

        # The Train page's action, placed above the panel's closing stretch.
        self.baselines_button = QPushButton("Baselines…", objectName="baselinesButton")
        self.baselines_button.setToolTip(
            "kNN and a linear classifier on the same pixels and splits, and the shift test"
        )
        panel_layout = training.training_panel.layout()
        panel_layout.insertWidget(panel_layout.count() - 1, self.baselines_button)
        # The overlay beside the Predict view's bars.
        self.saliency.setMaximumWidth(300)
        _add_beside(training.predict, training.predict.plot, self.saliency)
        self._connect()

    def _connect(self) -> None:
        t = self.training
        self.baselines_button.clicked.connect(lambda: self.show_tab(self.baselines))
        self.playground.stepRequested.connect(self._step_patch)
        self.learned.filterChosen.connect(self.playground.set_kernel)
        self.start_from_kernels.clicked.connect(self.start_conv1_from_kernels)
        t.dataset_panel.datasetChanged.connect(self._dataset_loaded)
        t.feature_maps.explainRequested.connect(self.explain)
        t.confusion.exampleActivated.connect(self.explain_example)
        t.predictions.single.result.connect(
            lambda answer: self.saliency.set_subject(answer[0], answer[1].image)
        )
        self.baselines.baselineFinished.connect(self._baseline_finished)
        self.window.pages.currentChanged.connect(self._page_changed)

    def start_conv1_from_kernels(self) -> bool:
        """Set the first convolution's init to the named kernels, as one undoable edit."""
        from engine.named_kernels import start_first_conv_from_named

        document = self.window.document
        try:
            after, index = start_first_conv_from_named(document.spec)
        except ValueError as e:
            self.window.statusBar().showMessage(str(e), 8000)
            return False
        done = document.edit(after, "Start conv1 from the named kernels", focus=index + 1)
        if done:
            self.window.statusBar().showMessage(
                f"{after.layers[index].type} #{index + 1} starts from the named kernels: "
                "train to see where they go",
                8000,
            )
        return done

    # ------------------------------------------------------------------ navigation

    def model(self):
        """The newest weights the training pages hold (a snapshot or a reopened run)."""
        return self.training.predictions.model

    def show_tab(self, widget) -> None:
        self.window.pages.setCurrentIndex(self.page_index)
        self.tabs.setCurrentIndex(self.tabs.indexOf(widget) if widget is not self.playground
                                  else 0)  # fmt: skip
        self.refresh()

    def _page_changed(self, index: int) -> None:
        if index == self.page_index:
            self.refresh()

    def refresh(self) -> None:
        """Pull what changed while the page was hidden: conv1's filters, the probe image,
        the CNN to compare the baselines with."""
        model = self.model()
        if model is not None and model is not self._model_seen:
            self._model_seen = model
            self.learned.set_weights(first_conv_weight(model.spec, model.weights),
                                     first_conv_label(model.spec))
        probe = self.training.feature_maps.probe()
        if probe is not None:
            self.playground.set_source_images("Probe image", [("probe", np.asarray(probe))])
        loaded = self.training.data.current
        dataset = None if loaded is None else loaded.dataset
        self.baselines.set_source(dataset, model, self._cnn_scores())

    def _cnn_scores(self) -> tuple | None:
        from workbench.runs import records

        for rec in reversed(records(self.window.document.runs)):
            if rec.spec:  # a CNN run, not a baseline
                return rec.best_val_accuracy, rec.test_accuracy
        return None

    # ------------------------------------------------------------------ actions

    def _dataset_loaded(self, loaded) -> None:
        names = loaded.dataset.class_names
        offered = [
            (f"{names[c]} {j + 1}", images[j])
            for c, images in enumerate(loaded.samples)
            for j in range(min(SAMPLES_OFFERED, len(images)))
        ]
        self.playground.set_source_images("Loaded data set", offered)
        if self.window.pages.currentIndex() == self.page_index:
            self.refresh()

    def _step_patch(self, patch, kernel) -> None:
        self.steps.mode.setCurrentText("Convolution")
        self.steps.set_input(
            patch,
            kernel,
            title="A 7×7 patch from the middle of the playground's image (grey), with its kernel.",
        )
        self.show_tab(self.steps)

    def explain(self, layer: int, channel: int, y: int, x: int) -> bool:
        """ "Explain this pixel": open the step-by-step view at that cell with the network's
        own numbers. False (and the reason in the view) when it cannot."""
        from engine.explain import explain_pixel
        from engine.network import build

        model, probe = self.model(), self.training.feature_maps.probe()
        self.show_tab(self.steps)
        if probe is None:
            self.steps.source.setText("No probe image yet: load data or train first.")
            return False
        spec = model.spec if model is not None else self.window.document.spec
        try:
            net = build(spec, weights=model.weights if model is not None else None)
            e = explain_pixel(net, probe, layer, channel, y, x)
        except ValueError as exc:
            self.steps.source.setText(f"Cannot explain this pixel: {exc}")
            return False
        weights = "the trained weights" if model is not None else "untrained (seed 0) weights"
        self.steps.set_explanation(
            e,
            f"Layer {layer} ({e.layer_type}), channel {channel}, pixel (row {y}, column {x}) "
            f"of the probe image, with {weights}: the network computed {e.actual:.5g}. "
            f"It sees a {e.boxes[0].height}×{e.boxes[0].width} patch of the input.",
        )
        return True

    def explain_example(self, index: int) -> bool:
        """Show validation image ``index`` (behind a confusion-matrix cell) in Predict with
        its Grad-CAM overlay."""
        from engine.data import apply_array

        model, loaded = self.model(), self.training.data.current
        if model is None or loaded is None or "val" not in loaded.dataset.splits:
            return False
        raw, _labels = loaded.dataset.splits["val"].take(np.array([index]))
        try:
            image = apply_array(model.preprocessing, raw)[0]
        except ValueError:
            return False
        from engine.network import build

        net = build(model.spec, weights=model.weights)
        probs = net.predict_proba(image[None])[0]
        t = self.training
        self.window.pages.setCurrentIndex(t.inspect_index)
        t.inspect_tabs.setCurrentWidget(t.predict)
        t.predict.show_prediction(image, probs, model.class_names)
        self.saliency.set_subject(model, image)
        return True

    def _baseline_finished(self, result, source: str) -> None:
        document = self.window.document
        document.add_run(baseline_record(result, source))
        self.training.runs_panel.set_runs(document.runs)


def install_learning(window) -> LearningController:
    """Add the Learn page to ``window`` (after ``install_training``) and return its
    controller (also kept as ``window.learning``)."""
    existing = getattr(window, "learning", None)
    if isinstance(existing, LearningController):
        return existing
    from workbench.training_ui import install_training

    controller = LearningController(window, install_training(window))
    window.learning = controller
    return controller
