"""Confusion matrix on the validation set, with the images behind every cell.

Rows are the true classes, columns the predicted ones; each cell shows its count and is
coloured by the share of its row (so a rare class's confusions are as visible as a common
one's). Clicking a cell lists the examples behind it, most confident first; a second gallery
shows the most confident mistakes overall. The counts and orderings come from
``engine.inspect``; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPicture, QTransform
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from engine.inspect import confusion_cell, confusion_matrix, misclassified
from workbench.style import heading_font
from workbench.views.image_grid import ImageGrid, apply_plot_theme, plot_colors
from workbench.views.plot_widgets import PlotWidget

__all__ = ["ConfusionMatrixView"]

ACCENT = "#2563eb"
SELECT = "#ea580c"
MAX_TEXT_CLASSES = 20  # above this, counts would not fit in their cells: colour only


class _CountsItem(pg.GraphicsObject):
    """The count of every cell, drawn by one item at a fixed font size whatever the zoom
    (cell (r, c) has its centre at (c + 0.5, r + 0.5) in data coordinates).

    The texts are drawn once into a picture, which each paint replays in one call: painted
    cell by cell, 100 cells of a 10-class matrix were 300 Python calls per paint, 3-18 ms
    of the GUI thread at each epoch's end (and again at each click on a cell), sliced by
    the interpreter lock the training's threads share into 20-90 ms of wall time. The
    picture is drawn again when the counts or the cells' size on screen change."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: np.ndarray | None = None
        self._on_dark = np.zeros((0, 0), dtype=bool)
        self._fg = QColor("#000000")
        self._picture: QPicture | None = None
        self._picture_key: tuple | None = None

    def set_counts(self, counts: np.ndarray | None, on_dark: np.ndarray, fg: QColor) -> None:
        """``counts`` int (K, K) or None (nothing drawn); ``on_dark`` bool (K, K): cells dark
        enough for white text."""
        if counts is None or self._counts is None or counts.shape != self._counts.shape:
            self.prepareGeometryChange()
        self._counts, self._on_dark, self._fg = counts, on_dark, QColor(fg)
        self._picture = None
        self.update()

    def boundingRect(self) -> QRectF:
        k = 0 if self._counts is None else len(self._counts)
        return QRectF(0, 0, k, k)

    def paint(self, painter: QPainter, *_args) -> None:
        m = self._counts
        if m is None or not len(m):
            return
        t = painter.transform()
        # The cells' size and place on the device, and the font the painter starts with.
        key = (t.m11(), t.m12(), t.m21(), t.m22(), t.dx(), t.dy(), painter.font().key())
        if self._picture is None or key != self._picture_key:
            self._picture, self._picture_key = self._record(m, t, painter.font()), key
        painter.save()
        painter.resetTransform()
        self._picture.play(painter)
        painter.restore()

    def _record(self, m: np.ndarray, to_device: QTransform, font: QFont) -> QPicture:
        """The counts' texts in device coordinates, centred in their cells."""
        picture = QPicture()
        p = QPainter(picture)
        try:
            cell = to_device.mapRect(QRectF(0, 0, 1, 1))
            font = QFont(font)
            font.setPixelSize(max(7, min(14, int(min(cell.width(), abs(cell.height())) * 0.4))))
            p.setFont(font)
            white, fg = QColor("#ffffff"), self._fg
            for r in range(len(m)):
                for c in range(len(m)):
                    rect = to_device.mapRect(QRectF(c, r, 1, 1))
                    p.setPen(white if self._on_dark[r, c] else fg)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(m[r, c]))
        finally:
            p.end()
        return picture


class ConfusionMatrixView(QWidget):
    """``confusionMatrix``: a K×K heat map, a cell gallery and a misclassified gallery."""

    exampleActivated = Signal(int)  # index into the validation set of a double-clicked image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self._probs = np.zeros((0, 0))
        self._labels = np.zeros(0, dtype=np.int64)
        self._names: list[str] = []
        self._images: np.ndarray | None = None
        self._counts = _CountsItem()
        self._ticks_for: list[str] | None = None
        self._cell: tuple[int, int] | None = None

        self.plot = PlotWidget()
        self.plot.setObjectName("confusionPlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("left", "true class")
        self.plot.setLabel("bottom", "predicted class")
        self.plot.setTitle("Confusion matrix (validation): train, or reopen a run, to fill it")
        # Until there are classes the axes name none: pyqtgraph's default range read as
        # "-500 ... 500 (x0.001)" classes.
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.enableAutoSIPrefix(False)
            axis.setTicks([[]])
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self._image = pg.ImageItem()
        self.plot.addItem(self._image)
        self._selection = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
        self._selection.setPen(pg.mkPen(SELECT, width=3))
        self._selection.setVisible(False)
        self.plot.addItem(self._selection)
        self.plot.addItem(self._counts)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

        self._cell_title = QLabel("Click a cell to see the images behind it")
        self._cell_title.setFont(heading_font(self, 1.0))
        self._cell_title.setWordWrap(True)
        self.cell_gallery = ImageGrid()
        self.cell_gallery.setObjectName("confusionCellGallery")
        self._wrong_title = QLabel("Most confident mistakes")
        self._wrong_title.setFont(heading_font(self, 1.0))
        self._wrong_title.setWordWrap(True)
        self.mistakes_gallery = ImageGrid()
        self.mistakes_gallery.setObjectName("misclassifiedGallery")
        for grid in (self.cell_gallery, self.mistakes_gallery):
            grid.imageActivated.connect(lambda key: self.exampleActivated.emit(int(key)))

        side = QSplitter(Qt.Orientation.Vertical)
        for title, grid in (
            (self._cell_title, self.cell_gallery),
            (self._wrong_title, self.mistakes_gallery),
        ):
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(4, 4, 4, 4)
            col.addWidget(title)
            col.addWidget(grid, 1)
            side.addWidget(box)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        apply_plot_theme(self.plot, self)

    # ------------------------------------------------------------------ data in

    def set_results(
        self,
        probs: np.ndarray,
        labels: np.ndarray,
        class_names: Sequence[str],
        images: np.ndarray | None = None,
    ) -> None:
        """New validation results: ``probs`` float (N, K), ``labels`` int (N,), K class names,
        and optionally the N images (any layout the image grid accepts, e.g. (N, C, H, W)).

        Raises ValueError when the sizes disagree. The selected cell stays selected. (Not
        named ``update``: that is QWidget's repaint request, which Qt code calls bare.)"""
        probs = np.asarray(probs, dtype=np.float64)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        k = len(class_names)
        if probs.ndim != 2 or probs.shape != (len(labels), k):
            raise ValueError(
                f"probabilities {probs.shape} must be (N, K) = ({len(labels)}, {k}) "
                "for the labels and class names given"
            )
        if images is not None and len(images) != len(labels):
            raise ValueError(f"{len(images)} images for {len(labels)} labels")
        self._probs, self._labels, self._images = probs, labels, images
        self._names = [str(n) for n in class_names]
        self._matrix = confusion_matrix(labels, probs.argmax(axis=1), k)
        self._draw_matrix()
        self._show_mistakes()
        if self._cell is not None and max(self._cell) < k:
            self.select_cell(*self._cell)
        else:
            self._cell = None
            self._selection.setVisible(False)
            self.cell_gallery.clear()

    def matrix(self) -> np.ndarray:
        """The current counts, int64 (K, K): row = true class, column = predicted class."""
        return self._matrix.copy()

    def select_cell(self, true: int, predicted: int) -> np.ndarray:
        """Show the examples of cell (true, predicted), most confident first; returns their
        indices into the validation set."""
        k = len(self._names)
        if not (0 <= true < k and 0 <= predicted < k):
            raise ValueError(f"cell ({true}, {predicted}) outside the {k}×{k} matrix")
        self._cell = (true, predicted)
        self._selection.setRect(predicted, true, 1, 1)
        self._selection.setVisible(True)
        idx = confusion_cell(self._probs, self._labels, true, predicted)
        what = "correct" if true == predicted else "confused"
        more = (
            f" (first {self.cell_gallery.limit} shown)"
            if len(idx) > self.cell_gallery.limit
            else ""
        )
        self._cell_title.setText(
            f"True {self._names[true]}, predicted {self._names[predicted]}: "
            f"{len(idx)} {what}, most confident first{more}"
        )
        conf = self._probs[idx, predicted]
        self._fill(self.cell_gallery, idx, [f"{c:.0%}" for c in conf], predicted_of=predicted)
        return idx

    def selected_cell(self) -> tuple[int, int] | None:
        return self._cell

    # ------------------------------------------------------------------ drawing

    def _draw_matrix(self) -> None:
        m = self._matrix
        k = len(m)
        rows = m.sum(axis=1, keepdims=True)
        share = np.divide(m, rows, out=np.zeros(m.shape), where=rows > 0)
        bg, fg, _muted = plot_colors(self)
        cmap = pg.ColorMap([0.0, 1.0], [bg, QColor(ACCENT)])
        self._image.setLookupTable(cmap.getLookupTable(nPts=256))
        self._image.setImage(share, levels=(0.0, 1.0))
        self._image.setRect(0, 0, k, k)
        if self._ticks_for != self._names:  # axes re-laid out only when the classes change
            self._ticks_for = list(self._names)
            ticks = [(i + 0.5, name) for i, name in enumerate(self._names)]
            self.plot.getAxis("left").setTicks([ticks])
            self.plot.getAxis("bottom").setTicks([ticks])
            self.plot.setRange(xRange=(0, k), yRange=(0, k), padding=0.02)
        # One item paints every count (a TextItem per cell cost 70-170 ms per epoch).
        self._counts.set_counts(m if k <= MAX_TEXT_CLASSES else None, share > 0.55, fg)
        total = int(m.sum())
        right = int(np.trace(m))
        acc = f", accuracy {right / total:.1%}" if total else ""
        self.plot.setTitle(f"Confusion matrix: {total} validation images{acc}", color=fg.name())

    def _show_mistakes(self) -> None:
        wrong = misclassified(self._probs, self._labels, limit=self.mistakes_gallery.limit)
        total = int(self._matrix.sum() - np.trace(self._matrix))
        self._wrong_title.setText(f"Most confident mistakes: {total} misclassified")
        idx = np.array([w.index for w in wrong], dtype=np.int64)
        # Two lines, whole names: the grid widens its cells to the longest line.
        captions = [
            f"{self._names[w.true]} →\n{self._names[w.predicted]} {w.confidence:.0%}" for w in wrong
        ]
        self._fill(self.mistakes_gallery, idx, captions)

    def _fill(
        self, grid: ImageGrid, idx: np.ndarray, captions: list[str], predicted_of=None
    ) -> None:
        if self._images is None:
            grid.clear()
            return
        tips = []
        for i in idx:
            p = int(self._probs[i].argmax()) if predicted_of is None else predicted_of
            tips.append(
                f"example {i}: true {self._names[self._labels[i]]}, "
                f"predicted {self._names[p]} ({self._probs[i, p]:.1%})"
            )
        grid.set_images(
            [self._images[i] for i in idx[: grid.limit]], captions, [int(i) for i in idx], tips
        )

    def _on_click(self, event) -> None:
        if not len(self._names):
            return
        pos: QPointF = self._image.mapFromScene(event.scenePos())
        c, r = int(np.floor(pos.x())), int(np.floor(pos.y()))
        if 0 <= r < len(self._names) and 0 <= c < len(self._names):
            self.select_cell(r, c)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            apply_plot_theme(self.plot, self)
            if len(self._names):
                self._draw_matrix()
        super().changeEvent(event)


def _demo() -> ConfusionMatrixView:
    rng = np.random.default_rng(1)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    n = 400
    labels = rng.integers(0, 10, n)
    logits = rng.normal(0, 1.0, (n, 10))
    logits[np.arange(n), labels] += 3.0
    logits[labels == 4, 9] += 2.5  # fours look like nines
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.stack([np.sin(xx / (2 + lab)) * np.cos(yy / (3 + lab % 4)) for lab in labels])[
        :, None
    ].astype(np.float32)
    view = ConfusionMatrixView()
    view.set_results(probs, labels, names, images)
    view.select_cell(4, 9)
    return view


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    demo = _demo()
    demo.resize(1100, 560)
    demo.show()
    if len(sys.argv) > 1:
        demo.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
