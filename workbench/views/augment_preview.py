"""What augmentation does to the training images, shown before training (the Data page).

One row per sample image: the image as loaded, then each change the settings turn on, alone
(flip; crop with padding; rotation; brightness; contrast), then two draws of all of them
together, as training would make them. The numbers drawn (offset, angle, factor) are in
each thumbnail's tooltip. ``set_augment(items)`` takes the Train page's ``augment`` items
("flip", "crop=2", "rotate=10", ...); "New draw" draws again. Computing is the engine's
(``engine.data.augment``); this module only lays out pictures.

    python -m workbench.views.augment_preview     # alone, on generated images
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.data.augment import Augmentation, augment_batch
from engine.train_config import TrainConfig
from workbench.views.image_grid import to_qimage

__all__ = ["AugmentPreview"]

THUMB = 48
COMBINED = 2  # draws of every change together


class AugmentPreview(QWidget):
    """A grid of sample images and their augmented versions. ``shown``: column title ->
    uint8 (N, C, H, W) images in that column (for tests and the curious)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("augmentPreview")
        self._images = np.zeros((0, 1, 1, 1), np.uint8)
        self._captions: list[str] = []
        self._items: tuple[str, ...] = ()
        self._draw = 0
        self.shown: dict[str, np.ndarray] = {}
        self.message = QLabel(objectName="augmentMessage", wordWrap=True)
        self.again = QPushButton("New draw", objectName="augmentRedraw")
        self.again.setToolTip("Draw other random changes for the same settings")
        self.again.clicked.connect(self.redraw)
        head = QHBoxLayout()
        head.addWidget(self.message, 1)
        head.addWidget(self.again)
        self.grid_widget = QWidget()
        self._grid = QGridLayout(self.grid_widget)
        self._grid.setSpacing(3)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.grid_widget)
        layout.addStretch(1)
        self._refresh()

    # ------------------------------------------------------------------ API

    def set_images(self, images: np.ndarray, captions: list[str] | None = None) -> None:
        """uint8 (N, C, H, W) sample images (a few: one row each) with row captions."""
        self._images = np.ascontiguousarray(images, dtype=np.uint8)
        self._captions = list(captions or [""] * len(images))
        self._refresh()

    def clear(self) -> None:
        """No sample images (the data set they came from failed to load or was replaced)."""
        self.set_images(np.zeros((0, 1, 1, 1), np.uint8), [])

    def set_augment(self, items) -> None:
        """The ``augment`` items of the training settings (TrainConfig syntax)."""
        items = tuple(items)
        if items != self._items:
            self._items = items
            self._refresh()

    def redraw(self) -> None:
        self._draw += 1
        self._refresh()

    # ------------------------------------------------------------------ drawing

    def _columns(self, aug: Augmentation, rng: np.random.Generator):
        """(title, images, tooltips) per column: the original, each change alone, then all."""
        x = self._images
        n = len(x)
        cols = [("loaded", x, [""] * n)]
        if aug.flip:
            cols.append(("flip", augment_batch(x, np.ones(n, bool), None, 0), ["mirrored"] * n))
        if aug.shift:
            off = rng.integers(0, 2 * aug.shift + 1, size=(n, 2))
            tips = [f"moved {dx - aug.shift:+d} px across, {dy - aug.shift:+d} px down"
                    for dy, dx in off]  # fmt: skip
            cols.append((f"crop pad {aug.shift}", augment_batch(x, None, off, aug.shift), tips))
        for name, title, low, high, fmt in (
            ("rotate", "rotate ±{:g}°", -aug.rotate, aug.rotate, "{:+.1f}°"),
            ("brightness", "brightness ±{:g}", 1 - aug.brightness, 1 + aug.brightness, "×{:.2f}"),
            ("contrast", "contrast ±{:g}", 1 - aug.contrast, 1 + aug.contrast, "×{:.2f}"),
        ):
            strength = getattr(aug, name)
            if not strength:
                continue
            drawn = rng.uniform(low, high, n)
            key = {"rotate": "angles"}.get(name, name)
            images = augment_batch(x, None, None, 0, **{key: drawn})
            cols.append((title.format(strength), images, [fmt.format(v) for v in drawn]))
        if aug.enabled:
            for k in range(COMBINED):
                d = aug.draw(n, rng)
                cols.append((f"all, draw {k + 1}", d.apply(x), [_describe(d, i) for i in range(n)]))
        return cols

    def _refresh(self) -> None:
        while self._grid.count():
            w = self._grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.shown = {}
        try:
            aug = TrainConfig(augment=self._items).augmentation()
        except ValueError as exc:
            self.message.setText(str(exc))
            return
        if not aug.enabled:
            self.message.setText(
                "No augmentation: training sees the images as loaded. Turn it on in the Train "
                "page's Augmentation settings."
            )
        else:
            self.message.setText(f"Augmentation: {', '.join(self._items)}; each change "
                                 "alone, then all of them as training draws them.")  # fmt: skip
        if not len(self._images):
            return
        rng = np.random.default_rng([self._draw, len(self._images)])
        for col, (title, images, tips) in enumerate(self._columns(aug, rng)):
            self.shown[title] = images
            head = QLabel(title)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._grid.addWidget(head, 0, col + 1)
            for row, image in enumerate(images):
                thumb = QLabel()
                thumb.setPixmap(QPixmap.fromImage(to_qimage(image)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation))  # fmt: skip
                thumb.setToolTip(tips[row] or self._captions[row])
                self._grid.addWidget(thumb, row + 1, col + 1)
        for row, caption in enumerate(self._captions):
            label = QLabel(caption)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(label, row + 1, 0)
        self._grid.setColumnStretch(self._grid.columnCount(), 1)


def _describe(d, i: int) -> str:
    parts = []
    if d.flips is not None:
        parts.append("mirrored" if d.flips[i] else "not mirrored")
    if d.offsets is not None:
        dy, dx = (int(v) - d.shift for v in d.offsets[i])
        parts.append(f"moved {dx:+d}, {dy:+d} px")
    if d.angles is not None:
        parts.append(f"{d.angles[i]:+.1f}°")
    if d.brightness is not None:
        parts.append(f"brightness ×{d.brightness[i]:.2f}")
    if d.contrast is not None:
        parts.append(f"contrast ×{d.contrast[i]:.2f}")
    return ", ".join(parts)


if __name__ == "__main__":  # pragma: no cover - a quick look
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    shapes = [((yy - 14) ** 2 + (xx - 14) ** 2 < 80) * 220, (abs(xx - yy) < 3) * 240,
              ((xx > 6) & (xx < 22) & (yy > 4) & (yy < 24)) * 200]  # fmt: skip
    imgs = np.stack([s.astype(np.uint8)[None] for s in shapes])
    view = AugmentPreview()
    view.set_images(imgs, ["disc", "diagonal", "box"])
    view.set_augment(sys.argv[1:] or ("flip", "crop=3", "rotate=15", "brightness=0.3"))
    view.show()
    sys.exit(app.exec())
