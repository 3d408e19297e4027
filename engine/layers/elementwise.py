"""What the activation layers share: an element-wise map whose derivative is a function of
its output, and the definition base of the activation family. Each activation type lives in
its own module (relu.py, leaky_relu.py, sigmoid.py, tanh.py)."""

from __future__ import annotations

from engine.kernels.activations import relu_backward, relu_forward
from engine.layers.base import Layer
from engine.layers.definition import LayerDef

__all__ = ["ActivationDef", "OutputActivation"]


class OutputActivation(Layer):
    """An activation whose derivative is a function of its output y (kept for backward).
    Subclasses set ``_forward(x) -> y`` and ``_backward(y, dy) -> dx``."""

    _forward = staticmethod(relu_forward)
    _backward = staticmethod(relu_backward)

    def __init__(self) -> None:
        super().__init__()
        self._saved_y = None

    def forward(self, x, train=False, record=False):
        y = self._forward(x)
        if record:
            self._saved_y = y
        return y

    def backward(self, dy):
        y = self._require_saved(self._saved_y)
        if not self.input_grad:
            return None
        return self._backward(y, dy)


class ActivationDef(LayerDef):
    """Element-wise, any input shape, same shape out, no parameters."""

    family = "activation"
