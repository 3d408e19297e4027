"""Convolution, pooling and ReLU one window position at a time, as the tutorials draw them.

``StepByStepView`` (objectName ``stepByStep``) shows the padded input with the window on it,
the filter, the element-wise products (or the window's values for pooling), their sum, and
the output map filling cell by cell. Next, Previous, Play and a slider move the window;
stride and padding change where it goes, and the output-size formula says why the output
has its size. By default it shows the tutorials' 5×5 image and 3×3 filter; ``set_input``
takes a patch of a real image and ``set_explanation`` the real numbers of a trained
network's layer (from the feature maps' "Explain this pixel"). The arithmetic is
:mod:`engine.explain`; this module only draws it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import explain
from engine.kernels.geometry import output_size
from workbench.views.number_grid import NumberGrid

__all__ = ["MODES", "StepByStepView"]

#: Mode title -> the engine's op name.
MODES = {
    "Convolution": "conv",
    "Max pooling": "max",
    "Average pooling": "avg",
    "Sum pooling (Lp, p = 1)": "sum",
    "L2 pooling": "l2",
    "ReLU": "relu",
}
PLAY_MS = 600
#: The tutorials' pooling example (CS231n): 2×2 max pooling, stride 2, gives [[6, 8], [3, 4]].
POOL_EXAMPLE = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
#: A signed feature map for ReLU: the tutorial image through a Laplacian edge detector.
RELU_EXAMPLE = explain.run_steps(
    explain.TUTORIAL_IMAGE, "conv", w=np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]), padding=1
)


class StepByStepView(QWidget):
    """``stepByStep``: the sliding window, its products and sum, and the output it fills."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stepByStep")
        self._x = explain.TUTORIAL_IMAGE[None]
        self._w: np.ndarray | None = explain.TUTORIAL_FILTER[None]
        self._b = 0.0
        self._own_input = False  # a real patch or explanation: kept across mode changes
        self._output = np.zeros((1, 1))
        self._cells: list[tuple[int, int]] = []

        self.mode = QComboBox(objectName="stepMode")
        self.mode.addItems(list(MODES))
        self.kernel = QSpinBox(objectName="stepKernel", minimum=1, maximum=7, value=2)
        self.stride = QSpinBox(objectName="stepStride", minimum=1, maximum=5, value=1)
        self.padding = QSpinBox(objectName="stepPadding", minimum=0, maximum=3, value=0)
        self.channel = QSpinBox(objectName="stepChannel", minimum=0, maximum=0)
        self.example = QPushButton("Tutorial example", objectName="stepExample")
        controls = QHBoxLayout()
        for label, widget in (
            ("Operation", self.mode),
            ("Window", self.kernel),
            ("Stride", self.stride),
            ("Padding", self.padding),
            ("Channel", self.channel),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.example)
        controls.addStretch(1)

        self.source = QLabel(objectName="stepSource")
        self.source.setWordWrap(True)
        self.input_grid = NumberGrid("Input")
        self.filter_grid = NumberGrid("Filter")
        self.products_grid = NumberGrid("Products")
        self.output_grid = NumberGrid("Output")
        grids = QGridLayout()
        for col, grid in enumerate(
            (self.input_grid, self.filter_grid, self.products_grid, self.output_grid)
        ):
            grids.addWidget(grid, 0, col)
            grids.setColumnStretch(col, 3 if grid is self.input_grid else 2)
        self.formula = QLabel(objectName="stepFormula")
        self.formula.setWordWrap(True)
        bigger = self.formula.font()
        bigger.setPointSizeF(bigger.pointSizeF() * 1.3)
        self.formula.setFont(bigger)
        self.formula.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.size_text = QLabel(objectName="stepSizeFormula")

        self.previous = QPushButton("◀ Previous", objectName="stepPrevious")
        self.next = QPushButton("Next ▶", objectName="stepNext")
        self.play = QPushButton("Play", objectName="stepPlay", checkable=True)
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="stepSlider")
        self.position = QLabel(objectName="stepPosition")
        nav = QHBoxLayout()
        for widget in (self.previous, self.next, self.play):
            nav.addWidget(widget)
        nav.addWidget(self.slider, 1)
        nav.addWidget(self.position)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.source)
        layout.addLayout(grids, 1)
        layout.addWidget(self.formula)
        layout.addWidget(self.size_text)
        layout.addLayout(nav)

        self._timer = QTimer(self, interval=PLAY_MS)
        self._timer.timeout.connect(self._tick)
        self.mode.currentTextChanged.connect(self._mode_changed)
        for spin in (self.kernel, self.stride, self.padding):
            spin.valueChanged.connect(self._recompute)
        self.channel.valueChanged.connect(lambda _v: self._show_step())
        self.slider.valueChanged.connect(lambda _v: self._show_step())
        self.previous.clicked.connect(lambda: self.slider.setValue(self.slider.value() - 1))
        self.next.clicked.connect(lambda: self.slider.setValue(self.slider.value() + 1))
        self.play.toggled.connect(self._play)
        self.example.clicked.connect(self.show_tutorial)
        self.show_tutorial()

    # ------------------------------------------------------------------ inputs

    @property
    def op(self) -> str:
        return MODES[self.mode.currentText()]

    def show_tutorial(self) -> None:
        """Back to the tutorials' example of the current operation."""
        self._own_input = False
        self._tutorial_input()
        self._recompute()

    def _tutorial_input(self) -> None:
        op = self.op
        self._b = 0.0
        if op == "conv":
            self._x, self._w = explain.TUTORIAL_IMAGE[None], explain.TUTORIAL_FILTER[None]
            text = (
                "The tutorial's 5×5 image and 3×3 filter (the output is [[4,3,4],[2,4,3],[2,3,4]])."
            )
        elif op == "relu":
            self._x, self._w = RELU_EXAMPLE[None], None
            text = (
                "A feature map with negative values: the tutorial image through an edge detector."
            )
        else:
            self._x, self._w = POOL_EXAMPLE[None], None
            self._set_quietly(self.kernel, 2)
            self._set_quietly(self.stride, 2)
            text = "A 4×4 feature map; 2×2 windows with stride 2 (max pooling gives [[6,8],[3,4]])."
        self._set_quietly(self.padding, 0)
        if op == "conv":
            self._set_quietly(self.stride, 1)
        self.source.setText(text)

    def set_input(self, x, w=None, b: float = 0.0, title: str = "A patch of your image") -> None:
        """Step over ``x`` (H, W) or (C, H, W) (e.g. a patch of a real image) with filter
        ``w`` (KH, KW) or (C, KH, KW) and bias ``b``; without ``w`` the current filter (for
        convolution) is kept when its channels fit."""
        x = np.asarray(x, dtype=np.float64)
        self._x = x[None] if x.ndim == 2 else x
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            self._w = w[None] if w.ndim == 2 else w
        if self._w is not None and self._w.shape[0] != self._x.shape[0]:
            self._w = np.repeat(self._w[:1], self._x.shape[0], axis=0) / self._x.shape[0]
        self._b = float(b)
        self._own_input = True
        self.source.setText(title)
        self._recompute()

    def set_explanation(self, e, title: str = "") -> None:
        """Show a :class:`engine.explain.PixelExplanation`: the layer's real input, filter
        and bias, positioned at the explained cell."""
        op = {"conv2d": "conv", "max_pool2d": "max", "avg_pool2d": "avg", "relu": "relu"}
        step = e.step
        kind = op[e.layer_type]
        self._set_quietly(self.mode, next(t for t, o in MODES.items() if o == kind))
        x = e.layer_input if kind == "conv" else e.layer_input[e.channel : e.channel + 1]
        self._x, self._w, self._b = x, step.weights, step.bias
        self._own_input = True
        if kind != "conv":
            self._set_quietly(self.kernel, e.kernel[0])
        if kind != "relu":
            self.padding.setMaximum(max(self.padding.maximum(), e.padding[0]))
            self.stride.setMaximum(max(self.stride.maximum(), e.stride[0]))
            self._set_quietly(self.stride, e.stride[0])
            self._set_quietly(self.padding, e.padding[0])
        self.source.setText(
            title
            or f"Layer {e.layer_index} ({e.layer_type}), channel {e.channel}, cell "
            f"({step.oy}, {step.ox}): the trained network computed {e.actual:.5g}."
        )
        self._recompute()
        self.go_to(step.oy, step.ox)

    # ------------------------------------------------------------------ stepping

    def go_to(self, oy: int, ox: int) -> None:
        """Move the window to output cell (oy, ox)."""
        self.slider.setValue(self._cells.index((oy, ox)))

    def current_step(self) -> explain.Step:
        """The arithmetic at the slider's position."""
        oy, ox = self._cells[self.slider.value()]
        op = self.op
        if op == "conv":
            return explain.conv_step(
                self._x, self._w, self._b, self.stride.value(), self.padding.value(), oy, ox
            )
        if op == "relu":
            return explain.relu_step(self._x, oy, ox)
        k = self.kernel.value()
        return explain.pool_step(
            self._x, (k, k), self.stride.value(), self.padding.value(), oy, ox, op
        )

    def output(self) -> np.ndarray:
        """The whole output map of the current settings (float64 (OH, OW))."""
        return self._output.copy()

    def _window_shape(self) -> tuple[int, int]:
        if self.op == "conv":
            return self._w.shape[1:]
        if self.op == "relu":
            return (1, 1)
        return (self.kernel.value(), self.kernel.value())

    def _recompute(self, *_args) -> None:
        op = self.op
        conv_like = op != "relu"
        self.kernel.setEnabled(op not in ("conv", "relu"))
        self.stride.setEnabled(conv_like)
        self.padding.setEnabled(conv_like)
        self.filter_grid.setVisible(op == "conv")
        self.channel.setMaximum(self._x.shape[0] - 1)
        self.channel.setEnabled(self._x.shape[0] > 1)
        kh, kw = self._window_shape()
        s, p = (self.stride.value(), self.padding.value()) if conv_like else (1, 0)
        h, w = self._x.shape[1:]
        oh, ow = output_size(h, kh, s, p), output_size(w, kw, s, p)
        if oh < 1 or ow < 1:
            self._cells, self._output = [], np.zeros((0, 0))
            self.formula.setText(f"A {kh}×{kw} window does not fit this input: make it smaller.")
            self.size_text.setText(explain.output_size_text(h, kh, s, p))
            self.slider.setRange(0, 0)
            return
        self._cells = explain.positions(oh, ow)
        self._output = explain.run_steps(
            self._x, op, w=self._w, b=self._b, kernel=(kh, kw), stride=s, padding=p
        )
        self.size_text.setText(
            "Output size: rows " + explain.output_size_text(h, kh, s, p)
            + ";  columns " + explain.output_size_text(w, kw, s, p)
        )  # fmt: skip
        blocked = self.slider.blockSignals(True)
        self.slider.setRange(0, len(self._cells) - 1)
        self.slider.setValue(min(self.slider.value(), len(self._cells) - 1))
        self.slider.blockSignals(blocked)
        self._show_step()

    def _show_step(self) -> None:
        if not self._cells:
            return
        step = self.current_step()
        op, c = self.op, min(self.channel.value(), self._x.shape[0] - 1)
        p = self.padding.value() if op != "relu" else 0
        fill = np.nan if op == "max" else 0.0
        padded = np.pad(self._x[c], p, constant_values=fill)
        self.input_grid.title = f"Input{f' channel {c}' if self._x.shape[0] > 1 else ''}"
        self.input_grid.set_values(padded, pad=p, mark_negative=op == "relu")
        kh, kw = self._window_shape()
        self.input_grid.set_window((step.top + p, step.left + p, kh, kw))
        if op == "conv":
            self.filter_grid.set_values(step.weights[c], signed=True)
        self.products_grid.title = {"conv": "Window × filter", "l2": "Squares"}.get(op, "Window")
        shown = np.where(np.isfinite(step.products[c]), step.products[c], np.nan)
        self.products_grid.set_values(shown, mark_negative=op == "relu")
        index = self.slider.value()
        filled = np.zeros(self._output.shape, bool)
        for oy, ox in self._cells[: index + 1]:
            filled[oy, ox] = True
        self.output_grid.set_values(self._output, filled=filled)
        self.output_grid.set_window((step.oy, step.ox, 1, 1))
        channels = self._x.shape[0]
        across = f" (summed over all {channels} channels)" if op == "conv" and channels > 1 else ""
        self.formula.setText(
            f"Output cell (row {step.oy}, column {step.ox}): {step.formula}{across}"
        )
        self.position.setText(f"{index + 1} / {len(self._cells)}")

    def _play(self, on: bool) -> None:
        self.play.setText("Pause" if on else "Play")
        if on and self.slider.value() >= self.slider.maximum():
            self.slider.setValue(0)
        self._timer.start() if on else self._timer.stop()

    def _tick(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)

    def _mode_changed(self, _text: str) -> None:
        if not self._own_input or (self.op == "conv" and self._w is None):
            self._own_input = False
            self._tutorial_input()
        self._recompute()

    @staticmethod
    def _set_quietly(widget, value) -> None:
        blocked = widget.blockSignals(True)
        if isinstance(widget, QComboBox):
            widget.setCurrentText(value)
        else:
            widget.setValue(value)
        widget.blockSignals(blocked)


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = StepByStepView()
    view.resize(1100, 560)
    view.slider.setValue(4)
    view.show()
    if len(sys.argv) > 1:
        view.grab().save(sys.argv[1])
    else:
        sys.exit(app.exec())
