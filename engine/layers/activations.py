"""Activation layers: relu, leaky relu, sigmoid, tanh (elementwise, any input shape)."""

from __future__ import annotations

from engine.kernels.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from engine.layers.base import Layer

__all__ = ["LeakyReLU", "ReLU", "Sigmoid", "Tanh"]


class _OutputActivation(Layer):
    """An activation whose derivative is a function of its output y (kept for backward)."""

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


class ReLU(_OutputActivation):
    """max(x, 0); gradient dy where y > 0."""

    kind = "relu"


class Sigmoid(_OutputActivation):
    """1 / (1 + exp(-x)); gradient dy * y * (1 - y)."""

    kind = "sigmoid"
    _forward = staticmethod(sigmoid_forward)
    _backward = staticmethod(sigmoid_backward)


class Tanh(_OutputActivation):
    """tanh(x); gradient dy * (1 - y**2)."""

    kind = "tanh"
    _forward = staticmethod(tanh_forward)
    _backward = staticmethod(tanh_backward)


class LeakyReLU(Layer):
    """x where x > 0, else slope * x; gradient dy or slope * dy by the sign of x."""

    kind = "leaky_relu"

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = float(slope)
        self._saved_x = None

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_x = x
        return leaky_relu_forward(x, self.slope)

    def backward(self, dy):
        x = self._require_saved(self._saved_x)
        if not self.input_grad:
            return None
        return leaky_relu_backward(x, dy, self.slope)
