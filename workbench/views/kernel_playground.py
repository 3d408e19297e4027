"""The kernel playground: an image, a kernel you can edit, and what the convolution makes of it.

``KernelPlayground`` (objectName ``kernelPlayground``) shows input, kernel and output side by
side, live as you type. The image comes from the bundled sample, the loaded data set, the
training probe or a file; the kernel is one of the tutorials' named kernels or your own
numbers in the grid. Stride and padding change the output's size, and the formula under it
says why, with its numbers. The convolution is :func:`engine.named_kernels.playground_convolve`,
the engine's own Conv2D (per channel for RGB, or on the grayscale image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import explain
from engine.named_kernels import NAMED_KERNELS, playground_convolve
from engine.resources import resource_path
from workbench.views.image_grid import to_qimage

__all__ = ["CUSTOM", "KernelPlayground", "load_image_file", "sample_image"]

CUSTOM = "custom"
MAX_SIDE = 256  # a larger file is shrunk to this (the output stays live as you type)
PANE = 260  # the least pixels of each picture on screen; they grow with the view
MAX_PANE = 460
CELL = 34  # height of a kernel grid cell


def sample_image() -> np.ndarray:
    """A bundled Fashion-MNIST picture (an ankle boot), float32 (1, 28, 28) in [0, 1]."""
    folder = resource_path("sample", "train", "Ankle boot")
    first = sorted(folder.glob("*.png"))[0]
    return load_image_file(first)


def load_image_file(path: str | Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """An image file as float32 (1, H, W) grey or (3, H, W) RGB in [0, 1], its longest side
    shrunk to ``max_side``. Raises OSError (or Pillow's error) for an unreadable file."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB")
        im.thumbnail((max_side, max_side))
        a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def _cell_text(v: float) -> str:
    return f"{v:.4g}"


def _pixmap(image: np.ndarray, side: int = PANE) -> QPixmap:
    pix = QPixmap.fromImage(to_qimage(image))
    return pix.scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


class KernelPlayground(QWidget):
    """``kernelPlayground``. ``stepRequested(patch, kernel)``: "Step through a patch" asks
    the step-by-step view to slide this kernel over a small patch of the image."""

    stepRequested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kernelPlayground")
        self._sources: dict[str, list[tuple[str, np.ndarray]]] = {"Sample image": []}
        self._image = sample_image()
        self._title = "the sample image"
        self._output: np.ndarray | None = None
        self._editing = False

        self.source = QComboBox(objectName="playgroundSource")
        self.source.addItem("Sample image")
        self.picture = QComboBox(objectName="playgroundPicture")
        self.picture.setVisible(False)
        self.open_file = QPushButton("Open image…", objectName="playgroundOpen")
        self.gray = QCheckBox("Grayscale", objectName="playgroundGray")
        self.stretch = QCheckBox("Stretch contrast", objectName="playgroundStretch")
        top = QHBoxLayout()
        for w in (QLabel("Image"), self.source, self.picture, self.open_file, self.gray):
            top.addWidget(w)
        top.addWidget(self.stretch)
        top.addStretch(1)

        self.picker = QComboBox(objectName="kernelPicker")
        self.picker.addItems([*NAMED_KERNELS, CUSTOM])
        self.kernel_size = QSpinBox(objectName="kernelSize", minimum=1, maximum=7, value=3)
        self.stride = QSpinBox(objectName="playgroundStride", minimum=1, maximum=8, value=1)
        self.padding = QSpinBox(objectName="playgroundPadding", minimum=0, maximum=8, value=0)
        self.step_button = QPushButton("Step through a patch", objectName="playgroundStep")
        second = QHBoxLayout()
        for label, w in (
            ("Kernel", self.picker),
            ("Size", self.kernel_size),
            ("Stride", self.stride),
            ("Padding", self.padding),
        ):
            second.addWidget(QLabel(label))
            second.addWidget(w)
        second.addWidget(self.step_button)
        second.addStretch(1)

        self.grid = QTableWidget(3, 3, objectName="kernelGrid")
        self.grid.horizontalHeader().setVisible(False)
        self.grid.verticalHeader().setVisible(False)
        self.input_view = QLabel(objectName="playgroundInput")
        self.output_view = QLabel(objectName="playgroundOutput")
        for view in (self.input_view, self.output_view):
            view.setMinimumSize(PANE, PANE)
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_caption, self.output_caption = QLabel(), QLabel()
        panes = QGridLayout()
        panes.addWidget(self.input_caption, 0, 0)
        panes.addWidget(QLabel("<b>Kernel</b> (edit the numbers)"), 0, 1)
        panes.addWidget(self.output_caption, 0, 2)
        panes.addWidget(self.input_view, 1, 0)
        panes.addWidget(self.grid, 1, 1, Qt.AlignmentFlag.AlignCenter)
        panes.addWidget(self.output_view, 1, 2)
        self.formula = QLabel(objectName="playgroundFormula")
        self.formula.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addLayout(panes)
        layout.addWidget(self.formula)
        layout.addStretch(1)

        self.source.currentTextChanged.connect(self._source_changed)
        self.picture.currentIndexChanged.connect(self._picture_changed)
        self.open_file.clicked.connect(self._choose_file)
        self.picker.currentTextChanged.connect(self._kernel_chosen)
        self.kernel_size.valueChanged.connect(self._resize_grid)
        self.grid.itemChanged.connect(self._grid_edited)
        for w in (self.stride, self.padding):
            w.valueChanged.connect(self.refresh)
        for w in (self.gray, self.stretch):
            w.toggled.connect(self.refresh)
        self.step_button.clicked.connect(self._request_step)
        self.select_kernel("edge detection 3")

    # ------------------------------------------------------------------ images

    def set_image(self, image: np.ndarray, title: str = "your image") -> None:
        """Show ``image`` (C, H, W) or (H, W), uint8 or float (floats are stretched to
        [0, 1] from their own range, as a preprocessed image would look)."""
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[None]
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / 255.0
        else:
            a = a.astype(np.float32)
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        self._image = a
        self._title = title
        self.refresh()

    def set_source_images(self, name: str, images: list[tuple[str, np.ndarray]]) -> None:
        """Offer ``images`` (caption, (C, H, W) array) under source ``name`` ("Loaded data
        set", "Probe image"): the source combo lists each source once."""
        self._sources[name] = list(images)
        if self.source.findText(name) < 0:
            self.source.addItem(name)
        if self.source.currentText() == name:
            self._source_changed(name)

    def image(self) -> np.ndarray:
        """The image convolved, float32 (C, H, W) in [0, 1] (grey when Grayscale is on)."""
        if self.gray.isChecked() and self._image.shape[0] == 3:
            return self._image.mean(axis=0, keepdims=True)
        return self._image

    def _source_changed(self, name: str) -> None:
        blocked = self.picture.blockSignals(True)
        self.picture.clear()
        entries = self._sources.get(name, [])
        self.picture.addItems([caption for caption, _ in entries])
        self.picture.setVisible(bool(entries))
        self.picture.blockSignals(blocked)
        if name == "Sample image":
            self._image, self._title = sample_image(), "the sample image"
            self.refresh()
        elif entries:
            self._picture_changed(0)

    def _picture_changed(self, index: int) -> None:
        entries = self._sources.get(self.source.currentText(), [])
        if 0 <= index < len(entries):
            self.set_image(entries[index][1], entries[index][0])

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff)"
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Convolve the image file at ``path``; False (and a message) when unreadable."""
        try:
            image = load_image_file(path)
        except Exception as exc:  # Pillow raises many kinds for a bad file
            self.formula.setText(f"Cannot read {Path(path).name}: {exc}")
            return False
        self._image, self._title = image, Path(path).name
        self.refresh()
        return True

    # ------------------------------------------------------------------ kernel

    def select_kernel(self, name: str) -> None:
        """Load a named kernel into the grid."""
        self.picker.setCurrentText(name)
        self._kernel_chosen(name)

    def set_kernel(self, weights) -> None:
        """Put ``weights`` (F, F) in the grid as a custom kernel."""
        w = np.asarray(weights, dtype=np.float32)
        self._fill_grid(w)
        self.picker.blockSignals(True)
        self.picker.setCurrentText(self._name_of(w))
        self.picker.blockSignals(False)
        self.refresh()

    def kernel(self) -> np.ndarray:
        """The grid's numbers, float32 (F, F); cells that are not numbers count as 0."""
        n = self.grid.rowCount()
        w = np.zeros((n, self.grid.columnCount()), np.float32)
        for i in range(n):
            for j in range(self.grid.columnCount()):
                item = self.grid.item(i, j)
                exact = None if item is None else item.data(Qt.ItemDataRole.UserRole)
                if item is not None and exact is not None and _cell_text(exact) == item.text():
                    w[i, j] = exact
                    continue
                try:
                    w[i, j] = float(item.text()) if item is not None else 0.0
                except ValueError:
                    w[i, j] = 0.0
        return w

    def _kernel_chosen(self, name: str) -> None:
        if name in NAMED_KERNELS:
            self._fill_grid(NAMED_KERNELS[name])
            self.refresh()

    def _fill_grid(self, w: np.ndarray) -> None:
        self._editing = True
        try:
            self.kernel_size.blockSignals(True)
            self.kernel_size.setValue(w.shape[0])
            self.kernel_size.blockSignals(False)
            self.grid.setRowCount(w.shape[0])
            self.grid.setColumnCount(w.shape[1])
            for i in range(w.shape[0]):
                for j in range(w.shape[1]):
                    item = QTableWidgetItem(_cell_text(w[i, j]))
                    # The exact value too: 1/9 shown as 0.1111 still computes as 1/9.
                    item.setData(Qt.ItemDataRole.UserRole, float(w[i, j]))
                    self.grid.setItem(i, j, item)
            for i in range(w.shape[0]):
                self.grid.setRowHeight(i, CELL)
            for j in range(w.shape[1]):
                self.grid.setColumnWidth(j, CELL + 12)
            self.grid.setFixedSize(w.shape[1] * (CELL + 12) + 4, w.shape[0] * CELL + 4)
        finally:
            self._editing = False

    def _resize_grid(self, n: int) -> None:
        old = self.kernel()
        new = np.zeros((n, n), np.float32)
        m = min(n, old.shape[0])
        new[:m, :m] = old[:m, :m]
        self.set_kernel(new)

    def _grid_edited(self, _item) -> None:
        if self._editing:
            return
        self.picker.blockSignals(True)
        self.picker.setCurrentText(self._name_of(self.kernel()))
        self.picker.blockSignals(False)
        self.refresh()

    @staticmethod
    def _name_of(w: np.ndarray) -> str:
        for name, k in NAMED_KERNELS.items():
            if k.shape == w.shape and np.allclose(k, w, atol=5e-5):
                return name
        return CUSTOM

    # ------------------------------------------------------------------ output

    def output(self) -> np.ndarray | None:
        """The last convolution, float32 (C, OH, OW); None when the kernel did not fit."""
        return None if self._output is None else self._output.copy()

    def refresh(self, *_args) -> None:
        """Convolve again and redraw (every control calls this: the view is live)."""
        image, w = self.image(), self.kernel()
        s, p = self.stride.value(), self.padding.value()
        _, h, wd = image.shape
        self.input_caption.setText(f"<b>Input</b> {self._title}: {h}×{wd}")
        self._shown_input = image
        self.input_view.setPixmap(_pixmap(image, self._side()))
        rows = explain.output_size_text(h, w.shape[0], s, p)
        cols = explain.output_size_text(wd, w.shape[1], s, p)
        try:
            out = playground_convolve(image, w, s, p)
        except ValueError as exc:
            self._output = None
            self.output_view.clear()
            self.output_caption.setText("<b>Output</b>")
            self.formula.setText(f"{exc}.<br>Rows: {rows}")
            return
        self._output = out
        shown = out if self.stretch.isChecked() else np.clip(out, 0.0, 1.0)
        if not self.stretch.isChecked():
            shown = (shown * 255).round().astype(np.uint8)
        self._shown_output = shown
        self.output_view.setPixmap(_pixmap(shown, self._side()))
        self.output_caption.setText(
            f"<b>Output</b> {out.shape[1]}×{out.shape[2]}, values {out.min():.3g} … {out.max():.3g}"
        )
        self.formula.setText(
            f"Output size = (W − F + 2P)/S + 1. Rows: {rows}. Columns: {cols}. "
            + ("Values outside 0…1 are clipped, as the tutorials' pictures show them."
               if not self.stretch.isChecked() else "Shown stretched from its minimum to maximum.")
        )  # fmt: skip

    def _side(self) -> int:
        """Picture size: two pictures and the kernel grid share the width."""
        grid = self.grid.width() + 40
        return int(max(PANE, min(MAX_PANE, (self.width() - grid) // 2 - 20, self.height() - 190)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        side = self._side()
        if getattr(self, "_shown_input", None) is not None:
            self.input_view.setPixmap(_pixmap(self._shown_input, side))
        if getattr(self, "_shown_output", None) is not None and self._output is not None:
            self.output_view.setPixmap(_pixmap(self._shown_output, side))

    def _request_step(self) -> None:
        image, w = self.image(), self.kernel()
        _, h, wd = image.shape
        size = min(7, h, wd)
        top, left = (h - size) // 2, (wd - size) // 2
        # One plane to step through: the grey image (the mean of R, G and B for colour).
        grey = image.mean(axis=0, keepdims=True)
        self.stepRequested.emit(grey[:, top : top + size, left : left + size], w)


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = KernelPlayground()
    view.resize(980, 480)
    view.show()
    if len(sys.argv) > 1:
        view.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
