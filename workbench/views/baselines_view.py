"""Baselines beside the CNN: kNN and linear scores, and the shift test's plot.

``BaselinesPanel`` (objectName ``baselinesPanel``) fits the two baselines of
:mod:`engine.baselines` on the loaded data set (same preprocessed pixels, same splits as the
CNN) in a background thread, lists their validation and test accuracy beside the CNN's, and
runs the shift test: test images moved by 0-4 pixels, accuracy against the shift for kNN,
linear and the trained CNN in one plot (objectName ``shiftPlot``). ``baselineFinished``
hands each result to whoever keeps the run history.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.baselines import SHIFTS, fit_baseline, network_predictor, shift_test, sklearn_predictor
from workbench.views.image_grid import apply_plot_theme
from workbench.views.plot_widgets import PlotWidget

__all__ = ["COLORS", "BaselinesPanel", "cnn_scores", "compute_baselines", "compute_shift_test"]

COLORS = {"kNN": "#16a34a", "linear": "#9333ea", "CNN": "#2563eb"}
ROWS = ("kNN", "linear", "CNN")


def _network(model, dataset):
    """The CNN of ``model`` (``ModelWeights``) when its input fits ``dataset``, else None."""
    if model is None or model.preprocessing.shape != dataset.preprocessing.shape:
        return None
    from engine.network import build

    return build(model.spec, weights=model.weights)


def cnn_scores(dataset, model) -> tuple | None:
    """(validation, test) accuracy of the CNN ``model`` on ``dataset``'s splits, with its own
    preprocessing, so its row and its curve come from the same weights; None when its input
    does not fit the data. A missing split scores None."""
    from engine.data import apply_array

    net = _network(model, dataset)
    if net is None:
        return None
    scores = []
    for name in ("val", "test"):
        split = dataset.splits.get(name)
        if split is None or not len(split):
            scores.append(None)
            continue
        images, labels = split.take(np.arange(len(split)))
        predicted = net.forward(apply_array(model.preprocessing, images)).argmax(axis=1)
        scores.append(float(np.mean(predicted == labels)))
    return tuple(scores)


def compute_baselines(dataset, k: int, metric: str, model=None) -> dict:
    """Both baselines on ``dataset``: {"kNN": (result, model), "linear": (result, model)},
    and "CNN": (val, test) for ``model`` when given and it fits. Runs in a worker thread:
    plain arguments in, plain values out."""
    fitted = {
        "kNN": fit_baseline("knn", dataset, k=k, metric=metric),
        "linear": fit_baseline("linear", dataset),
    }
    scores = cnn_scores(dataset, model)
    if scores is not None:
        fitted["CNN"] = scores
    return fitted


def compute_shift_test(dataset, fitted: dict, model=None) -> dict[str, list[float]]:
    """Accuracy per shift for the fitted baselines and, when given, the CNN ``model`` (a
    ``ModelWeights``, with its own preprocessing when its input size fits the data)."""
    classifiers: dict = {
        name: sklearn_predictor(fitted[name][1]) for name in ("kNN", "linear") if name in fitted
    }
    net = _network(model, dataset)
    if net is not None:
        classifiers["CNN"] = (network_predictor(net), model.preprocessing)
    split = "test" if len(dataset.splits.get("test", ())) else "val"
    return shift_test(classifiers, dataset, split=split)


class BaselinesPanel(QWidget):
    """``baselinesPanel``: run the baselines, compare them with the CNN, run the shift test.

    ``set_source(dataset, model)`` gives it the loaded ``engine.data.Dataset`` and the newest
    ``ModelWeights`` (or None) with its accuracies; the buttons do the rest."""

    baselineFinished = Signal(object, str)  # BaselineResult, data set description

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("baselinesPanel")
        from workbench.workers.background import BackgroundCall

        self._dataset = None
        self._model = None
        self._fitted: dict = {}
        self._curves: dict[str, list[float]] = {}
        self.k = QSpinBox(objectName="baselineK", minimum=1, maximum=50, value=5)
        self.metric_box = QComboBox(objectName="baselineMetric")
        self.metric_box.addItems(["l2", "l1"])
        self.run_button = QPushButton("Run kNN and linear", objectName="runBaselines")
        self.shift_button = QPushButton("Shift test", objectName="runShiftTest")
        self.shift_button.setToolTip(
            "Move the test images by 1-4 pixels and measure every classifier again"
        )
        self.status = QLabel(objectName="baselineStatus")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        for w in (QLabel("kNN: k"), self.k, QLabel("distance"), self.metric_box):
            row.addWidget(w)
        row.addWidget(self.run_button)
        row.addWidget(self.shift_button)
        row.addStretch(1)
        self.table = QTableWidget(len(ROWS), 2, objectName="baselineTable")
        self.table.setHorizontalHeaderLabels(["Validation accuracy", "Test accuracy"])
        self.table.setVerticalHeaderLabels(list(ROWS))
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + len(ROWS) * self.table.verticalHeader().defaultSectionSize()
            + 4
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 160)
        self.plot = PlotWidget()
        self.plot.setObjectName("shiftPlot")
        self.plot.setTitle("Accuracy of test images shifted by s pixels")
        self.plot.setLabel("bottom", "shift (pixels)")
        self.plot.setLabel("left", "accuracy")
        self.plot.setYRange(0, 1)
        self.plot.setXRange(-0.2, max(SHIFTS) + 0.2)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.getAxis("bottom").setTicks([[(v, str(v)) for v in SHIFTS]])
        self.plot.addLegend(offset=(-10, 10))
        self._lines = {
            name: self.plot.plot([], [], name=name, pen=pg.mkPen(COLORS[name], width=2),
                                 symbol="o", symbolBrush=COLORS[name], symbolSize=7)
            for name in ROWS
        }  # fmt: skip
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.plot, 1)
        apply_plot_theme(self.plot, self)

        self._fitter = BackgroundCall(self)
        self._fitter.result.connect(self._on_fitted)
        self._fitter.error.connect(lambda m: self._busy(False, f"Baselines failed: {m}"))
        self._shifter = BackgroundCall(self)
        self._shifter.result.connect(self._on_shifted)
        self._shifter.error.connect(lambda m: self._busy(False, f"Shift test failed: {m}"))
        self.run_button.clicked.connect(self.run_baselines)
        self.shift_button.clicked.connect(self.run_shift_test)
        for name in ROWS:
            self._set_row(name, None, None)
        self.set_source(None)

    # ------------------------------------------------------------------ inputs

    def set_source(self, dataset, model=None, cnn: tuple | None = None) -> None:
        """The data set to fit on, the CNN to compare with (``ModelWeights`` or None) and its
        (validation, test) accuracy when known (from the run history; the panel's own fit
        measures it again on the same splits). The same data and model change nothing."""
        if dataset is self._dataset and model is self._model and dataset is not None:
            return
        if dataset is not self._dataset:
            self._fitted, self._curves = {}, {}
            for name in ("kNN", "linear"):
                self._set_row(name, None, None)
            self.set_curves({})
        elif "CNN" in self._curves:  # another network: its old curve would mislead
            self.set_curves({k: v for k, v in self._curves.items() if k != "CNN"})
        self._dataset, self._model = dataset, model
        self._set_row("CNN", *(cnn or (None, None)))
        self.run_button.setEnabled(dataset is not None)
        self.shift_button.setEnabled(dataset is not None)
        if dataset is None:
            self.status.setText("Load a data set on the Data page to compare the baselines.")
        else:
            self.status.setText(
                f"{dataset.source}: {len(dataset.split('train'))} training images, the same "
                "preprocessed pixels and splits the CNN trains on."
            )

    def _set_row(self, name: str, val, test) -> None:
        r = ROWS.index(name)
        for col, v in enumerate((val, test)):
            self.table.setItem(r, col, QTableWidgetItem("–" if v is None else f"{v:.1%}"))

    # ------------------------------------------------------------------ work

    def run_baselines(self) -> None:
        if self._dataset is None:
            return
        ds, k, metric = self._dataset, self.k.value(), self.metric_box.currentText()
        self._busy(True, "Fitting kNN and softmax regression…")
        model = self._model
        self._fitter.start(lambda: compute_baselines(ds, k, metric, model))

    def run_shift_test(self) -> None:
        """Shift test (fits the baselines first when they are not fitted yet)."""
        if self._dataset is None:
            return
        ds, fitted, model = self._dataset, dict(self._fitted), self._model
        k, metric = self.k.value(), self.metric_box.currentText()
        self._busy(True, "Shifting the test images by 0-4 pixels…")

        def work():
            nonlocal fitted
            if not fitted:
                fitted = compute_baselines(ds, k, metric, model)
            return fitted, compute_shift_test(ds, fitted, model)

        self._shifter.start(work)

    def _on_fitted(self, fitted: dict) -> None:
        self._fitted = fitted
        if "CNN" in fitted:
            self._set_row("CNN", *fitted["CNN"])
        for name in ("kNN", "linear"):
            result = fitted[name][0]
            self._set_row(name, result.val_accuracy, result.test_accuracy)
            self.baselineFinished.emit(result, self._dataset.source if self._dataset else "")
        self._busy(False, "Baselines fitted: their scores are in the run history too.")

    def _on_shifted(self, answer) -> None:
        fitted, curves = answer
        if fitted is not self._fitted and not self._fitted:
            self._on_fitted(fitted)
        self.set_curves(curves)
        note = "" if "CNN" in curves else " (no trained CNN for this data yet)"
        self._busy(False, f"Shift test done{note}.")

    def set_curves(self, curves: dict[str, list[float]]) -> None:
        """Draw accuracy per shift for each classifier (missing ones are cleared)."""
        self._curves = dict(curves)
        for name, line in self._lines.items():
            ys = curves.get(name)
            line.setData(list(SHIFTS[: len(ys)]) if ys else [], ys or [])

    def curves(self) -> dict[str, list[float]]:
        return dict(self._curves)

    def _busy(self, busy: bool, text: str) -> None:
        self.run_button.setEnabled(not busy and self._dataset is not None)
        self.shift_button.setEnabled(not busy and self._dataset is not None)
        self.status.setText(text)

    def wait(self, timeout_ms: int = 120000) -> bool:
        """Join the background work and deliver its answers (tests, shutdown)."""
        ok = self._fitter.wait(timeout_ms) and self._shifter.wait(timeout_ms)
        return bool(ok)


def _demo() -> BaselinesPanel:
    panel = BaselinesPanel()
    panel.set_curves(
        {
            "kNN": [0.72, 0.62, 0.45, 0.33, 0.25],
            "linear": [0.76, 0.68, 0.56, 0.45, 0.35],
            "CNN": [0.86, 0.84, 0.78, 0.66, 0.52],
        }
    )
    return panel


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = _demo()
    view.resize(820, 520)
    view.show()
    if len(sys.argv) > 1:
        view.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
