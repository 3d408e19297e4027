"""Pooling layers: max pool, average pool (count_include_pad), global average pool."""

from __future__ import annotations

import numpy as np

from engine.kernels.geometry import output_size
from engine.kernels.pool import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from engine.layers.base import Layer

__all__ = ["AvgPool2D", "GlobalAvgPool", "MaxPool2D"]


class _Pool2D(Layer):
    def __init__(self, kernel, stride=None, padding=(0, 0)):
        super().__init__()
        self.kernel = tuple(int(v) for v in kernel)
        self.stride = self.kernel if stride is None else tuple(int(v) for v in stride)
        self.padding = tuple(int(v) for v in padding)
        self._saved_shape = None

    def output_shape(self, input_shape):
        channels, height, width = input_shape
        return (
            channels,
            output_size(height, self.kernel[0], self.stride[0], self.padding[0]),
            output_size(width, self.kernel[1], self.stride[1], self.padding[1]),
        )


class MaxPool2D(_Pool2D):
    """Max over (KH, KW) windows of (N, C, H, W); padding never wins (it is -inf).

    Output (N, C, OH, OW). The backward pass sends each output gradient to the input that won
    its window (recorded in the forward pass as an int32 argmax).
    """

    kind = "max_pool2d"

    def __init__(self, kernel, stride=None, padding=(0, 0)):
        super().__init__(kernel, stride, padding)
        self._saved_argmax = None

    def forward(self, x, train=False, record=False):
        y, argmax = max_pool_forward(x, self.kernel, self.stride, self.padding)
        if record:
            self._saved_argmax = argmax
            self._saved_shape = x.shape
        return y

    def backward(self, dy):
        argmax = self._require_saved(self._saved_argmax)
        if not self.input_grad:
            return None
        return max_pool_backward(dy, argmax, self._saved_shape)


class AvgPool2D(_Pool2D):
    """Mean over (KH, KW) windows of (N, C, H, W), always divided by KH*KW.

    Zero padding counts in the mean (PyTorch's default ``count_include_pad=True``).
    """

    kind = "avg_pool2d"

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        return avg_pool_forward(x, self.kernel, self.stride, self.padding)

    def backward(self, dy):
        shape = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        return avg_pool_backward(dy, shape, self.kernel, self.stride, self.padding)


class GlobalAvgPool(Layer):
    """Mean of each (H, W) feature map: (N, C, H, W) -> (N, C), ready for a dense layer."""

    kind = "global_avg_pool"

    def __init__(self) -> None:
        super().__init__()
        self._saved_shape = None

    def output_shape(self, input_shape):
        return (input_shape[0],)

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        n_img, channels, height, width = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        share = dy / dy.dtype.type(height * width)
        return np.broadcast_to(share[:, :, None, None], (n_img, channels, height, width)).copy()
