"""Fused convolution epilogues: bias + activation (+ max pooling) straight from a group's
product while it is in cache, and their gradients straight back into the product's layout.

The arithmetic is exactly that of the separate layers (v = rows + b; the activation of
:func:`engine.kernels.activations.act_value`; max pooling with the first maximum winning and
NaN winning), so outputs and gradients are bit for bit those of conv, activation and max pool
one after another. The average-pool epilogue is :mod:`engine.kernels.epilogue`; the patches
and the plain bias epilogue (:func:`engine.kernels.conv.bias_rows_to_nchw`) are
:mod:`engine.kernels.conv`.

Layouts: ``rows`` (K, G*H*W) is a group's product before its bias (it may be a transposed
view, see :func:`pixel_rows`); outputs are (G, K, OH, OW) float32 or float64 (the gradient
checks). Each fast kernel has its numpy reference ``*_naive`` beside it.
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
from engine.kernels.conv import (
    _output,
    bias_rows_to_nchw_naive,
    nchw_to_rows_naive,
)
from engine.kernels.geometry import output_size

__all__ = [
    "act_grad_to_rows",
    "act_grad_to_rows_naive",
    "act_planes",
    "bias_act_max_pool",
    "bias_act_max_pool_naive",
    "bias_act_rows_to_nchw",
    "bias_act_rows_to_nchw_naive",
    "max_pool_act_grad_to_rows",
    "max_pool_act_grad_to_rows_naive",
    "pixel_rows",
]


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
