"""Convolution kernels: im2col / col2im and the bias + layout moves around the GEMM.

A convolution is computed as one BLAS matrix product over a column matrix:

    cols  (C*KH*KW, N*OH*OW)   one column per output pixel, rows ordered (c, kh, kw)
    W     (K, C*KH*KW)         the PyTorch weight (K, C, KH, KW) viewed as a matrix
    W @ cols -> (K, N*OH*OW)   then moved to NCHW (N, K, OH, OW) while the bias is added

Why this layout: rows ordered (c, kh, kw) match PyTorch's weight layout, so the weight needs
no reordering, and each im2col row is filled from one contiguous run of an input row (stride 1)
with contiguous writes. The (K, N*P) product is small next to ``cols`` (K < C*KH*KW in every
network here), so moving it to NCHW costs little and is fused with the bias add.

Every kernel works for any float dtype (numba compiles one version per dtype), which lets the
gradient checks run them in float64. Each fast kernel has a numpy reference ``*_naive``
beside it that the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT, JIT_PARALLEL

__all__ = [
    "bias_rows_to_nchw",
    "bias_rows_to_nchw_naive",
    "col2im",
    "col2im_naive",
    "im2col",
    "im2col_naive",
    "nchw_to_rows",
    "nchw_to_rows_naive",
    "output_size",
]


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@njit(**JIT)
def _valid_range(out_len, stride, offset, size):
    # Output positions o in [lo, hi) read input index o*stride + offset inside [0, size).
    lo = 0
    while lo < out_len and lo * stride + offset < 0:
        lo += 1
    hi = out_len
    while hi > lo and (hi - 1) * stride + offset >= size:
        hi -= 1
    return lo, hi


@njit(**JIT_PARALLEL)
def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):
    n_img, channels, height, width = x.shape
    plane = oh * ow
    # Each image owns its own block of columns, so threads never write the same element.
    for n in prange(n_img):
        for c in range(channels):
            for i in range(kh):
                y_lo, y_hi = _valid_range(oh, sh, i - ph, height)
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    x_lo, x_hi = _valid_range(ow, sw, j - pw, width)
                    for oy in range(oh):
                        base = n * plane + oy * ow
                        if oy < y_lo or oy >= y_hi:
                            for ox in range(ow):
                                cols[row, base + ox] = 0
                            continue
                        hy = oy * sh + i - ph
                        for ox in range(x_lo):
                            cols[row, base + ox] = 0
                        for ox in range(x_lo, x_hi):
                            cols[row, base + ox] = x[n, c, hy, ox * sw + j - pw]
                        for ox in range(x_hi, ow):
                            cols[row, base + ox] = 0


def im2col(x, kernel, stride, padding, out=None):
    """Unfold ``x`` (N, C, H, W) into columns (C*KH*KW, N*OH*OW), zero padding outside.

    ``kernel``, ``stride`` and ``padding`` are (h, w) integer pairs. The result has ``x``'s
    dtype; row (c*KH + i)*KW + j, column n*OH*OW + oy*OW + ox holds
    x[n, c, oy*SH + i - PH, ox*SW + j - PW] (0 where that index lies in the padding).
    ``out``: an optional C-contiguous array of that shape and dtype to fill (reusing one
    avoids the page faults of a fresh multi-megabyte allocation at every step).
    """
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    shape = (channels * kh * kw, n_img * oh * ow)
    if out is not None and (out.shape != shape or out.dtype != x.dtype):
        raise ValueError(f"im2col: out must be {shape} {x.dtype}, got {out.shape} {out.dtype}")
    cols = np.empty(shape, dtype=x.dtype) if out is None else out
    _im2col(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, oh, ow, cols)
    return cols


def im2col_naive(x, kernel, stride, padding):
    """Reference for :func:`im2col`: pad with numpy, then slice one (i, j) offset at a time."""
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((channels, kh, kw, n_img, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return cols.reshape(channels * kh * kw, n_img * oh * ow)


@njit(**JIT_PARALLEL)
def _col2im(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):
    n_img, channels, height, width = dx.shape
    plane = oh * ow
    # Each thread accumulates into its own images only: no two threads touch one element.
    for n in prange(n_img):
        dx[n] = 0
        for c in range(channels):
            for i in range(kh):
                y_lo, y_hi = _valid_range(oh, sh, i - ph, height)
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    x_lo, x_hi = _valid_range(ow, sw, j - pw, width)
                    for oy in range(y_lo, y_hi):
                        base = n * plane + oy * ow
                        hy = oy * sh + i - ph
                        for ox in range(x_lo, x_hi):
                            dx[n, c, hy, ox * sw + j - pw] += cols[row, base + ox]


def col2im(cols, input_shape, kernel, stride, padding):
    """Adjoint of :func:`im2col`: sum columns (C*KH*KW, N*OH*OW) back into (N, C, H, W).

    Entries that came from the padding are dropped. The result has ``cols``'s dtype.
    """
    height, width = input_shape[2], input_shape[3]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    dx = np.empty(input_shape, dtype=cols.dtype)
    _col2im(np.ascontiguousarray(cols), kh, kw, sh, sw, ph, pw, oh, ow, dx)
    return dx


def col2im_naive(cols, input_shape, kernel, stride, padding):
    """Reference for :func:`col2im`: add each (i, j) slice into a padded array, then crop."""
    n_img, channels, height, width = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    padded = np.zeros((n_img, channels, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    blocks = cols.reshape(channels, kh, kw, n_img, oh, ow)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            window += blocks[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, ph : ph + height, pw : pw + width].copy()


@njit(**JIT_PARALLEL)
def _bias_rows_to_nchw(rows, bias, out):
    n_img, k_out, plane = out.shape
    for n in prange(n_img):
        for k in range(k_out):
            b = bias[k]
            for p in range(plane):
                out[n, k, p] = rows[k, n * plane + p] + b


def bias_rows_to_nchw(rows, bias, n_img):
    """Move a GEMM result (K, N*P) to (N, K, P) and add ``bias`` (K,) to every channel.

    Pass a zero bias for a layer without one. The result has ``rows``'s dtype.
    """
    k_out, total = rows.shape
    out = np.empty((n_img, k_out, total // n_img), dtype=rows.dtype)
    _bias_rows_to_nchw(rows, bias, out)
    return out


def bias_rows_to_nchw_naive(rows, bias, n_img):
    """Reference for :func:`bias_rows_to_nchw`."""
    k_out, total = rows.shape
    return rows.reshape(k_out, n_img, total // n_img).transpose(1, 0, 2) + bias[None, :, None]


@njit(**JIT_PARALLEL)
def _nchw_to_rows(dy, rows):
    n_img, k_out, plane = dy.shape
    for k in prange(k_out):
        for n in range(n_img):
            for p in range(plane):
                rows[k, n * plane + p] = dy[n, k, p]


def nchw_to_rows(dy):
    """Move a gradient (N, K, P) to the GEMM layout (K, N*P); the inverse of the move above."""
    n_img, k_out, plane = dy.shape
    rows = np.empty((k_out, n_img * plane), dtype=dy.dtype)
    _nchw_to_rows(np.ascontiguousarray(dy), rows)
    return rows


def nchw_to_rows_naive(dy):
    """Reference for :func:`nchw_to_rows`."""
    n_img, k_out, plane = dy.shape
    return dy.transpose(1, 0, 2).reshape(k_out, n_img * plane)
