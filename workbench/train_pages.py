"""The Data, Train and Inspect pages: their widgets, laid out and added to the window.

``TrainPages(window)`` builds every view of issue 5 (the data panel, the training form, the
curves, feature maps, run history, filters, confusion matrix and predictions), arranges them
on three pages and adds those to ``window.pages``. It holds widgets and layout only: what
they show is decided by the controllers in ``training_ui``, ``run_controller``,
``predict_controller`` and ``epoch_estimate_ui``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from workbench.runs import RunHistoryPanel
from workbench.views.curves import TrainingCurves
from workbench.views.dataset_panel import DatasetPanel
from workbench.views.training_panel import TrainingPanel

__all__ = ["TrainPages"]

#: What the Inspect page's label says before any run (or reopened run) is shown.
NO_RUN_TEXT = "No run yet: train, or reopen a run from the history"


class TrainPages:
    """The widgets of the three pages; ``data_index``, ``train_index`` and
    ``inspect_index`` are their places in ``window.pages``."""

    def __init__(self, window) -> None:
        from workbench.views.confusion import ConfusionMatrixView
        from workbench.views.feature_maps import FeatureMapsView
        from workbench.views.filters import FiltersView
        from workbench.views.predict_view import PredictView

        self.window = window
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
        # The empty curves' x axis follows the epochs set, so Train does not move it.
        self.training_panel.epochs.valueChanged.connect(self.curves.preview_epoch_range)
        self.curves.preview_epoch_range(self.training_panel.epochs.value())
        views = QSplitter(Qt.Orientation.Vertical, objectName="trainViews")
        for widget, stretch in ((self.curves, 3), (self.feature_maps, 4), (self.runs_panel, 1)):
            views.addWidget(widget)
            views.setStretchFactor(views.count() - 1, stretch)
        self.train_page = QSplitter(objectName="trainPage")
        self.train_page.addWidget(self.training_panel)
        self.train_page.addWidget(views)
        self.train_page.setStretchFactor(1, 1)

        self.inspect_tabs = QTabWidget(objectName="inspectTabs")
        self.inspect_tabs.addTab(self.filters, "Filters and health")
        self.inspect_tabs.addTab(self.confusion, "Confusion matrix")
        self.inspect_tabs.addTab(self.predict, "Predict")
        self.inspect_page = QWidget(objectName="inspectPage")
        # Which run the Inspect page shows: the one training, or one reopened from history.
        self.inspect_label = QLabel(NO_RUN_TEXT, objectName="inspectRunLabel", wordWrap=True)
        inspect_layout = QVBoxLayout(self.inspect_page)
        inspect_layout.addWidget(self.inspect_label)
        inspect_layout.addWidget(self.inspect_tabs)

        self.data_index = window.add_page(self.dataset_panel, "Data")
        self.train_index = window.add_page(self.train_page, "Train")
        self.inspect_index = window.add_page(self.inspect_page, "Inspect", scroll=False)

    def show_data(self) -> None:
        self.window.pages.setCurrentIndex(self.data_index)

    def show_predictions(self) -> None:
        """Bring the Inspect page's Predict tab to the front."""
        self.window.pages.setCurrentIndex(self.inspect_index)
        self.inspect_tabs.setCurrentWidget(self.predict)
