"""A convolution's output gradient moved into the layout each direct kernel reads.

The backward pass of :class:`engine.layers.conv2d.Conv2D` hands its direct kernels the
output gradient of one group of images in one of two layouts:

- ``rows`` (K, G·OH·OW): the GEMM route's layout, which the pooled epilogues' gradient
  kernels write (:func:`engine.kernels.conv_epilogue._max_pool_act_grad_to_rows` and the like);
- a ``block`` (G, K, OH, OW): the network's own layout. Without a fused pool the block is
  the incoming gradient itself (a view, no copy) or, after a fused activation, that gradient
  times the activation's derivative (:func:`act_grad_block`, one elementwise pass). Going
  through rows would cost a transposing pass over the whole gradient first.

Each function below takes either layout (told apart by ``ndim``) and writes the array a
kernel reads: a zero-padded channel-major copy (the row kernels), a zero-padded
channels-last copy (the filter-lane kernel's input gradient) or a pixel-major matrix (its
weight gradient). All arrays are C-contiguous; float32 or float64 alike.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.config import JIT
from engine.kernels import nchw_store
from engine.kernels.activations import act_grad_run
from engine.kernels.batch_norm import sum_row
from engine.kernels.conv import (
    _add_row_sums,
    _rows_to_padded_nchw,
    _rows_to_padded_nhwc,
    _rows_to_pixels,
    _to_padded_nhwc,
    embed_plane,
)

__all__ = [
    "act_grad_block",
    "add_block_sums",
    "add_column_sums",
    "to_padded_nchw",
    "to_padded_nhwc",
    "to_pixels",
]


@njit(**JIT)
def _act_grad_block(dy, y, code, slope, out):
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype
    act_grad_run(dy.reshape(-1), y.reshape(-1), out.reshape(-1), code, slope, zero, one)


def act_grad_block(dy, y, code, slope, out):
    """``out`` = ``dy`` times the derivative of activation ``code`` (see
    :func:`engine.kernels.activations.activation_code`) at its output ``y``; all three of
    one shape, C-contiguous."""
    _act_grad_block(dy, y, code, slope, out)
    return out


@njit(**JIT)
def _embed_nchw(src, top, left, dst):
    # src (G, K, H, W) into dst (G, K, HP, WP) at rows top.., columns left.., zeros around.
    for n in range(src.shape[0]):
        for k in range(src.shape[1]):
            embed_plane(src[n, k], top, left, dst[n, k])


@njit(**JIT)
def _embed_nhwc(src, top, left, dst):
    # src (G, K, H, W) into dst (G, HP, WP, K) channels-last, zeros around.
    for n in range(src.shape[0]):
        _to_padded_nhwc(src, n, top, left, dst[n])


@njit(**JIT)
def _block_to_pixels(src, out):
    # src (G, K, P) into out (G·P, Kpad) pixel-major, the columns beyond K zero.
    count, k_n, plane = src.shape
    width = out.shape[1]
    for n in range(count):
        for p in range(plane):
            o = out[n * plane + p]
            for k in range(k_n):
                o[k] = src[n, k, p]
            for k in range(k_n, width):
                o[k] = 0


@njit(**JIT)
def _add_block_sums(src, acc):
    count, k_n = src.shape[:2]
    for k in range(k_n):
        total = np.float64(0.0)
        for n in range(count):
            total += sum_row(src[n, k])
        acc[k] += total


def to_padded_nchw(grad, count, out_hw, top, left, out):
    """The gradient of ``count`` images with (OH, OW) = ``out_hw`` maps (rows or a block)
    into ``out`` (count, K, HP, WP) at offset (top, left), zeros elsewhere."""
    if grad.ndim == 4:
        _embed_nchw(grad, top, left, out)
    else:
        _rows_to_padded_nchw(grad, count, *out_hw, top, left, out)
    return out


def to_padded_nhwc(grad, count, out_hw, top, left, out):
    """As :func:`to_padded_nchw`, into channels-last ``out`` (count, HP, WP, K). For rows,
    ``out`` is exactly (count, OH + 2·top, OW + 2·left, K) or wider at the bottom right."""
    if grad.ndim == 4:
        if not (nchw_store.pad_pays(grad) and nchw_store.pad_nhwc(grad, top, left, out)):
            _embed_nhwc(grad, top, left, out)
    else:
        _rows_to_padded_nhwc(grad, count, *out_hw, top, left, out)
    return out


def to_pixels(grad, out):
    """The gradient (rows or a block) as ``out`` (G·OH·OW, Kpad) pixel-major, the columns
    beyond K zero."""
    if grad.ndim == 4:
        _block_to_pixels(grad.reshape(grad.shape[0], grad.shape[1], -1), out)
    else:
        _rows_to_pixels(grad, out)
    return out


@njit(**JIT)
def _add_column_sums(pixels, acc):
    # acc[k] += Σ_p pixels[p, k] in float64: each row adds a vector across the filters.
    m, k_n = pixels.shape
    for p in range(m):
        row = pixels[p]
        for k in range(k_n):
            acc[k] += np.float64(row[k])


def add_column_sums(pixels, acc):
    """``acc[k] +=`` the sum of column k of pixel-major ``pixels`` (m, K) (the bias gradient
    from the weight gradient's layout), in float64 ``acc``."""
    _add_column_sums(pixels, acc)
    return acc


def add_block_sums(grad, acc):
    """``acc[k] +=`` the sum of filter k's gradient (rows, or a block (G, K, ...) of 3 or 4
    dimensions; the bias gradient), in float64 ``acc``."""
    if grad.ndim >= 3:
        _add_block_sums(grad.reshape(grad.shape[0], grad.shape[1], -1), acc)
    else:
        _add_row_sums(grad, acc)
    return acc
