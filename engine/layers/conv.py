"""2-D convolution (PyTorch's nn.Conv2d with groups=1, dilation=1), forward and backward."""

from __future__ import annotations

import numpy as np

from engine.kernels.conv import (
    bias_rows_to_nchw,
    col2im,
    im2col,
    nchw_to_rows,
    output_size,
)
from engine.layers.base import Layer

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """Convolution of (N, C, H, W) input with K filters of (C, KH, KW), stride and zero padding.

    Parameters: ``weight`` (K, C, KH, KW) and, unless ``bias=False``, ``bias`` (K,), both
    created as zeros (``engine.init`` fills them). Output (N, K, OH, OW) with
    OH = floor((H + 2*PH - KH) / SH) + 1.

    Computed as im2col + one BLAS product: y = W (K, C*KH*KW) @ cols (C*KH*KW, N*OH*OW).
    """

    kind = "conv2d"

    def __init__(self, in_channels, filters, kernel, stride=(1, 1), padding=(0, 0), bias=True):
        super().__init__()
        self.in_channels = int(in_channels)
        self.filters = int(filters)
        self.kernel = tuple(int(v) for v in kernel)
        self.stride = tuple(int(v) for v in stride)
        self.padding = tuple(int(v) for v in padding)
        kh, kw = self.kernel
        self.params["weight"] = np.zeros((self.filters, self.in_channels, kh, kw), np.float32)
        if bias:
            self.params["bias"] = np.zeros(self.filters, np.float32)
        self._saved_cols = None
        self._saved_shape = None
        # Column matrices are megabytes; a fresh allocation at every step is returned to the
        # OS on free and page-faults again on the next one, which costs as much as the fill.
        # Recorded (training) and evaluation forwards get separate buffers, so an evaluation
        # between a forward and its backward cannot overwrite the saved columns.
        self._workspace: dict[str, np.ndarray] = {}

    def _buffer(self, key, shape, dtype):
        buf = self._workspace.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._workspace[key] = np.empty(shape, dtype)
        return buf

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel[0] * self.kernel[1]

    @property
    def fan_out(self) -> int:
        return self.filters * self.kernel[0] * self.kernel[1]

    def output_shape(self, input_shape):
        _, height, width = input_shape
        return (
            self.filters,
            output_size(height, self.kernel[0], self.stride[0], self.padding[0]),
            output_size(width, self.kernel[1], self.stride[1], self.padding[1]),
        )

    def forward(self, x, train=False, record=False):
        n_img = x.shape[0]
        weight = self.params["weight"]
        _, oh, ow = self.output_shape(x.shape[1:])
        cols_shape = (weight[0].size, n_img * oh * ow)
        out = self._buffer("cols" if record else "eval_cols", cols_shape, x.dtype)
        cols = im2col(x, self.kernel, self.stride, self.padding, out=out)
        rows = weight.reshape(self.filters, -1) @ cols
        bias = self.params.get("bias")
        if bias is None:
            bias = np.zeros(self.filters, dtype=rows.dtype)
        y = bias_rows_to_nchw(rows, bias, n_img).reshape(n_img, self.filters, oh, ow)
        if record:
            self._saved_cols = cols
            self._saved_shape = x.shape
        return y

    def backward(self, dy):
        cols = self._require_saved(self._saved_cols)
        n_img = dy.shape[0]
        weight = self.params["weight"]
        # (N, K, OH, OW) -> (K, N*OH*OW), the layout the column matrix uses.
        dy_rows = nchw_to_rows(dy.reshape(n_img, self.filters, -1))
        self.grads["weight"] = (dy_rows @ cols.T).reshape(weight.shape)
        if "bias" in self.params:
            self.grads["bias"] = dy_rows.sum(axis=1)
        if not self.input_grad:
            return None
        dcols = self._buffer("dcols", cols.shape, cols.dtype)
        np.matmul(weight.reshape(self.filters, -1).T, dy_rows, out=dcols)
        return col2im(dcols, self._saved_shape, self.kernel, self.stride, self.padding)
