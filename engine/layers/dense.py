"""Fully connected layer (PyTorch's nn.Linear) and flatten."""

from __future__ import annotations

import math

import numpy as np

from engine.layers.base import Layer

__all__ = ["Dense", "Flatten"]


class Dense(Layer):
    """y = x @ weight.T + bias for x (N, in_features); y is (N, units).

    An input with more axes, (N, C, H, W), is flattened in C-order first (as if a flatten
    layer came before), and the input gradient gets that shape back. Parameters: ``weight``
    (units, in_features) and, unless ``bias=False``, ``bias`` (units,), created as zeros
    (``engine.init`` fills them).
    """

    kind = "dense"

    def __init__(self, in_features, units, bias=True):
        super().__init__()
        self.in_features = int(in_features)
        self.units = int(units)
        self.params["weight"] = np.zeros((self.units, self.in_features), np.float32)
        if bias:
            self.params["bias"] = np.zeros(self.units, np.float32)
        self._saved_x = None
        self._saved_shape = None

    @property
    def fan_in(self) -> int:
        return self.in_features

    @property
    def fan_out(self) -> int:
        return self.units

    def output_shape(self, input_shape):
        return (self.units,)

    def forward(self, x, train=False, record=False):
        flat = x.reshape(x.shape[0], -1)
        y = flat @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        if record:
            self._saved_x = flat
            self._saved_shape = x.shape
        return y

    def backward(self, dy):
        flat = self._require_saved(self._saved_x)
        self.grads["weight"] = dy.T @ flat
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(axis=0)
        if not self.input_grad:
            return None
        return (dy @ self.params["weight"]).reshape(self._saved_shape)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C-order, as torch.flatten(x, 1) does."""

    kind = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self._saved_shape = None

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        shape = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        return dy.reshape(shape)
