"""The pointwise route of :class:`engine.layers.conv2d.Conv2D`: a 1x1 convolution without
padding is, image by image, a matrix product in the network's own layout (with a stride S,
over every S-th row and column of x, copied first),

    y[n] (K, H·W) = W (K, C) @ x[n] (C, H·W) + b,

so it needs no patches and no transposes: the products write the (N, K, H, W) output, and the
backward's dx[n] = Wᵀ @ dy[n] and dW = Σₙ dy[n] @ x[n]ᵀ read dy as it comes (times the fused
activation's derivative). The GEMM route copied the input into column patches first and moved
the result from (K, N·H·W) rows into the output afterwards: two passes over data a 1x1
convolution barely computes on (64->10 filters at 8x8: 0.5 ms a 64-image batch, the copy half
of it). Any dtype; not with a fused pool (its epilogues read rows). Tested against the GEMM
route in tests/engine/test_direct_conv.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.config import JIT
from engine.kernels import grad_layout
from engine.kernels.activations import act_grad_run, act_inplace

__all__ = ["PointwiseRoutes"]


@njit(**JIT)
def _bias_act_block(block, bias, code, slope):
    # block (G, K, P) in place: + bias[k], then the activation, each a contiguous pass.
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype
    half = one / (one + one)
    count, k_n = block.shape[:2]
    for n in range(count):
        for k in range(k_n):
            row = block[n, k]
            b = bias[k]
            for p in range(row.shape[0]):
                row[p] += b
            act_inplace(row, code, slope, zero, one, half)


@njit(**JIT)
def _plane_means(block, area, out):
    # out[n, k] = mean of block[n, k] (G, K, P), the fused global average pool.
    count, k_n, plane = block.shape
    for n in range(count):
        for k in range(k_n):
            row = block[n, k]
            total = row[0] * 0
            for p in range(plane):
                total += row[p]
            out[n, k] = total / area


@njit(**JIT)
def _gap_grad_block(dy, full, code, slope, area, out):
    # out[n, k, p] = dy[n, k] / area through the activation whose output was full[n, k, p].
    zero = slope - slope
    one = zero + np.float32(1.0)
    count, k_n, plane = full.shape
    share = np.empty(plane, full.dtype)
    for n in range(count):
        for k in range(k_n):
            share[:] = dy[n, k] / area
            act_grad_run(share, full[n, k], out[n, k], code, slope, zero, one)


class PointwiseRoutes:
    """Mixed into Conv2D (which provides the fields and ``params``)."""

    def _pointwise(self, pool) -> bool:
        """Whether this layer takes the pointwise route (see the module docstring)."""
        return self.kernel == (1, 1) and self.padding == (0, 0) and pool is None

    def _pointwise_gap(self, pool, pool_mode, out_hw) -> bool:
        """Whether a fused global average pool (the pool is the whole map) follows a 1x1
        convolution of the pointwise route: the classifier head of all-convolutional nets."""
        return (
            self._pointwise(None)
            and pool is not None
            and pool_mode == "avg"
            and tuple(pool[0]) == tuple(out_hw)
            and tuple(pool[1]) == (1, 1)
        )

    def _pointwise_gap_forward(self, x, g0, g1, weight, bias, code, slope, y, full) -> None:
        """Images g0..g1 into ``full`` (G, K, P) (the activation before pooling) and their
        means into ``y`` (N, K, 1, 1)."""
        self._pointwise_forward(x, g0, g1, weight, bias, code, slope, full)
        _plane_means(full[g0:g1], x.dtype.type(full.shape[2]), y[g0:g1, :, 0, 0])

    def _pointwise_gap_grad(self, dy, full, g0, g1, code, slope, out):
        """The output gradient ``out`` (G, K, P) of images g0..g1 from the pooled ``dy``
        (N, K, 1, 1): each mean's gradient spread over its map, through the activation."""
        _gap_grad_block(dy[g0:g1, :, 0, 0], full[g0:g1], code, slope,
                        full.dtype.type(full.shape[2]), out)  # fmt: skip
        return out

    def _pointwise_input(self, x, g0, g1):
        """Images g0..g1 of ``x`` as (G, C, P) at the output's pixels: a view, or with a
        stride (a ResNet projection shortcut) the copy of every S-th row and column."""
        xs = x[g0:g1]
        if self.stride != (1, 1):
            sh, sw = self.stride
            xs = np.ascontiguousarray(xs[:, :, ::sh, ::sw])
        return xs.reshape(g1 - g0, self.in_channels, -1)

    def _pointwise_forward(self, x, g0, g1, weight, bias, code, slope, y) -> None:
        """Images g0..g1 of ``x`` into ``y`` (N, K, P) with bias and activation ``code``."""
        xs = self._pointwise_input(x, g0, g1)
        out = y[g0:g1]
        np.matmul(weight, xs, out=out)
        _bias_act_block(out, bias, code, slope)

    def _pointwise_backward(self, x, g0, g1, grad, weight, dw, db, dx) -> None:
        """One group's share of the gradients from ``grad`` (G, K, P), the output gradient
        through the activation: adds into ``dw`` (K, C) and float64 ``db`` (when the layer has
        a bias), writes ``dx`` (G, C, H, W) when given."""
        xs = self._pointwise_input(x, g0, g1)
        part = np.empty_like(dw)
        for n in range(g1 - g0):
            dw += np.dot(grad[n], xs[n].T, out=part)
        if "bias" in self.params:
            grad_layout.add_block_sums(grad, db)
        if dx is None:
            return
        if self.stride == (1, 1):
            np.matmul(weight.T, grad, out=dx.reshape(g1 - g0, self.in_channels, -1))
            return
        # The pixels a stride skips get no gradient.
        sh, sw = self.stride
        dx[...] = 0
        taken = dx[:, :, ::sh, ::sw]
        taken[...] = np.matmul(weight.T, grad).reshape(taken.shape)
