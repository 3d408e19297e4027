"""Convolution kernels: im2col / col2im, im2row / row2im, and the plain bias and layout
moves around the GEMM (the fused bias + activation + max-pool epilogues and their gradients
are :mod:`engine.kernels.conv_epilogue`).

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
from engine.kernels.geometry import output_size

__all__ = [
    "add_row_sums",
    "add_row_sums_naive",
    "bias_rows_to_nchw",
    "bias_rows_to_nchw_naive",
    "col2im",
    "col2im_naive",
    "im2col",
    "im2col_naive",
    "im2row",
    "im2row_naive",
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
