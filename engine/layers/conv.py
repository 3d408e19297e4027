"""2-D convolution (PyTorch's nn.Conv2d with groups=1, dilation=1), forward and backward."""

from __future__ import annotations

import numpy as np

from engine.kernels.conv import (
    act_grad_to_rows,
    bias_act_max_pool,
    bias_act_rows_to_nchw,
    im2row,
    max_pool_act_grad_to_rows,
    nchw_to_rows,
    output_size,
    row2im,
    rows_to_weight,
    weight_to_rows,
)
from engine.kernels.workers import THREADS, run, split
from engine.layers.base import Layer

#: Column-matrix size (bytes) a chunk of images may fill: small enough to stay in the L2/L3
#: cache between im2col, the products and col2im; large enough for efficient products.
COLUMN_BYTES = 512 * 1024
#: Below this many multiply-adds a convolution runs on the calling thread alone: waking a
#: worker costs more than it saves.
PARALLEL_MACS = 2_000_000

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """Convolution of (N, C, H, W) input with K filters of (C, KH, KW), stride and zero padding.

    Parameters: ``weight`` (K, C, KH, KW) and, unless ``bias=False``, ``bias`` (K,), both
    created as zeros (``engine.init`` fills them). Output (N, K, OH, OW) with
    OH = floor((H + 2*PH - KH) / SH) + 1.

    Computed as im2row + one BLAS product per group of G images:
    y[g] = W' (K, KH*KW*C) @ rows.T (KH*KW*C, G*OH*OW), where rows are the patches in
    (kh, kw, c) order (:func:`engine.kernels.conv.im2row`, contiguous copies) and W' the
    weight reordered to match. G is chosen so the patch matrix fits in cache
    (:data:`COLUMN_BYTES`); the batch is split over the engine's worker threads, each owning
    whole groups. The backward pass rebuilds each group's patches from the saved input
    (cheaper than keeping megabytes of patches that fall out of cache) and sums the weight
    gradient in per-thread buffers, reduced at the end.
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
        self._saved_x = None
        self._saved_epilogue = None
        # Per-thread scratch (flat arrays sliced to each group's size), reused across calls:
        # a fresh allocation at every step would page-fault again each time.
        self._workspace: dict[tuple, np.ndarray] = {}

    def _buffer(self, key, size, dtype):
        buf = self._workspace.get(key)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._workspace[key] = np.empty(size, dtype)
        return buf[:size]

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

    def _plan(self, x_shape, itemsize):
        """(plane, images per group, chunks of the batch per thread)."""
        n_img = x_shape[0]
        _, oh, ow = self.output_shape(x_shape[1:])
        plane = oh * ow
        group = max(1, min(n_img, COLUMN_BYTES // max(1, self.fan_in * plane * itemsize)))
        macs = n_img * plane * self.fan_in * self.filters
        threads = THREADS if macs >= PARALLEL_MACS else 1
        return plane, group, split(n_img, 1, threads)

    def _patches(self, x, lo, hi, slot):
        """im2row of images lo:hi into slot's scratch: ((hi - lo)*P, KH*KW*C)."""
        _, oh, ow = self.output_shape(x.shape[1:])
        size = self.fan_in * (hi - lo) * oh * ow
        out = self._buffer(("patches", slot), size, x.dtype).reshape(-1, self.fan_in)
        _, height, width = x.shape[1:]
        pad = (height + 2 * self.padding[0]) * (width + 2 * self.padding[1]) * x.shape[1]
        scratch = self._buffer(("padded", slot), pad, x.dtype)
        return im2row(x[lo:hi], self.kernel, self.stride, self.padding, out, scratch)

    def _bias(self, dtype):
        bias = self.params.get("bias")
        if bias is None:
            return np.zeros(self.filters, dtype)
        return bias.astype(dtype, copy=False)

    def forward(self, x, train=False, record=False, relu=False, pool=None):
        """Output (N, K, OH, OW) for ``x`` (N, C, H, W).

        The network fuses what follows a convolution into the epilogue of each group's
        product, while it is in cache: ``relu=True`` applies relu (exactly as
        :class:`engine.layers.ReLU` would); ``pool=(kernel, stride)`` then max-pools without
        padding (exactly as :class:`engine.layers.MaxPool2D`) and returns the pooled maps.
        :meth:`backward` then takes the gradient of that fused output.
        """
        x = np.ascontiguousarray(x)
        n_img = x.shape[0]
        _, oh, ow = self.output_shape(x.shape[1:])
        weight = weight_to_rows(self.params["weight"])
        bias = self._bias(x.dtype)
        plane, group, chunks = self._plan(x.shape, x.itemsize)
        if pool is None:
            y = np.empty((n_img, self.filters, plane), x.dtype)
            argmax = None
        else:
            (pkh, pkw), (psh, psw) = pool
            pooled_shape = (
                n_img,
                self.filters,
                output_size(oh, pkh, psh, 0),
                output_size(ow, pkw, psw, 0),
            )
            y = np.empty(pooled_shape, x.dtype)
            argmax = np.empty(pooled_shape, np.int32)

        def work(slot, lo, hi):
            for g0 in range(lo, hi, group):
                g1 = min(g0 + group, hi)
                patches = self._patches(x, g0, g1, slot)
                size = self.filters * (g1 - g0) * plane
                out = self._buffer(("out", slot), size, x.dtype)
                out = np.matmul(weight, patches.T, out=out.reshape(self.filters, -1))
                if pool is None:
                    bias_act_rows_to_nchw(out, bias, g1 - g0, relu, out=y[g0:g1])
                else:
                    bias_act_max_pool(
                        out, bias, g1 - g0, relu, (oh, ow), *pool, y[g0:g1], argmax[g0:g1]
                    )

        run(chunks, work)
        if record:
            self._saved_x = x
            self._saved_epilogue = (relu, pool, y, argmax)
        if pool is None:
            return y.reshape(n_img, self.filters, oh, ow)
        return y

    def backward(self, dy):
        x = self._require_saved(self._saved_x)
        relu, pool, y, argmax = self._saved_epilogue
        n_img = x.shape[0]
        _, oh, ow = self.output_shape(x.shape[1:])
        dy = np.ascontiguousarray(dy).reshape(y.shape)
        if pool is None:
            dy = dy.reshape(n_img, self.filters, -1)
            y = y.reshape(dy.shape)
        weight = weight_to_rows(self.params["weight"])
        plane, group, chunks = self._plan(x.shape, x.itemsize)
        dx = np.empty(x.shape, x.dtype) if self.input_grad else None

        def work(slot, lo, hi):
            # Per-thread partial sums: no two threads ever add into one array.
            dw = np.zeros(weight.shape, x.dtype)
            db = np.zeros(self.filters, x.dtype)
            for g0 in range(lo, hi, group):
                g1 = min(g0 + group, hi)
                patches = self._patches(x, g0, g1, slot)
                if pool is None and not relu and g1 - g0 == 1:
                    dy_rows = dy[g0]
                else:
                    size = self.filters * (g1 - g0) * plane
                    rows = self._buffer(("dy", slot), size, x.dtype)
                    rows = rows.reshape(self.filters, -1)
                    if pool is not None:
                        dy_rows = max_pool_act_grad_to_rows(
                            dy[g0:g1], y[g0:g1], argmax[g0:g1], relu, (oh, ow), rows
                        )
                    elif relu:
                        dy_rows = act_grad_to_rows(dy[g0:g1], y[g0:g1], relu, rows)
                    else:
                        dy_rows = nchw_to_rows(dy[g0:g1], out=rows)
                part = self._buffer(("dw", slot), dw.size, x.dtype).reshape(dw.shape)
                dw += np.matmul(dy_rows, patches, out=part)
                db += dy_rows.sum(axis=1)
                if dx is not None:
                    dpatches = self._buffer(("dpatches", slot), patches.size, x.dtype)
                    dpatches = np.matmul(dy_rows.T, weight, out=dpatches.reshape(patches.shape))
                    row2im(
                        dpatches,
                        dx[g0:g1].shape,
                        self.kernel,
                        self.stride,
                        self.padding,
                        dx[g0:g1],
                        self._workspace[("padded", slot)],
                    )
            return dw, db

        parts = run(chunks, work)
        dw, db = parts[0]
        for more_w, more_b in parts[1:]:
            dw += more_w
            db += more_b
        self.grads["weight"] = rows_to_weight(dw, self.params["weight"].shape)
        if "bias" in self.params:
            self.grads["bias"] = db
        return dx
