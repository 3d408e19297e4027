"""Compare with the learned filters: conv1's filters beside the named kernel each resembles.

``LearnedFiltersView`` (objectName ``learnedFilters``) shows the first convolution's filters
of the current run (averaged over input channels) as thumbnails, each captioned with the
named kernel it is closest to by normalised correlation (:func:`engine.named_kernels.
nearest_named`), so a learner sees that the network found edge detectors by itself.
Double-clicking a filter sends it to the playground (``filterChosen``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.named_kernels import nearest_named
from workbench.views.image_grid import ImageGrid

__all__ = ["RESEMBLES", "LearnedFiltersView", "first_conv_label", "first_conv_weight"]

#: |correlation| from which a filter is said to resemble its nearest named kernel.
RESEMBLES = 0.6


def first_conv_weight(spec, weights: dict) -> np.ndarray | None:
    """The weight (K, C, F, F) of the first conv2d layer of ``spec`` in a state dict
    ``weights`` (PyTorch names, "{position}.weight"); None when there is none."""
    for i, layer in enumerate(spec.layers):
        if layer.type == "conv2d":
            return weights.get(f"{i}.weight")
    return None


def first_conv_label(spec) -> str:
    """What the views call the first conv2d layer of ``spec`` (engine.inspect.layer_labels:
    conv1 in a chain, its id in a graph); "conv1" when there is none."""
    from engine.inspect import layer_labels

    labels = layer_labels(spec)
    return next((labels[i] for i, lay in enumerate(spec.layers) if lay.type == "conv2d"), "conv1")


class LearnedFiltersView(QWidget):
    """``learnedFilters``: thumbnails of conv1's filters with their nearest named kernel."""

    filterChosen = Signal(object)  # float32 (F, F): the filter averaged over channels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("learnedFilters")
        self._matches = []
        self.summary = QLabel(
            "<b>Compare with the learned filters</b>: train a network (or reopen a run) to "
            "see its first convolution's filters here.",
            objectName="learnedSummary",
        )
        self.summary.setWordWrap(True)
        self.grid = ImageGrid(thumb=56, limit=128)
        self.grid.setObjectName("learnedGrid")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.grid, 1)
        self.grid.imageActivated.connect(
            lambda i: self.filterChosen.emit(self._matches[i].filter.copy())
        )

    def set_weights(self, weight, name: str = "conv1") -> None:
        """Show ``weight`` (K, C, F, F), the filters of the conv layer called ``name``
        (:func:`first_conv_label`); None clears the view."""
        if weight is None:
            self._matches = []
            self.grid.clear()
            return
        self._matches = nearest_named(weight)
        captions = [
            f"≈ {m.name}{' (inverted)' if m.score < 0 else ''}\nr = {m.score:+.2f}"
            for m in self._matches
        ]
        tooltips = [
            f"filter {i}: correlation {m.score:+.2f} with {m.name}"
            for i, m in enumerate(self._matches)
        ]
        self.grid.set_images([m.filter for m in self._matches], captions, tooltips=tooltips)
        close = sum(abs(m.score) >= RESEMBLES for m in self._matches)
        names = sorted({m.name for m in self._matches if abs(m.score) >= RESEMBLES})
        head = "<b>Compare with the learned filters</b>: "
        if close:
            text = (
                f"{close} of {len(self._matches)} {name} filters correlate at |r| ≥ {RESEMBLES} "
                f"with a named kernel ({', '.join(names)}). Nobody programmed them: training "
                "found them."
            )
        else:
            text = (
                f"none of the {len(self._matches)} {name} filters is close to a named kernel yet "
                f"(all |r| below {RESEMBLES}; a short run on few images leaves them noisy): each "
                "shows its nearest one."
            )
        self.summary.setText(head + text + " Double-click a filter to try it in the playground.")
        self.updateGeometry()  # the summary's lines changed: so does the height it needs

    def minimumSizeHint(self) -> QSize:
        """The summary's wrapped lines at this width and one whole row of thumbnails: a
        layout's own minimum counts a wrapped label as one line, and the Learn page's
        splitter then cut the captions under the filters in half."""
        hint = super().minimumSizeHint()
        text = self.summary.heightForWidth(max(self.width(), hint.width()))
        need = text + self.layout().spacing() + self.grid.minimumSizeHint().height()
        return QSize(hint.width(), max(hint.height(), need))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the summary wraps to other lines

    def matches(self) -> list:
        """The :class:`engine.named_kernels.Resemblance` of each filter shown."""
        return list(self._matches)


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from engine.named_kernels import NAMED_KERNELS

    app = QApplication(sys.argv)
    view = LearnedFiltersView()
    rng = np.random.default_rng(0)
    bank = [NAMED_KERNELS[n] for n in ("sobel x", "sobel y", "edge detection 2", "box blur")]
    w = np.stack([k + rng.normal(0, 0.3, k.shape) for k in bank for _ in range(2)])[:, None]
    view.set_weights(w.astype(np.float32))
    view.resize(640, 260)
    view.show()
    if len(sys.argv) > 1:
        view.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
