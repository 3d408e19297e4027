"""The dataset panel: choose a source, see its classes, samples and health, set preprocessing.

A source is an image folder, an IDX folder or CIFAR-10 batches (``engine.data.detect_source``
decides). Loading runs in a ``BackgroundCall`` thread (the engine caches decoded pixels on
disk, so a reload after a settings change is quick); the panel then shows the class counts per
split, a row of sample images per class and the engine's health report: skipped files with
their reasons, imbalance and train/validation leakage. Under the samples, the augmentation
preview shows the Train page's augmentation on a few of them (``set_augmentation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.data import (
    CENTER_MODES,
    RESIZE_MODES,
    Dataset,
    DatasetError,
    Preprocessing,
    apply_array,
)
from workbench.style import PROBLEM_COLOR
from workbench.views.augment_preview import AugmentPreview
from workbench.views.image_grid import to_qimage
from workbench.workers.background import BackgroundCall
from workbench.workers.train_worker import DataRequest, describe_error

__all__ = ["DatasetPanel", "LoadedData"]

SAMPLES_PER_CLASS = 8
PREVIEW_ROWS = 4  # sample images the augmentation preview shows
THUMB = 44
WARN_COLOR = "#b45309"


@dataclass(frozen=True)
class LoadedData:
    """What one background load hands to the GUI: the request, the dataset and up to
    ``SAMPLES_PER_CLASS`` uint8 (k, C, H, W) training images per class."""

    request: DataRequest
    dataset: Dataset
    samples: tuple[np.ndarray, ...]

    def probe(self, count: int) -> np.ndarray | None:
        """float32 (P, C, H, W): ``count`` validation images (training images when there is
        no validation split), the classes in turn, preprocessed as training will; None when
        empty."""
        from workbench.workers.predict_worker import balanced_indices

        ds = self.dataset
        split = ds.splits.get("val") or ds.splits["train"]
        if len(split) == 0:
            return None
        images, _ = split.take(balanced_indices(split.labels, count))
        return apply_array(ds.preprocessing, images)


def load_with_samples(request: DataRequest) -> LoadedData:
    """Load ``request`` and pick the sample images (runs in the worker thread)."""
    ds = request.load()
    train = ds.split("train")
    labels = train.labels
    samples = []
    for k in range(ds.num_classes):
        rows = np.flatnonzero(labels == k)[:SAMPLES_PER_CLASS]
        samples.append(train.take(rows)[0] if len(rows) else np.zeros((0, 1, 1, 1), np.uint8))
    return LoadedData(request, ds, tuple(samples))


class DatasetPanel(QWidget):
    """``datasetChanged(LoadedData)`` after every successful load; ``loadFailed(message)``."""

    datasetChanged = Signal(object)
    loadFailed = Signal(str)
    sourceChanged = Signal(str)  # a new path: what was loaded no longer stands

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPanel")
        self._path = ""
        self._shape = (1, 28, 28)
        self._split = (0.1, 0)
        self._loaded: LoadedData | None = None
        self._loader = BackgroundCall(self, describe=describe_error)
        self._loader.result.connect(self._on_loaded)
        self._loader.error.connect(self._on_error)
        self._reload_timer = QTimer(self, singleShot=True, interval=150)
        self._reload_timer.timeout.connect(self.reload)
        self._build()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.path_label = QLabel("No data set chosen: choose a folder or drop one on the window.")
        self.path_label.setObjectName("datasetPath")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        choose = QPushButton("Choose folder…", objectName="chooseDatasetButton")
        choose.setToolTip("An image folder (one subfolder per class), IDX files or CIFAR-10")
        choose.clicked.connect(self._choose)
        head = QHBoxLayout()
        head.addWidget(self.path_label, 1)
        head.addWidget(choose)

        self.resize_mode = QComboBox(objectName="resizeMode")
        self.resize_mode.addItems(RESIZE_MODES)
        self.resize_mode.setToolTip("How images of another size reach the network's input size")
        self.center = QComboBox(objectName="centerMode")
        self.center.addItems(CENTER_MODES)
        self.center.setCurrentText("channel")
        self.center.setToolTip("Subtract the training split's mean per pixel or per channel")
        self.standardize = QCheckBox("divide by the standard deviation", checked=True)
        self.standardize.setObjectName("standardize")
        self.geometry_label = QLabel()
        pre_form = QFormLayout()
        pre_form.addRow("Network input", self.geometry_label)
        pre_form.addRow("Resize", self.resize_mode)
        pre_form.addRow("Centre", self.center)
        pre_form.addRow("", self.standardize)
        pre_box = QGroupBox("Preprocessing")
        pre_box.setLayout(pre_form)
        for box in (self.resize_mode, self.center):
            box.currentIndexChanged.connect(self._settings_changed)
        self.standardize.toggled.connect(self._settings_changed)

        self.classes = QTreeWidget(objectName="classCounts")
        self.classes.setRootIsDecorated(False)
        self.classes.setHeaderLabels(["Class", "train", "val", "test"])
        self.classes.setAlternatingRowColors(True)
        header = self.classes.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

        self.summary = QLabel(wordWrap=True, objectName="datasetSummary")
        self.warnings = QLabel(wordWrap=True, objectName="datasetWarnings")
        self.warnings.setStyleSheet(f"color: {WARN_COLOR};")
        self.skipped = QTreeWidget(objectName="skippedFiles")
        self.skipped.setRootIsDecorated(False)
        self.skipped.setHeaderLabels(["Skipped file", "Reason"])
        self.skipped.setVisible(False)  # an empty table of no data set's files says nothing
        health_box = QGroupBox("Health")
        health = QVBoxLayout(health_box)
        health.addWidget(self.summary)
        health.addWidget(self.warnings)
        health.addWidget(self.skipped, 1)
        health.addStretch(0)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(pre_box)
        left_layout.addWidget(self.classes, 3)
        left_layout.addWidget(health_box, 2)
        left.setMaximumWidth(560)

        self.samples = QWidget(objectName="sampleGrid")
        self._grid = QGridLayout(self.samples)
        self._grid.setSpacing(3)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.samples)
        samples_box = QGroupBox("Samples per class")
        QVBoxLayout(samples_box).addWidget(scroll)

        # The Train page's augmentation on a few of these images, before training.
        self.augment_preview = AugmentPreview()
        preview_scroll = QScrollArea()
        preview_scroll.setWidgetResizable(True)
        preview_scroll.setWidget(self.augment_preview)
        preview_box = QGroupBox("Augmentation preview")
        QVBoxLayout(preview_box).addWidget(preview_scroll)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(samples_box)
        right.addWidget(preview_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(split, 1)
        self._update_geometry_label()

    # ------------------------------------------------------------------ API

    @property
    def path(self) -> str:
        return self._path

    @property
    def loaded(self) -> LoadedData | None:
        """The last successful load (None before one, or while its source is being replaced)."""
        return self._loaded

    def is_loading(self) -> bool:
        return self._loader.is_busy()

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Join a load in progress and deliver its result (for tests and shutdown)."""
        return self._loader.wait(timeout_ms)

    def set_source(self, path: str) -> None:
        """Use the data at ``path`` (a folder, IDX folder, CIFAR-10 folder) and load it."""
        self._path = str(path)
        self._loaded = None
        self.sourceChanged.emit(self._path)
        self.path_label.setText(self._path)
        self.reload()

    def set_input_shape(self, shape: tuple[int, int, int]) -> None:
        """The network's input (C, H, W): the data is decoded at that geometry."""
        if tuple(shape) != self._shape:
            self._shape = tuple(shape)
            self._update_geometry_label()
            self._settings_changed()

    def set_split(self, val_fraction: float, seed: int) -> None:
        """The training settings' validation fraction and seed (the split shown is the one
        training will use)."""
        if (val_fraction, seed) != self._split:
            self._split = (val_fraction, seed)
            self._settings_changed()

    def set_augmentation(self, items) -> None:
        """The training settings' ``augment`` items (TrainConfig syntax), shown on samples."""
        self.augment_preview.set_augment(items)

    def request(self) -> DataRequest:
        """The current choice as a frozen request; DatasetError when there is none or the
        preprocessing settings do not fit together."""
        if not self._path:
            raise DatasetError("no data set chosen: choose a folder on the Data page")
        c, h, w = self._shape
        center = self.center.currentText()
        pre = Preprocessing(
            channels=c, height=h, width=w, resize=self.resize_mode.currentText(), center=center,
            standardize=self.standardize.isChecked() and center != "none",
        )  # fmt: skip
        return DataRequest(self._path, pre, self._split[0], self._split[1])

    def reload(self) -> None:
        if not self._path:
            return
        try:
            request = self.request()
        except DatasetError as exc:
            self._on_error(str(exc))
            return
        self.summary.setText("Loading…")
        self._loader.start(lambda: load_with_samples(request))

    # ------------------------------------------------------------------ internals

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a data set folder", self._path)
        if path:
            self.set_source(path)

    def _settings_changed(self) -> None:
        self.standardize.setEnabled(self.center.currentText() != "none")
        if self._path:
            self._reload_timer.start()

    def _update_geometry_label(self) -> None:
        c, h, w = self._shape
        kind = "grey" if c == 1 else "RGB" if c == 3 else f"{c} channels"
        self.geometry_label.setText(f"{w}×{h}, {kind} (set on the network's input)")

    def _on_error(self, message: str) -> None:
        self._loaded = None
        self.summary.setText("")
        self.warnings.setStyleSheet(f"color: {PROBLEM_COLOR};")
        self.warnings.setText(message)
        self.classes.clear()
        self.skipped.clear()
        self.skipped.setVisible(False)
        self._clear_samples()
        self.augment_preview.clear()  # the previous data set's images no longer stand
        self.loadFailed.emit(message)

    def _on_loaded(self, loaded: LoadedData) -> None:
        self._loaded = loaded
        ds, report = loaded.dataset, loaded.dataset.report
        self.classes.clear()
        for name in ds.class_names:
            counts = [report.counts.get(s, {}).get(name, 0) for s in ("train", "val", "test")]
            item = QTreeWidgetItem([name, *(f"{c:,}" if c else "–" for c in counts)])
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight)
            self.classes.addTopLevelItem(item)
        sizes = ", ".join(f"{k} ({v:,})" for k, v in sorted(report.sizes.items())[:4])
        cached = " · from the cache" if ds.cached else ""
        self.summary.setText(
            f"{report.kind}: {len(ds.class_names)} classes, {report.total:,} images{cached}"
            f"<br>native sizes: {sizes or '–'}"
        )
        lines = list(report.warnings)
        for split, count in report.leak_counts.items():
            if count:
                lines.append(f"leakage: {count} {split} image(s) are exact copies of train images")
        self.warnings.setStyleSheet(f"color: {WARN_COLOR};" if lines else "")
        self.warnings.setText("\n".join(lines) if lines else "No problems found.")
        self.skipped.clear()
        for path, reason in report.skipped:
            self.skipped.addTopLevelItem(QTreeWidgetItem([path, reason]))
        self.skipped.setVisible(bool(report.skipped))
        self.skipped.resizeColumnToContents(0)
        self._show_samples(ds.class_names, loaded.samples)
        self._show_preview(ds.class_names, loaded.samples)
        self.datasetChanged.emit(loaded)

    def _show_preview(self, names: tuple[str, ...], samples: tuple[np.ndarray, ...]) -> None:
        """The first image of the first PREVIEW_ROWS classes that have one."""
        rows = [(n, imgs[0]) for n, imgs in zip(names, samples, strict=True) if len(imgs)]
        rows = rows[:PREVIEW_ROWS]
        if rows:
            self.augment_preview.set_images(np.stack([r[1] for r in rows]), [r[0] for r in rows])
        else:
            self.augment_preview.clear()

    def _clear_samples(self) -> None:
        while self._grid.count():
            widget = self._grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()

    def _show_samples(self, names: tuple[str, ...], samples: tuple[np.ndarray, ...]) -> None:
        self._clear_samples()
        for row, (name, images) in enumerate(zip(names, samples, strict=True)):
            label = QLabel(name)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(label, row, 0)
            for col, image in enumerate(images):
                thumb = QLabel()
                pix = QPixmap.fromImage(to_qimage(image)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )  # fmt: skip
                thumb.setPixmap(pix)
                thumb.setToolTip(name)
                self._grid.addWidget(thumb, row, col + 1)
        self._grid.setColumnStretch(SAMPLES_PER_CLASS + 1, 1)
        self._grid.setRowStretch(len(names), 1)
