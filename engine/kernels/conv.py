"""Convolution kernels: im2col / col2im and the bias + layout moves around the GEMM.

A convolution is computed as one BLAS matrix product over a column matrix:

    cols  (C*KH*KW, N*OH*OW)   one column per output pixel, rows ordered (c, kh, kw)
    W     (K, C*KH*KW)         the PyTorch weight (K, C, KH, KW) viewed as a matrix
    W @ cols -> (K, N*OH*OW)   then moved to NCHW (N, K, OH, OW) while the bias is added

Why this layout: rows ordered (c, kh, kw) match PyTorch's weight layout, so the weight needs
no reordering, and each im2col row is filled from one contiguous run of an input row (stride 1)
with contiguous writes. The (K, N*P) product is small next to ``cols`` (K < C*KH*KW in every
network here), so moving it to NCHW costs little and is fused with the bias add.

The kernels are serial: :class:`engine.layers.conv.Conv2D` runs them on chunks of a few images
at a time in the engine's worker threads (:mod:`engine.kernels.workers`), so that a chunk's
column matrix stays in cache between im2col, its products and col2im.

Every kernel works for any float dtype (numba compiles one version per dtype), which lets the
gradient checks run them in float64. Each fast kernel has a numpy reference ``*_naive``
beside it that the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.config import JIT
from engine.kernels.activations import (
    ACT_SIGMOID32,
    ACT_TANH32,
    act_grad_run,
    act_inplace,
    act_run,
    act_slope,
    act_value_naive,
    activation_code,
)
from engine.kernels.geometry import output_size

__all__ = [
    "act_grad_to_rows",
    "act_grad_to_rows_naive",
    "add_row_sums",
    "add_row_sums_naive",
    "bias_act_max_pool",
    "bias_act_max_pool_naive",
    "bias_act_rows_to_nchw",
    "bias_act_rows_to_nchw_naive",
    "bias_rows_to_nchw",
    "bias_rows_to_nchw_naive",
    "col2im",
    "col2im_naive",
    "im2col",
    "im2col_naive",
    "im2row",
    "im2row_naive",
    "max_pool_act_grad_to_rows",
    "max_pool_act_grad_to_rows_naive",
    "nchw_to_rows",
    "nchw_to_rows_naive",
    "output_size",
    "row2im",
    "row2im_naive",
    "rows_to_weight",
    "weight_to_rows",
]


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


@njit(**JIT)
def _im2col(x, kh, kw, sh, sw, ph, pw, oh, ow, cols):
    n_img, channels, height, width = x.shape
    plane = oh * ow
    for n in range(n_img):
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
                        if sw == 1:  # contiguous: a plain copy the compiler vectorises
                            src = x[n, c, hy, x_lo + j - pw : x_hi + j - pw]
                            dst = cols[row, base + x_lo : base + x_hi]
                            for t in range(x_hi - x_lo):
                                dst[t] = src[t]
                        else:
                            for ox in range(x_lo, x_hi):
                                cols[row, base + ox] = x[n, c, hy, ox * sw + j - pw]
                        for ox in range(x_hi, ow):
                            cols[row, base + ox] = 0


def _output(name: str, out, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``out`` when it is a C-contiguous array of ``shape`` and ``dtype`` (a buffer the caller
    reuses), a new empty one when ``out`` is None; ValueError naming ``name`` otherwise."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"{name}: out must be C-contiguous {shape} {np.dtype(dtype)}, "
            f"got {out.shape} {out.dtype}"
        )
    return out


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
    cols = _output("im2col", out, shape, x.dtype)
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


@njit(**JIT)
def _col2im(cols, kh, kw, sh, sw, ph, pw, oh, ow, dx):
    n_img, channels, height, width = dx.shape
    plane = oh * ow
    for n in range(n_img):
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
                        if sw == 1:  # contiguous: a plain loop the compiler vectorises
                            dst = dx[n, c, hy, x_lo + j - pw : x_hi + j - pw]
                            src = cols[row, base + x_lo : base + x_hi]
                            for t in range(x_hi - x_lo):
                                dst[t] += src[t]
                        else:
                            for ox in range(x_lo, x_hi):
                                dx[n, c, hy, ox * sw + j - pw] += cols[row, base + ox]


def col2im(cols, input_shape, kernel, stride, padding, out=None):
    """Adjoint of :func:`im2col`: sum columns (C*KH*KW, N*OH*OW) back into (N, C, H, W).

    Entries that came from the padding are dropped. The result has ``cols``'s dtype.
    ``out``: an optional C-contiguous array of ``input_shape`` and that dtype to overwrite.
    """
    height, width = input_shape[2], input_shape[3]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    input_shape = tuple(input_shape)
    dx = _output("col2im", out, input_shape, cols.dtype)
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


@njit(**JIT)
def _bias_rows_to_nchw(rows, bias, out):
    n_img, k_out, plane = out.shape
    for n in range(n_img):
        for k in range(k_out):
            b = bias[k]
            for p in range(plane):
                out[n, k, p] = rows[k, n * plane + p] + b


def bias_rows_to_nchw(rows, bias, n_img, out=None):
    """Move a GEMM result (K, N*P) to (N, K, P) and add ``bias`` (K,) to every channel.

    Pass a zero bias for a layer without one. The result has ``rows``'s dtype. ``out``: an
    optional C-contiguous (N, K, P) array of that dtype to overwrite.
    """
    k_out, total = rows.shape
    shape = (n_img, k_out, total // n_img)
    out = _output("bias_rows_to_nchw", out, shape, rows.dtype)
    _bias_rows_to_nchw(rows, bias, out)
    return out


def bias_rows_to_nchw_naive(rows, bias, n_img):
    """Reference for :func:`bias_rows_to_nchw`."""
    k_out, total = rows.shape
    return rows.reshape(k_out, n_img, total // n_img).transpose(1, 0, 2) + bias[None, :, None]


@njit(**JIT)
def _nchw_to_rows(dy, rows):
    n_img, k_out, plane = dy.shape
    for k in range(k_out):
        for n in range(n_img):
            for p in range(plane):
                rows[k, n * plane + p] = dy[n, k, p]


def nchw_to_rows(dy, out=None):
    """Move a gradient (N, K, P) to the GEMM layout (K, N*P); the inverse of the move above.

    ``out``: an optional C-contiguous (K, N*P) array of ``dy``'s dtype to overwrite.
    """
    n_img, k_out, plane = dy.shape
    shape = (k_out, n_img * plane)
    rows = _output("nchw_to_rows", out, shape, dy.dtype)
    _nchw_to_rows(np.ascontiguousarray(dy), rows)
    return rows


def nchw_to_rows_naive(dy):
    """Reference for :func:`nchw_to_rows`."""
    n_img, k_out, plane = dy.shape
    return dy.transpose(1, 0, 2).reshape(k_out, n_img * plane)


# ---------------------------------------------------------------------------------------------
# Row-ordered columns: one row per output pixel, patch vector ordered (kh, kw, c).
#
# Each image is first moved to a zero-padded channels-last scratch (H+2PH, W+2PW, C). A patch
# row is then KH runs of KW*C contiguous values (stride 1), so building the rows is a series of
# short memcpys instead of the element-by-element gathers of the (c, kh, kw) order. The weight
# is reordered to match, (K, KH, KW, C) as a (K, KH*KW*C) matrix, which costs K*C*KH*KW moves
# per call: nothing next to the columns.


@njit(**JIT)
def _zero_border(p, top, height, left, width):
    # Zero what lies around the [top, top+height) x [left, left+width) window of p (2-D, or
    # 3-D with a trailing channel axis): the padding of a padded copy, written once per copy.
    hp, wp = p.shape[0], p.shape[1]
    for h in range(top):
        p[h] = 0
    for h in range(top + height, hp):
        p[h] = 0
    for h in range(top, top + height):
        row = p[h]
        for w in range(left):
            row[w] = 0
        for w in range(left + width, wp):
            row[w] = 0


@njit(**JIT)
def _to_padded_nhwc(x, n, ph, pw, padded):
    _, channels, height, width = x.shape
    wp = padded.shape[1]
    if channels < 4:
        # A plane at a time, writes at a stride of C (fastest for one to three channels).
        flat = padded.reshape(-1)
        flat[:] = 0
        for c in range(channels):
            for h in range(height):
                base = ((h + ph) * wp + pw) * channels + c
                for w in range(width):
                    flat[base + w * channels] = x[n, c, h, w]
        return
    # Pixel by pixel, contiguous writes of C values; only the border is zeroed (3.4x faster
    # than the plane-at-a-time order for 16 channels at 32x32).
    _zero_border(padded, ph, height, pw, width)
    for h in range(height):
        row = padded[h + ph]
        src = x[n, :, h]
        for w in range(width):
            d = row[w + pw]
            for c in range(channels):
                d[c] = src[c, w]


@njit(**JIT)
def _rows_to_padded_nhwc(rows, n_img, oh, ow, qh, qw, padded):
    # A gradient in the (K, N*OH*OW) layout into padded (N, OH + 2QH, OW + 2QW, K), zeros
    # around: the input of the transposed convolution that gives the input gradient.
    k_n = rows.shape[0]
    plane = oh * ow
    for n in range(n_img):
        p = padded[n]
        _zero_border(p, qh, oh, qw, ow)
        for oy in range(oh):
            row = p[oy + qh]
            base = n * plane + oy * ow
            for ox in range(ow):
                d = row[ox + qw]
                for k in range(k_n):
                    d[k] = rows[k, base + ox]


@njit(**JIT)
def _rows_to_pixels(rows, out):
    # (K, m) into (m, Kpad) pixel-major, the columns beyond K zero.
    k_n, m = rows.shape
    width = out.shape[1]
    for p in range(m):
        o = out[p]
        for k in range(k_n):
            o[k] = rows[k, p]
        for k in range(k_n, width):
            o[k] = 0


@njit(**JIT)
def embed_plane(src, top, left, dst):
    """Plane ``src`` (H, W) into ``dst`` (HP, WP) at rows top.., columns left.., zeros
    around it."""
    height, width = src.shape
    _zero_border(dst, top, height, left, width)
    for h in range(height):
        row = dst[h + top]
        s = src[h]
        for w in range(width):
            row[w + left] = s[w]


@njit(**JIT)
def _pad_nchw_block(x, lo, hi, ph, pw, padded):
    # Images lo..hi of x (N, C, H, W) into padded (hi - lo, C, H + 2PH, W + 2PW), zeros around.
    for n in range(lo, hi):
        for c in range(x.shape[1]):
            embed_plane(x[n, c], ph, pw, padded[n - lo, c])


@njit(**JIT)
def _rows_to_padded_nchw(rows, n_img, oh, ow, qh, qw, padded):
    # A gradient in the (K, N*OH*OW) layout into padded (N, K, OH + 2QH, OW + 2QW).
    k_n = rows.shape[0]
    plane = oh * ow
    for n in range(n_img):
        for k in range(k_n):
            dst = padded[n, k]
            _zero_border(dst, qh, oh, qw, ow)
            for oy in range(oh):
                row = dst[oy + qh]
                src = rows[k, n * plane + oy * ow : n * plane + (oy + 1) * ow]
                for w in range(ow):
                    row[w + qw] = src[w]


@njit(**JIT)
def _phase_scatter(out, count, uh, uw, h0, w0, sh, sw, dx):
    # One phase of a strided convolution's input gradient: out (count*UH*UW, >= C) pixel-
    # major into dx[n, c, h0 + SH*u, w0 + SW*v] (N, C, H, W).
    channels = dx.shape[1]
    for n in range(count):
        for c in range(channels):  # plane by plane: the writes stay within one plane
            plane = dx[n, c]
            for u in range(uh):
                row = plane[h0 + sh * u]
                base = (n * uh + u) * uw
                for v in range(uw):
                    row[w0 + sw * v] = out[base + v, c]


@njit(**JIT)
def _pad_block(x, lo, hi, ph, pw, padded):
    # Images lo..hi of x (N, C, H, W) into padded (hi - lo, H + 2PH, W + 2PW, C), zeros around.
    for n in range(lo, hi):
        _to_padded_nhwc(x, n, ph, pw, padded[n - lo])


@njit(**JIT)
def _im2row(x, kh, kw, sh, sw, ph, pw, oh, ow, padded, rows):
    n_img, channels = x.shape[:2]
    wp = padded.shape[1]
    flat = padded.reshape(-1)
    out = rows.reshape(-1)
    ncols = rows.shape[1]
    plane = oh * ow
    run = kw * channels
    for n in range(n_img):
        _to_padded_nhwc(x, n, ph, pw, padded)
        for oy in range(oh):
            for ox in range(ow):
                dst = (n * plane + oy * ow + ox) * ncols
                for i in range(kh):
                    hy = oy * sh + i
                    # One contiguous run of KW*C values per kernel row, whatever the stride
                    # (the window's columns ox*SW .. ox*SW+KW-1 are adjacent in the scratch;
                    # copying KW runs of C values for a stride of 2 was 3-5x slower).
                    # Copies through views and an explicit loop: numba compiles that to a
                    # vectorised copy, while slice assignment costs several times more.
                    src = (hy * wp + ox * sw) * channels
                    d = out[dst : dst + run]
                    s = flat[src : src + run]
                    for t in range(run):
                        d[t] = s[t]
                    dst += run


def _padded_scratch(shape, padding, dtype, scratch):
    _, channels, height, width = shape
    need = (height + 2 * padding[0], width + 2 * padding[1], channels)
    if scratch is None or scratch.size < np.prod(need) or scratch.dtype != dtype:
        return np.empty(need, dtype)
    return scratch.reshape(-1)[: int(np.prod(need))].reshape(need)


def im2row(x, kernel, stride, padding, out=None, scratch=None):
    """Unfold ``x`` (N, C, H, W) into rows (N*OH*OW, KH*KW*C), zero padding outside.

    Row n*OH*OW + oy*OW + ox, column (i*KW + j)*C + c holds
    x[n, c, oy*SH + i - PH, ox*SW + j - PW] (0 in the padding): the transpose of
    :func:`im2col` with its patch vector reordered (kh, kw, c), which matches the weight
    reordered by :func:`weight_to_rows`. ``out``: optional C-contiguous array to fill;
    ``scratch``: optional array of at least (H+2PH)*(W+2PW)*C elements of ``x``'s dtype to use
    as the padded channels-last copy of one image.
    """
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    shape = (n_img * oh * ow, kh * kw * channels)
    rows = _output("im2row", out, shape, x.dtype)
    padded = _padded_scratch(x.shape, padding, x.dtype, scratch)
    _im2row(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, oh, ow, padded, rows)
    return rows


def im2row_naive(x, kernel, stride, padding):
    """Reference for :func:`im2row`: :func:`im2col_naive` transposed and reordered."""
    channels = x.shape[1]
    (kh, kw) = kernel
    cols = im2col_naive(x, kernel, stride, padding)
    total = cols.shape[1]
    return cols.reshape(channels, kh, kw, total).transpose(3, 1, 2, 0).reshape(total, -1)


@njit(**JIT)
def _row2im(rows, kh, kw, sh, sw, ph, pw, oh, ow, padded, dx):
    n_img, channels, height, width = dx.shape
    wp = padded.shape[1]
    flat = padded.reshape(-1)
    src_all = rows.reshape(-1)
    ncols = rows.shape[1]
    plane = oh * ow
    run = kw * channels
    for n in range(n_img):
        flat[:] = 0
        for oy in range(oh):
            for ox in range(ow):
                src = (n * plane + oy * ow + ox) * ncols
                for i in range(kh):
                    hy = oy * sh + i
                    # Views and an explicit loop, as in _im2row: ``a[x:y] += b[z:w]`` on
                    # slices builds a temporary array each time.
                    # One run of KW*C values per kernel row, whatever the stride (_im2row).
                    dst = (hy * wp + ox * sw) * channels
                    d = flat[dst : dst + run]
                    s = src_all[src : src + run]
                    for t in range(run):
                        d[t] += s[t]
                    src += run
        for c in range(channels):
            for h in range(height):
                base = ((h + ph) * wp + pw) * channels + c
                for w in range(width):
                    dx[n, c, h, w] = flat[base + w * channels]


def row2im(rows, input_shape, kernel, stride, padding, out=None, scratch=None):
    """Adjoint of :func:`im2row`: sum rows (N*OH*OW, KH*KW*C) back into (N, C, H, W).

    Entries that came from the padding are dropped. ``out``: optional C-contiguous array of
    ``input_shape`` and ``rows``'s dtype to overwrite; ``scratch`` as for :func:`im2row`.
    """
    height, width = input_shape[2], input_shape[3]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    input_shape = tuple(input_shape)
    dx = _output("row2im", out, input_shape, rows.dtype)
    padded = _padded_scratch(input_shape, padding, rows.dtype, scratch)
    _row2im(np.ascontiguousarray(rows), kh, kw, sh, sw, ph, pw, oh, ow, padded, dx)
    return dx


def row2im_naive(rows, input_shape, kernel, stride, padding):
    """Reference for :func:`row2im`: reorder to :func:`im2col`'s layout, then col2im_naive."""
    channels = input_shape[1]
    (kh, kw) = kernel
    total = rows.shape[0]
    cols = rows.reshape(total, kh, kw, channels).transpose(3, 1, 2, 0).reshape(-1, total)
    return col2im_naive(np.ascontiguousarray(cols), input_shape, kernel, stride, padding)


def weight_to_rows(weight):
    """PyTorch's weight (K, C, KH, KW) as the (K, KH*KW*C) matrix :func:`im2row` rows meet."""
    k_out = weight.shape[0]
    return np.ascontiguousarray(weight.transpose(0, 2, 3, 1)).reshape(k_out, -1)


def rows_to_weight(matrix, weight_shape):
    """Inverse of :func:`weight_to_rows`: (K, KH*KW*C) back to a new (K, C, KH, KW) array."""
    k_out, channels, kh, kw = weight_shape
    return np.ascontiguousarray(matrix.reshape(k_out, kh, kw, channels).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------
# Fused epilogues: bias + relu (+ max pooling) straight from a group's GEMM result, while it is
# in cache, and their gradients straight back into the GEMM layout. The arithmetic is exactly
# that of the separate layers (v = rows + b; relu as v if v > 0 else v*0; max pooling with the
# first maximum winning and NaN winning), so outputs and gradients are bit for bit the same.


@njit(**JIT)
def _bias_act_rows_to_nchw(rows, bias, code, slope, out):
    # ``slope`` comes in the arrays' dtype: a float64 scalar would widen float32 arithmetic.
    # One loop per activation, so each one vectorises (the code is the same for the call).
    n_img, _, plane = out.shape
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    half = one / (one + one)
    for n in range(n_img):
        act_planes(rows, n * plane, bias, code, slope, zero, one, half, out[n])


@njit(**JIT)
def act_planes(rows, base, bias, code, slope, zero, one, half, dst):
    """dst[k, p] = activation of rows[k, base + p] + bias[k] for dst (K, P): one pass per
    channel. ``rows`` is often the transpose of an (m, K) product; tiles of 64 pixels (with
    or without gathering them channel-major first) measured 1.3-3x slower than these plain
    strided passes (process time, one thread), so there are none."""
    k_out, plane = dst.shape
    if (code == ACT_TANH32 or code == ACT_SIGMOID32) and rows.strides[1] != rows.itemsize:
        # Strided rows and a rational approximation: bias + transpose first, then contiguous
        # in-place passes (one strided pass of tanh measured 7x slower than the two).
        for k in range(k_out):
            b = bias[k]
            src = rows[k, base : base + plane]
            d = dst[k]
            for p in range(plane):
                d[p] = src[p] + b
        for k in range(k_out):
            act_inplace(dst[k], code, slope, zero, one, half)
        return
    for k in range(k_out):
        act_run(rows[k, base : base + plane], bias[k], dst[k], code, slope, zero, one, half)


def bias_act_rows_to_nchw(rows, bias, n_img, relu, out=None, slope=0.0):
    """:func:`bias_rows_to_nchw` followed by an activation, in one pass: ``relu`` is True
    (relu), False/None (none), or a name ("leaky_relu" with ``slope``, "tanh", "sigmoid";
    see :func:`engine.kernels.activations.activation_code`)."""
    k_out, total = rows.shape
    shape = (n_img, k_out, total // n_img)
    out = _output("bias_act_rows_to_nchw", out, shape, rows.dtype)
    code = activation_code(relu, rows.dtype)
    _bias_act_rows_to_nchw(rows, bias, code, rows.dtype.type(slope), out)
    return out


def bias_act_rows_to_nchw_naive(rows, bias, n_img, relu, slope=0.0):
    """Reference for :func:`bias_act_rows_to_nchw`."""
    return act_value_naive(bias_rows_to_nchw_naive(rows, bias, n_img), relu, slope)


@njit(**JIT)
def _max_pool_2x2(act, width, out, argmax):
    # The common 2x2 / stride 2 window on a NaN-free plane, ``act`` (H*W,) flat, into
    # ``out`` and ``argmax`` (OH, OW): strict ">" in the order (0,0), (0,1), (1,0), (1,1)
    # keeps the first maximum. Written as selects over a pair of row views (no branches,
    # no 4-D indexing): 1.5x faster than the unrolled scan with if-statements.
    oh, ow = out.shape
    for oy in range(oh):
        r0 = 2 * oy * width
        top = act[r0 : r0 + width]
        bot = act[r0 + width : r0 + 2 * width]
        o = out[oy]
        a = argmax[oy]
        for ox in range(ow):
            a0 = top[2 * ox]
            a1 = top[2 * ox + 1]
            a2 = bot[2 * ox]
            a3 = bot[2 * ox + 1]
            best = a0
            i = 0
            t = a1 > best
            best = a1 if t else best
            i = 1 if t else i
            t = a2 > best
            best = a2 if t else best
            i = width if t else i
            t = a3 > best
            best = a3 if t else best
            i = width + 1 if t else i
            o[ox] = best
            a[ox] = r0 + 2 * ox + i


@njit(**JIT)
def _bias_act_max_pool(rows, bias, code, slope, width, kh, kw, sh, sw, plane, out, argmax):
    n_img, k_out, oh, ow = out.shape
    act = np.empty(plane, rows.dtype)
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    half = one / (one + one)
    for n in range(n_img):
        base = n * plane
        for k in range(k_out):
            # Pass 1, vectorised: bias and the activation into a scratch plane, noting NaN
            # (relu in the same loop: a second pass doubled this epilogue's time).
            b = bias[k]
            has_nan = False
            if code == 1:
                for p in range(plane):
                    v = rows[k, base + p] + b
                    v = v if v > zero else v * zero
                    act[p] = v
                    has_nan |= v != v
            else:
                act_run(rows[k, base : base + plane], b, act, code, slope, zero, one, half)
                for p in range(plane):
                    has_nan |= act[p] != act[p]
            # Pass 2: window maxima. Without NaN a strict ">" scan keeps the first maximum;
            # with one, the slower scan also lets the first NaN win (max_pool_forward's rule).
            if not has_nan and kh == 2 and kw == 2 and sh == 2 and sw == 2:
                _max_pool_2x2(act, width, out[n, k], argmax[n, k])
                continue
            for oy in range(oh):
                for ox in range(ow):
                    start = oy * sh * width + ox * sw
                    best = act[start]
                    idx = start
                    if not has_nan:
                        for i in range(kh):
                            for j in range(kw):
                                pos = start + i * width + j
                                v = act[pos]
                                take = v > best
                                best = v if take else best
                                idx = pos if take else idx
                    else:
                        for i in range(kh):
                            for j in range(kw):
                                pos = start + i * width + j
                                v = act[pos]
                                if v > best or (v != v and best == best):
                                    best = v
                                    idx = pos
                    out[n, k, oy, ox] = best
                    argmax[n, k, oy, ox] = idx


@njit(**JIT)
def _bias_act_max_pool_pixels(pixels, bias, code, slope, width, kh, kw, sh, sw, plane, out,
                              argmax):  # fmt: skip
    """:func:`_bias_act_max_pool` from a pixel-major product ``pixels`` (G*H*W, K' >= K),
    windows that do not overlap (kh <= sh, kw <= sw). A window's pixels are rows of filter
    values, so bias, activation and the running maximum are vector operations across the
    filters; reading the (K, m) transpose of that layout value by value at a stride of K'
    cost 1.4 ns a value (64 filters at 14x14: 1.14 ms of a 13 ms forward and backward).
    Same arithmetic, order and ties as the plane scan: a strict ">" keeps the first maximum
    in window order, and the first NaN wins."""
    n_img, k_out, oh, ow = out.shape
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    half = one / (one + one)
    best = np.empty(k_out, pixels.dtype)
    index = np.empty(k_out, np.int32)
    v = np.empty(k_out, pixels.dtype)
    for n in range(n_img):
        base = n * plane
        for oy in range(oh):
            for ox in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        pos = (oy * sh + i) * width + ox * sw + j
                        row = pixels[base + pos]
                        if code == 1:  # relu in the same loop, as the plane scan has it
                            for k in range(k_out):
                                t = row[k] + bias[k]
                                v[k] = t if t > zero else t * zero
                        else:
                            for k in range(k_out):
                                v[k] = row[k] + bias[k]
                            if code != 0:
                                act_inplace(v, code, slope, zero, one, half)
                        if i == 0 and j == 0:
                            for k in range(k_out):
                                best[k] = v[k]
                                index[k] = pos
                            continue
                        for k in range(k_out):
                            t = v[k]
                            b = best[k]
                            take = (t > b) | ((t != t) & (b == b))
                            best[k] = t if take else b
                            index[k] = pos if take else index[k]
                for k in range(k_out):
                    out[n, k, oy, ox] = best[k]
                    argmax[n, k, oy, ox] = index[k]


def pixel_rows(product) -> np.ndarray | None:
    """The C-contiguous pixel-major array (m, K') under a (K, m) product view whose columns
    are rows of it (a filter-lane or row-patch product), or None."""
    pixels = product.T
    if pixels.strides[1] != pixels.itemsize or pixels.strides[0] % pixels.itemsize:
        return None
    width = pixels.strides[0] // pixels.itemsize
    if width < pixels.shape[1]:
        return None
    return np.lib.stride_tricks.as_strided(pixels, (pixels.shape[0], width), pixels.strides)


def bias_act_max_pool(
    rows, bias, n_img, relu, size, pool_kernel, pool_stride, out, argmax, slope=0.0
):
    """Bias, an activation (``relu`` as for :func:`bias_act_rows_to_nchw`) and max pooling
    without padding, from a GEMM result in one pass.

    ``rows`` (K, N*H*W) is the convolution output before its bias; ``size`` is (H, W).
    Fills ``out`` (N, K, OH, OW) and ``argmax`` (N, K, OH, OW) int32 (flat in-plane index
    h*W + w of each maximum) exactly as conv bias, relu and
    :func:`engine.kernels.pool.max_pool_forward` would one after another.
    """
    height, width = size
    (kh, kw), (sh, sw) = pool_kernel, pool_stride
    oh, ow = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    shape = (n_img, rows.shape[0], oh, ow)
    if rows.shape[1] != n_img * height * width:
        raise ValueError(f"bias_act_max_pool: rows {rows.shape} do not hold {n_img} planes")
    for name, arr, dtype in (("out", out, rows.dtype), ("argmax", argmax, np.int32)):
        if arr.shape != shape or arr.dtype != dtype or not arr.flags.c_contiguous:
            raise ValueError(
                f"bias_act_max_pool: {name} must be C-contiguous {shape} {np.dtype(dtype)}, "
                f"got {arr.shape} {arr.dtype}"
            )
    code = activation_code(relu, rows.dtype)
    _bias_act_max_pool(
        rows, bias, code, rows.dtype.type(slope), width, kh, kw, sh, sw, height * width, out,
        argmax,
    )  # fmt: skip
    return out, argmax


def bias_act_max_pool_naive(rows, bias, n_img, relu, size, pool_kernel, pool_stride, slope=0.0):
    """Reference for :func:`bias_act_max_pool`: the three separate references in a row."""
    from engine.kernels.pool import max_pool_forward_naive

    y = bias_act_rows_to_nchw_naive(rows, bias, n_img, relu, slope)
    y = y.reshape(n_img, rows.shape[0], *size)
    return max_pool_forward_naive(y, pool_kernel, pool_stride, (0, 0))


@njit(**JIT)
def _act_grad_to_rows(dy, y, code, slope, rows):
    n_img, k_out, plane = dy.shape
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    for k in range(k_out):
        for n in range(n_img):
            dst = rows[k, n * plane : (n + 1) * plane]
            act_grad_run(dy[n, k], y[n, k], dst, code, slope, zero, one)


def act_grad_to_rows(dy, y, relu, out=None, slope=0.0):
    """Gradient through an activation (``relu`` as for :func:`bias_act_rows_to_nchw`; ``y``
    its output) moved to the GEMM layout: (N, K, P) -> (K, N*P), :func:`nchw_to_rows` fused
    with the activation's backward."""
    n_img, k_out, plane = dy.shape
    shape = (k_out, n_img * plane)
    rows = _output("act_grad_to_rows", out, shape, dy.dtype)
    code = activation_code(relu, dy.dtype)
    _act_grad_to_rows(np.ascontiguousarray(dy), np.ascontiguousarray(y), code,
                      dy.dtype.type(slope), rows)  # fmt: skip
    return rows


def act_grad_to_rows_naive(dy, y, relu, slope=0.0):
    """Reference for :func:`act_grad_to_rows`."""
    from engine.kernels.activations import act_slope_naive

    return nchw_to_rows_naive(dy * act_slope_naive(y, relu, slope))


@njit(**JIT)
def _max_pool_act_grad_to_rows(dy, pooled, argmax, code, slope, plane, rows, sums):
    # Also adds each row's sum (the bias gradient) to ``sums`` (K,), from the windows' values
    # rather than the longer rows (4x for a 2x2 pool): every window's gradient lands in one
    # row position, so both sums hold the same terms, added in another order (in float64:
    # equal after rounding to float32).
    # Relu backward at the winners (y there is the pooled value) multiplies by 1 or by 0,
    # taken from a two-entry table: a branch on random activations (or the select LLVM turns
    # back into one) mispredicted half the time and made this pass 4x slower. A position
    # that several overlapping windows pick gets the same factor from each, so the result is
    # that of zeroing the summed gradient.
    # Any other activation is monotonic, so its output at a window's winner is the pooled
    # value too, and its derivative there follows from it (act_slope).
    n_img, k_out, windows = dy.shape
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype (an int literal would widen)
    factor = np.empty(2, rows.dtype)
    factor[0] = slope if code == 2 else zero
    factor[1] = one
    for k in range(k_out):
        rows[k, :] = 0
        total = sums.dtype.type(0)
        for n in range(n_img):
            base = n * plane
            if code == 1:
                for q in range(windows):
                    m = factor[np.intp(pooled[n, k, q] > zero)]
                    g = dy[n, k, q]
                    pos = base + argmax[n, k, q]
                    rows[k, pos] = (rows[k, pos] + g) * m
                    total += g * m
            elif code == 2:  # a factor other than 0 or 1 must not compound on overlaps
                for q in range(windows):
                    m = factor[np.intp(pooled[n, k, q] > zero)]
                    g = dy[n, k, q] * m
                    rows[k, base + argmax[n, k, q]] += g
                    total += g
            elif code != 0:
                for q in range(windows):
                    g = dy[n, k, q] * act_slope(pooled[n, k, q], code, slope, zero, one)
                    rows[k, base + argmax[n, k, q]] += g
                    total += g
            else:
                for q in range(windows):
                    g = dy[n, k, q]
                    rows[k, base + argmax[n, k, q]] += g
                    total += g
        sums[k] += total


def max_pool_act_grad_to_rows(dy, pooled, argmax, relu, size, out=None, sums=None, slope=0.0):
    """Gradient of :func:`bias_act_max_pool` up to the GEMM result: max-pool backward, then
    relu backward (when ``relu``), moved to (K, N*H*W).

    ``dy``, ``pooled`` (the fused forward's output) and ``argmax``: (N, K, OH, OW); ``size``:
    the conv output's (H, W). Equals relu_backward(y, max_pool_backward(dy, argmax)) in the
    NCHW-to-rows layout, where y is the relu output (its value at each window's winner is the
    pooled value). ``sums`` (K,) float64, when given, gets each row's sum added (the bias
    gradient; see :func:`add_row_sums`), computed from the pooled gradient in the same pass.
    """
    n_img, k_out = dy.shape[:2]
    plane = size[0] * size[1]
    shape = (k_out, n_img * plane)
    rows = _output("max_pool_act_grad_to_rows", out, shape, dy.dtype)
    if sums is None:
        sums = np.zeros(k_out, np.float64)
    elif sums.shape != (k_out,) or sums.dtype != np.float64:
        raise ValueError(
            f"max_pool_act_grad_to_rows: sums must be float64 ({k_out},), "
            f"got {sums.shape} {sums.dtype}"
        )
    flat = (n_img, k_out, -1)
    _max_pool_act_grad_to_rows(
        np.ascontiguousarray(dy).reshape(flat),
        np.ascontiguousarray(pooled).reshape(flat),
        np.ascontiguousarray(argmax).reshape(flat),
        activation_code(relu, dy.dtype),
        dy.dtype.type(slope),
        plane,
        rows,
        sums,
    )
    return rows


def max_pool_act_grad_to_rows_naive(dy, pooled, argmax, relu, size, slope=0.0):
    """Reference for :func:`max_pool_act_grad_to_rows`: the separate references in a row."""
    from engine.kernels.activations import act_slope_naive
    from engine.kernels.pool import max_pool_backward_naive

    n_img, k_out = dy.shape[:2]
    g = max_pool_backward_naive(dy, argmax, (n_img, k_out, *size))
    if relu:
        # The activation's output at a winner is its pooled value (it is monotonic).
        factor = np.ones(g.shape, g.dtype).reshape(n_img * k_out, -1)
        rows_idx = np.repeat(np.arange(n_img * k_out), argmax[0, 0].size)
        factor[rows_idx, argmax.reshape(-1)] = act_slope_naive(pooled, relu, slope).reshape(-1)
        g = g * factor.reshape(g.shape)
    return nchw_to_rows_naive(g.reshape(n_img, k_out, -1))


@njit(**JIT)
def _add_row_sums(rows, acc):
    # Eight interleaved partial sums: one running sum would wait on every add's latency.
    k_out, total = rows.shape
    zero = acc.dtype.type(0)
    lanes = np.empty(8, acc.dtype)
    whole = total - total % 8
    for k in range(k_out):
        lanes[:] = zero
        for p in range(0, whole, 8):
            for q in range(8):
                lanes[q] += rows[k, p + q]
        tail = zero
        for p in range(whole, total):
            tail += rows[k, p]
        acc[k] += (
            ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            + tail
        )


def add_row_sums(rows, acc):
    """``acc[k] += sum(rows[k])`` for rows (K, M), summed in ``acc``'s dtype (pass float64 for
    a bias gradient: sequential float64 sums are more accurate than float32 pairwise ones).

    A numba kernel rather than ``rows.sum(axis=1)`` because numpy keeps the GIL for a
    reduction to so few outputs, which serialises the engine's worker threads.
    """
    if acc.shape != (rows.shape[0],) or not acc.flags.c_contiguous:
        raise ValueError(f"add_row_sums: acc must be contiguous ({rows.shape[0]},)")
    _add_row_sums(np.ascontiguousarray(rows), acc)
    return acc


def add_row_sums_naive(rows, acc):
    """Reference for :func:`add_row_sums`."""
    acc += rows.astype(acc.dtype).sum(axis=1)
    return acc
