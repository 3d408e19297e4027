"""Predict: an image beside a ranked bar chart of the class probabilities the network gives it.

The view only draws. Whoever owns the network (the main window, through a snapshot or a
checkpoint) preprocesses the image with the stored settings, computes the probabilities and
calls ``show_prediction``. Dropping an image file on the view emits ``imageDropped`` with its
path so that owner can do so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench.style import heading_font
from workbench.views.image_grid import apply_plot_theme, plot_colors, to_qimage
from workbench.views.plot_widgets import PlotWidget
from workbench.views.predict_table import FolderPredictions

__all__ = ["PredictView"]

TOP_COLOR = "#2563eb"
SHOWN = 10  # the most bars drawn; the rest of a 100-class problem is noise to the eye
IMAGE_SIDE = 220


class PredictView(QWidget):
    """``predictView``: the image, the predicted class in words, and the top probabilities."""

    imageDropped = Signal(str)  # path of an image file dropped on the view
    imagesChosen = Signal(list)  # paths picked with Open images… (or a click on the image)
    folderChosen = Signal(str)  # a folder picked with Predict a folder…

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictView")
        self.setAcceptDrops(True)
        self._names: list[str] = []
        self._probs = np.zeros(0)
        self._labels: list[pg.TextItem] = []

        self._image = QLabel("Drop an image here,\nor click to open images")
        self._image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._image.setFixedSize(IMAGE_SIDE, IMAGE_SIDE)
        self._image.setFrameShape(QLabel.Shape.StyledPanel)
        self._headline = QLabel("No prediction yet")
        self._headline.setFont(heading_font(self, 1.35))
        self._headline.setWordWrap(True)
        self._detail = QLabel("")
        self._detail.setWordWrap(True)
        self._image.setCursor(Qt.CursorShape.PointingHandCursor)
        self._image.installEventFilter(self)  # a click on the drop area opens images
        self.open_button = QPushButton("Open images…", objectName="openImagesButton")
        self.open_button.clicked.connect(self.choose_images)
        self.folder_button = QPushButton("Predict a folder…", objectName="predictFolderButton")
        self.folder_button.clicked.connect(self.choose_folder)
        self.folder_table = FolderPredictions(self)
        self.folder_table.rowActivated.connect(lambda path: self.imagesChosen.emit([path]))

        self.plot = PlotWidget()
        self.plot.setObjectName("predictBars")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "probability (%)")
        self.plot.setXRange(0, 100, padding=0)
        self.plot.getAxis("left").setStyle(tickLength=0)
        self.plot.getAxis("left").setTicks([[]])  # no classes yet: no "0 ... 1.0" class axis
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brushes=[])
        self.plot.addItem(self._bars)

        left = QVBoxLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.folder_button)
        left.addLayout(buttons)
        left.addWidget(self._image)
        left.addWidget(self._headline)
        left.addWidget(self._detail)
        left.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(left)
        top.addWidget(self.plot, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.folder_table, 1)
        apply_plot_theme(self.plot, self)

    # ------------------------------------------------------------------ data in

    def show_prediction(
        self,
        image: np.ndarray | str | os.PathLike[str],
        probs: Sequence[float] | np.ndarray,
        class_names: Sequence[str],
    ) -> None:
        """Show ``image`` (an array in any layout the image grid accepts, or a file path) and
        the probabilities ``probs`` (K,) of the classes ``class_names`` (K names).

        Raises ValueError when the lengths differ or a path is not a readable image."""
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        if len(p) != len(class_names):
            raise ValueError(f"{len(p)} probabilities for {len(class_names)} class names")
        array = _load(image) if isinstance(image, str | os.PathLike) else np.asarray(image)
        self._names = [str(n) for n in class_names]
        self._probs = p
        self._show_image(array)
        self._draw_bars()
        if len(p):
            top = int(p.argmax())
            self._headline.setText(f"{self._names[top]} — {p[top]:.1%}")
            order = np.argsort(-p, kind="stable")
            runner = f"next: {self._names[order[1]]} ({p[order[1]]:.1%})" if len(p) > 1 else ""
            source = f"{Path(image).name}\n" if isinstance(image, str | os.PathLike) else ""
            self._detail.setText(f"{source}{runner}")

    def top_class(self) -> str | None:
        """The name of the most probable class shown, or None before any prediction."""
        return self._names[int(self._probs.argmax())] if len(self._probs) else None

    def shown_bars(self) -> list[tuple[str, float]]:
        """(class name, probability) of each bar, most probable first."""
        order = np.argsort(-self._probs, kind="stable")[:SHOWN]
        return [(self._names[i], float(self._probs[i])) for i in order]

    def choose_images(self) -> None:
        """Open images…: pick one or more image files; ``imagesChosen`` carries them."""
        from engine.data import IMAGE_EXTENSIONS

        pattern = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open images", "", f"Images ({pattern});;All files (*)"
        )
        if paths:
            self.imagesChosen.emit(list(paths))

    def choose_folder(self) -> None:
        """Predict a folder…: every image in it (and its subfolders) goes to the table."""
        folder = QFileDialog.getExistingDirectory(self, "Predict every image in a folder")
        if folder:
            self.folderChosen.emit(folder)

    def show_folder(self, rows, where: str = "") -> None:
        """The table of a folder's (or several images') predictions: (path, class, confidence)."""
        self.folder_table.set_rows(rows, where)

    def eventFilter(self, obj, event) -> bool:
        if obj is self._image and event.type() == QEvent.Type.MouseButtonRelease:
            self.choose_images()
            return True
        return super().eventFilter(obj, event)

    # ------------------------------------------------------------------ drawing

    def _show_image(self, array: np.ndarray) -> None:
        pix = QPixmap.fromImage(to_qimage(array))
        small = max(pix.width(), pix.height()) < IMAGE_SIDE // 2
        mode = (
            Qt.TransformationMode.FastTransformation
            if small
            else Qt.TransformationMode.SmoothTransformation
        )
        side = IMAGE_SIDE - 8
        self._image.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode))

    def _draw_bars(self) -> None:
        bars = self.shown_bars()
        n = len(bars)
        _bg, fg, muted = plot_colors(self)
        ys = np.arange(n)[::-1].astype(float)  # most probable on top
        widths = np.array([100.0 * b[1] for b in bars])
        brushes = [pg.mkBrush(TOP_COLOR if i == 0 else muted) for i in range(n)]
        self._bars.setOpts(
            x0=np.zeros(n), y=ys, width=widths, height=0.7, brushes=brushes, pens=[None] * n
        )
        self.plot.getAxis("left").setTicks(
            [[(y, name) for y, (name, _) in zip(ys, bars, strict=True)]]
        )
        while len(self._labels) < n:
            label = pg.TextItem(anchor=(0, 0.5))
            self.plot.addItem(label)
            self._labels.append(label)
        for i, label in enumerate(self._labels):
            label.setVisible(i < n)
            if i < n:
                inside = widths[i] > 80.0  # a long bar carries its number inside, in white
                label.setAnchor((1, 0.5) if inside else (0, 0.5))
                label.setColor("#ffffff" if inside else fg)
                label.setText(f"{widths[i]:.1f}%")
                label.setPos(widths[i] - 1.0 if inside else widths[i] + 1.0, ys[i])
        self.plot.setYRange(-0.6, max(n, 1) - 0.4, padding=0)
        self.plot.setXRange(0, 100, padding=0)

    # ------------------------------------------------------------------ drops and palette

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_file(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _local_file(event)
        if path is not None:
            event.acceptProposedAction()
            self.imageDropped.emit(path)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            apply_plot_theme(self.plot, self)
            if len(self._probs):
                self._draw_bars()
        super().changeEvent(event)


def _local_file(event: QDragEnterEvent | QDropEvent) -> str | None:
    urls = event.mimeData().urls()
    if len(urls) == 1 and urls[0].isLocalFile():
        return urls[0].toLocalFile()
    return None


def _load(path: str | os.PathLike[str]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def _demo() -> PredictView:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:28, 0:28]
    digit = (np.abs(np.hypot(yy - 14, xx - 14) - 8) < 2.2).astype(np.float32)  # a zero
    logits = rng.normal(0, 1, 10)
    logits[0] += 5
    logits[6] += 3
    probs = np.exp(logits) / np.exp(logits).sum()
    view = PredictView()
    view.show_prediction(digit, probs, [str(i) for i in range(10)])
    return view


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(760, 380)
    demo.show()
    if len(sys.argv) > 1:
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
