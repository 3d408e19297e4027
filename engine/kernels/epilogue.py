"""Average pooling fused into a convolution's epilogue: bias, an activation and average
pooling without padding, straight from a group's GEMM result while it is in cache, and the
gradient of all three straight back into the GEMM layout.

The arithmetic is that of the separate layers (v = rows + b, the activation of
:func:`engine.kernels.activations.act_value`, each window summed in (i, j) order from zero and
divided by KH*KW as :func:`engine.kernels.pool.avg_pool_forward` does), so the outputs are bit
for bit those of conv, activation and avg pool one after another. The max-pool and
activation-only epilogues live in :mod:`engine.kernels.conv_epilogue`.

Layouts: ``rows`` (K, G*H*W) is the product before its bias (it may be a transposed view);
outputs are (G, K, OH, OW); ``full`` (G, K, H*W) is the activation before pooling, kept in
training because the activation's derivative needs it (``keep``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.config import JIT
from engine.kernels.activations import act_grad_run, act_slope_naive, activation_code
from engine.kernels.conv_epilogue import act_planes
from engine.kernels.geometry import output_size
from engine.kernels.pool import avg_2x2, spread_2x2

__all__ = [
    "avg_pool_act_grad_to_rows",
    "avg_pool_act_grad_to_rows_naive",
    "bias_act_avg_pool",
    "bias_act_avg_pool_naive",
]


@njit(**JIT)
def _bias_act_avg_pool(rows, bias, code, slope, area, width, kh, kw, sh, sw, plane, out, full,
                       keep):  # fmt: skip
    # ``slope`` and ``area`` (KH*KW) come in the arrays' dtype: float64 scalars would widen.
    n_img, k_out, oh, ow = out.shape
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    half = one / (one + one)
    scratch = np.empty((k_out, plane), rows.dtype)
    pairs = kh == 2 and kw == 2 and sh == 2 and sw == 2
    for n in range(n_img):
        planes = full[n] if keep else scratch
        act_planes(rows, n * plane, bias, code, slope, zero, one, half, planes)
        for k in range(k_out):
            if pairs:
                avg_2x2(planes[k], width, area, out[n, k])
                continue
            act = planes[k]
            o = out[n, k]
            for oy in range(oh):
                for ox in range(ow):
                    start = oy * sh * width + ox * sw
                    total = zero
                    for i in range(kh):
                        row = start + i * width
                        for j in range(kw):
                            total += act[row + j]
                    o[oy, ox] = total / area


def bias_act_avg_pool(rows, bias, n_img, act, size, pool_kernel, pool_stride, slope=0.0,
                      keep=False):  # fmt: skip
    """Bias, activation ``act`` (None, "relu", "leaky_relu" with ``slope``, "tanh",
    "sigmoid") and average pooling without padding of a GEMM result ``rows`` (K, N*H*W),
    ``size`` = (H, W). Returns (out (N, K, OH, OW), full (N, K, H*W) or None): ``full`` is
    the activation before pooling, returned with ``keep`` (for the backward pass)."""
    height, width = size
    (kh, kw), (sh, sw) = pool_kernel, pool_stride
    oh, ow = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    if rows.shape[1] != n_img * height * width:
        raise ValueError(f"bias_act_avg_pool: rows {rows.shape} do not hold {n_img} planes")
    out = np.empty((n_img, rows.shape[0], oh, ow), rows.dtype)
    full = np.empty((n_img, rows.shape[0], height * width) if keep else (1, 1, 1), rows.dtype)
    code = activation_code(act, rows.dtype)
    t = rows.dtype.type
    _bias_act_avg_pool(rows, bias.astype(rows.dtype), code, t(slope), t(kh * kw), width,
                       kh, kw, sh, sw, height * width, out, full, bool(keep))  # fmt: skip
    return out, (full if keep else None)


def bias_act_avg_pool_naive(rows, bias, n_img, act, size, pool_kernel, pool_stride, slope=0.0):
    """Reference for :func:`bias_act_avg_pool`: the separate references in a row; returns
    (out, full)."""
    from engine.kernels.conv_epilogue import bias_act_rows_to_nchw_naive
    from engine.kernels.pool import avg_pool_forward_naive

    y = bias_act_rows_to_nchw_naive(rows, bias, n_img, act, slope)
    maps = y.reshape(n_img, rows.shape[0], *size)
    return avg_pool_forward_naive(maps, pool_kernel, pool_stride, (0, 0)), y


@njit(**JIT)
def _avg_pool_act_grad_to_rows(dy, full, code, slope, area, width, kh, kw, sh, sw, rows, sums):
    # The window gradients are spread into a scratch plane (windows may overlap), then scaled
    # by the activation's derivative while moving to the row layout; the bias gradient is
    # summed from the same values.
    n_img, k_out, oh, ow = dy.shape
    plane = full.shape[2]
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    spread = np.empty(plane, rows.dtype)
    pairs = kh == 2 and kw == 2 and sh == 2 and sw == 2
    for k in range(k_out):
        total = sums.dtype.type(0)
        for n in range(n_img):
            g = dy[n, k]
            if pairs:
                spread_2x2(g, width, area, spread)
            else:
                spread[:] = zero
            for oy in range(oh if not pairs else 0):
                for ox in range(ow):
                    share = g[oy, ox] / area
                    start = oy * sh * width + ox * sw
                    for i in range(kh):
                        row = start + i * width
                        for j in range(kw):
                            spread[row + j] += share
            dst = rows[k, n * plane : (n + 1) * plane]
            act_grad_run(spread, full[n, k], dst, code, slope, zero, one)
            for p in range(plane):
                total += dst[p]
        sums[k] += total


def avg_pool_act_grad_to_rows(dy, full, act, size, pool_kernel, pool_stride, slope=0.0,
                              sums=None):  # fmt: skip
    """Gradient of :func:`bias_act_avg_pool` up to the GEMM result: avg-pool backward, then
    the activation's backward (from ``full``, its output), moved to (K, N*H*W).

    ``dy`` (N, K, OH, OW); ``full`` (N, K, H*W); ``sums`` (K,) float64, when given, gets each
    row's sum added (the bias gradient). Returns the rows.
    """
    n_img, k_out = dy.shape[:2]
    rows = np.empty((k_out, n_img * size[0] * size[1]), dy.dtype)
    if sums is None:
        sums = np.zeros(k_out, np.float64)
    code = activation_code(act, dy.dtype)
    (kh, kw), (sh, sw) = pool_kernel, pool_stride
    t = dy.dtype.type
    dy, full = np.ascontiguousarray(dy), np.ascontiguousarray(full)
    _avg_pool_act_grad_to_rows(dy, full, code, t(slope), t(kh * kw), size[1], kh, kw, sh, sw,
                               rows, sums)  # fmt: skip
    return rows


def avg_pool_act_grad_to_rows_naive(dy, full, act, size, pool_kernel, pool_stride, slope=0.0):
    """Reference for :func:`avg_pool_act_grad_to_rows`."""
    from engine.kernels.conv import nchw_to_rows_naive
    from engine.kernels.pool import avg_pool_backward_naive

    n_img, k_out = dy.shape[:2]
    g = avg_pool_backward_naive(dy, (n_img, k_out, *size), pool_kernel, pool_stride, (0, 0))
    g = g.reshape(full.shape) * act_slope_naive(full, act, slope)
    return nchw_to_rows_naive(g)
