"""Pooling kernels: max pooling with recorded argmax, average pooling (count_include_pad).

Arrays are NCHW. Windows are (KH, KW) with stride (SH, SW) and zero/negative-infinity padding
(PH, PW), output size floor((H + 2*PH - KH) / SH) + 1 as in PyTorch with ceil_mode=False.

- Max pooling treats the padding as -inf (it never wins) and records, for every output,
  the flat index hy*W + wx of the winning input inside its (H, W) plane; the backward pass
  routes each output gradient to that index. Ties go to the first element in row-major
  window order and NaN wins, as in PyTorch.
- Average pooling divides by KH*KW, padded positions included (PyTorch's default
  count_include_pad=True).

Parallel loops run over (n, c) planes: every thread reads and writes whole planes of its own,
so overlapping windows never race on one gradient element. Every kernel works for any float
dtype; ``*_naive`` functions are the plain references the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT, JIT_PARALLEL
from engine.kernels.geometry import output_size

__all__ = [
    "avg_pool_backward",
    "avg_pool_backward_naive",
    "avg_pool_forward",
    "avg_pool_forward_naive",
    "max_pool_backward",
    "max_pool_backward_naive",
    "max_pool_forward",
    "max_pool_forward_naive",
]


@njit(**JIT_PARALLEL)
def _max_pool_forward(x, kh, kw, sh, sw, ph, pw, y, argmax):
    # Padded windows: each window's rows and columns are clipped to the plane once, so the
    # scan itself has no bounds tests (a test per element ran 5x slower). Same order and NaN
    # rule as _max_pool_forward_inside.
    n_img, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    planes = n_img * channels
    xf = x.reshape(planes, height * width)
    yf = y.reshape(planes, oh * ow)
    af = argmax.reshape(planes, oh * ow)
    for p in prange(planes):
        for oy in range(oh):
            y0 = oy * sh - ph
            i_lo = max(0, -y0)
            i_hi = min(kh, height - y0)
            for ox in range(ow):
                x0 = ox * sw - pw
                j_lo = max(0, -x0)
                j_hi = min(kw, width - x0)
                q = oy * ow + ox
                if i_lo >= i_hi or j_lo >= j_hi:  # a window wholly in the padding
                    yf[p, q] = 0
                    af[p, q] = -1
                    continue
                start = (y0 + i_lo) * width + x0 + j_lo
                best = xf[p, start]
                idx = start
                for i in range(i_lo, i_hi):
                    if best != best:  # the first NaN wins its window
                        break
                    row = (y0 + i) * width + x0
                    for j in range(j_lo, j_hi):
                        v = xf[p, row + j]
                        if v > best or v != v:
                            best = v
                            idx = row + j
                            if v != v:
                                break
                yf[p, q] = best
                af[p, q] = idx


@njit(**JIT_PARALLEL)
def _max_pool_forward_inside(x, kh, kw, sh, sw, y, argmax):
    # No padding: every window lies inside the plane, so the loops need no bounds tests.
    n_img, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    planes = n_img * channels
    xf = x.reshape(planes, height * width)
    yf = y.reshape(planes, oh * ow)
    af = argmax.reshape(planes, oh * ow)
    for p in prange(planes):
        for oy in range(oh):
            for ox in range(ow):
                start = oy * sh * width + ox * sw
                best = xf[p, start]
                idx = start
                for i in range(kh):
                    if best != best:  # the first NaN wins its window
                        break
                    row = start + i * width
                    for j in range(kw):
                        v = xf[p, row + j]
                        if v > best or v != v:
                            best = v
                            idx = row + j
                            if v != v:
                                break
                yf[p, oy * ow + ox] = best
                af[p, oy * ow + ox] = idx


@njit(**JIT)
def _max_2x2(src, width, out, argmax):
    # 2x2 windows at stride 2 of one plane: src (H*W,) flat into out and argmax (OH, OW)
    # (flat in-plane indices), max_pool_forward's rule: in the window's order (0,0), (0,1),
    # (1,0), (1,1) a value is taken when it is greater than the best so far, or when it is
    # the window's first NaN (which then stays).
    # Selects over a pair of row views, which vectorise across the row: 64x32x32x32 on one
    # thread 3.6 -> 0.6 ms against the window scan, and no slower on LeNet's small planes.
    # In a 2x2 window the second value beats the first half the time, so the scan's branches
    # were mispredicted that often; in larger windows the running maximum soon settles and
    # the branches predict well (selects there: 3x3 at stride 2, 6.8 -> 15.9 ms), so they
    # keep the scan. (The conv epilogue's own 2x2 pass, on one NaN-free plane per call,
    # stays scalar: this one, called plane by plane from there, was slower on 28x28.)
    oh, ow = out.shape
    flat_out = out.reshape(oh * ow)
    flat_arg = argmax.reshape(oh * ow)
    for oy in range(oh):
        top = 2 * oy * width
        upper = src[top : top + 2 * ow]
        lower = src[top + width : top + width + 2 * ow]
        o = flat_out[oy * ow : (oy + 1) * ow]
        arg = flat_arg[oy * ow : (oy + 1) * ow]
        for ox in range(ow):
            a, b = upper[2 * ox], upper[2 * ox + 1]
            c, d = lower[2 * ox], lower[2 * ox + 1]
            # int32 indices: with int64 ones beside the float32 values the loop does not
            # vectorise (5.7 ms).
            i = np.int32(top + 2 * ox)
            take = (b > a) | ((b != b) & (a == a))
            best = b if take else a
            idx = i + np.int32(1) if take else i
            take = (c > best) | ((c != c) & (best == best))
            best = c if take else best
            idx = i + np.int32(width) if take else idx
            take = (d > best) | ((d != d) & (best == best))
            best = d if take else best
            idx = i + np.int32(width + 1) if take else idx
            o[ox] = best
            arg[ox] = idx


@njit(**JIT_PARALLEL)
def _max_pool_forward_2x2(x, y, argmax):
    # The common 2x2 window at stride 2 without padding: _max_2x2 on every plane.
    n_img, channels, height, width = x.shape
    planes = n_img * channels
    xf = x.reshape(planes, height * width)
    yf = y.reshape(planes, y.shape[2], y.shape[3])
    af = argmax.reshape(planes, y.shape[2], y.shape[3])
    for p in prange(planes):
        _max_2x2(xf[p], width, yf[p], af[p])


def max_pool_forward(x, kernel, stride, padding):
    """Max-pool ``x`` (N, C, H, W).

    Returns ``(y, argmax)``: y (N, C, OH, OW) with ``x``'s dtype, and argmax (N, C, OH, OW)
    int32 holding the flat in-plane index hy*W + wx of each maximum (-1 for a window that
    lies wholly in the padding, whose output is 0).
    """
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    y = np.empty((n_img, channels, oh, ow), dtype=x.dtype)
    argmax = np.empty((n_img, channels, oh, ow), dtype=np.int32)
    if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):
        _max_pool_forward_2x2(np.ascontiguousarray(x), y, argmax)
    elif ph == 0 and pw == 0:
        _max_pool_forward_inside(np.ascontiguousarray(x), kh, kw, sh, sw, y, argmax)
    else:
        _max_pool_forward(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, y, argmax)
    return y, argmax


def max_pool_forward_naive(x, kernel, stride, padding):
    """Reference for :func:`max_pool_forward`: pad with -inf, take max/argmax per window."""
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    y = np.empty((n_img, channels, oh, ow), dtype=x.dtype)
    argmax = np.empty((n_img, channels, oh, ow), dtype=np.int32)
    for oy in range(oh):
        for ox in range(ow):
            window = padded[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
            flat = window.reshape(n_img, channels, kh * kw)
            best = flat.argmax(axis=2)
            y[:, :, oy, ox] = np.take_along_axis(flat, best[..., None], axis=2)[..., 0]
            hy = oy * sh - ph + best // kw
            wx = ox * sw - pw + best % kw
            argmax[:, :, oy, ox] = hy * width + wx
    return y, argmax


@njit(**JIT_PARALLEL)
def _max_pool_backward(dy, argmax, dx):
    # argmax holds flat in-plane indices: the planes are indexed flat too (a division and a
    # remainder per window to split the index cost more than the rest of the pass).
    n_img, channels, height, width = dx.shape
    planes = n_img * channels
    windows = dy.shape[2] * dy.shape[3]
    dxf = dx.reshape(planes, height * width)
    dyf = dy.reshape(planes, windows)
    af = argmax.reshape(planes, windows)
    for p in prange(planes):
        plane = dxf[p]
        plane[:] = 0
        grad = dyf[p]
        arg = af[p]
        for q in range(windows):
            idx = arg[q]
            if idx >= 0:
                plane[idx] += grad[q]


def max_pool_backward(dy, argmax, input_shape):
    """Gradient of max pooling: route ``dy`` (N, C, OH, OW) to the recorded argmax positions.

    Returns dx with shape ``input_shape`` (N, C, H, W) and ``dy``'s dtype; overlapping windows
    that share a maximum add their gradients.
    """
    dx = np.empty(input_shape, dtype=dy.dtype)
    _max_pool_backward(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), dx)
    return dx


def max_pool_backward_naive(dy, argmax, input_shape):
    """Reference for :func:`max_pool_backward` using ``np.add.at`` on flattened planes."""
    n_img, channels, height, width = input_shape
    dx = np.zeros((n_img * channels, height * width), dtype=dy.dtype)
    rows = np.repeat(np.arange(n_img * channels), dy.shape[2] * dy.shape[3])
    np.add.at(dx, (rows, argmax.reshape(-1)), dy.reshape(-1))
    return dx.reshape(input_shape)


@njit(**JIT)
def avg_2x2(src, width, area, dst):
    """The 2x2 stride-2 unpadded average pool of one plane, ``src`` 1-D (H*W) into ``dst``
    (OH, OW): the common case written out, so the compiler vectorises it (the general
    window loop, its bounds unknown, ran scalar: 4-7x slower, LeNet-5's pool costing more
    than its convolution)."""
    oh, ow = dst.shape
    for oy in range(oh):
        r0 = src[2 * oy * width : 2 * oy * width + 2 * ow]
        r1 = src[(2 * oy + 1) * width : (2 * oy + 1) * width + 2 * ow]
        d = dst[oy]
        for ox in range(ow):
            d[ox] = ((r0[2 * ox] + r0[2 * ox + 1]) + (r1[2 * ox] + r1[2 * ox + 1])) / area


@njit(**JIT)
def spread_2x2(g, width, area, dst):
    """The gradient of :func:`avg_2x2`: ``dst`` 1-D (H*W) gets g[oy, ox] / area at each
    input of window (oy, ox), and 0 at the rows and columns no window covers."""
    oh, ow = g.shape
    height = dst.shape[0] // width
    zero = area - area
    for oy in range(oh):
        r0 = dst[2 * oy * width : (2 * oy + 1) * width]
        r1 = dst[(2 * oy + 1) * width : (2 * oy + 2) * width]
        row = g[oy]
        for ox in range(ow):
            share = row[ox] / area
            r0[2 * ox] = share
            r0[2 * ox + 1] = share
            r1[2 * ox] = share
            r1[2 * ox + 1] = share
        for x in range(2 * ow, width):
            r0[x] = zero
            r1[x] = zero
    for x in range(2 * oh * width, height * width):
        dst[x] = zero


@njit(**JIT_PARALLEL)
def _avg_pool_forward(x, kh, kw, sh, sw, ph, pw, area, y):
    n_img, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    pairs = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        if pairs:
            avg_2x2(x[n, c].reshape(-1), width, area, y[n, c])
            continue
        for oy in range(oh):
            y0 = oy * sh - ph
            for ox in range(ow):
                x0 = ox * sw - pw
                total = x[n, c, 0, 0] * 0
                for i in range(max(0, -y0), min(kh, height - y0)):
                    for j in range(max(0, -x0), min(kw, width - x0)):
                        total += x[n, c, y0 + i, x0 + j]
                y[n, c, oy, ox] = total / area


def avg_pool_forward(x, kernel, stride, padding):
    """Average-pool ``x`` (N, C, H, W) into (N, C, OH, OW), dividing every window by KH*KW."""
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    y = np.empty((n_img, channels, oh, ow), dtype=x.dtype)
    # The divisor is passed in x's dtype so float32 code never widens to float64.
    area = x.dtype.type(kh * kw)
    _avg_pool_forward(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, area, y)
    return y


def avg_pool_forward_naive(x, kernel, stride, padding):
    """Reference for :func:`avg_pool_forward`: zero-pad, then mean of each full window."""
    n_img, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.empty((n_img, channels, oh, ow), dtype=x.dtype)
    for oy in range(oh):
        for ox in range(ow):
            window = padded[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
            y[:, :, oy, ox] = window.sum(axis=(2, 3)) / (kh * kw)
    return y


@njit(**JIT_PARALLEL)
def _avg_pool_backward(dy, kh, kw, sh, sw, ph, pw, area, dx):
    n_img, channels, height, width = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    pairs = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        if pairs:
            spread_2x2(dy[n, c], width, area, dx[n, c].reshape(-1))
            continue
        dx[n, c] = 0
        for oy in range(oh):
            y0 = oy * sh - ph
            for ox in range(ow):
                x0 = ox * sw - pw
                g = dy[n, c, oy, ox] / area
                for i in range(max(0, -y0), min(kh, height - y0)):
                    for j in range(max(0, -x0), min(kw, width - x0)):
                        dx[n, c, y0 + i, x0 + j] += g


def avg_pool_backward(dy, input_shape, kernel, stride, padding):
    """Gradient of :func:`avg_pool_forward`: spread dy/(KH*KW) over each window's inputs."""
    dx = np.empty(input_shape, dtype=dy.dtype)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    area = dy.dtype.type(kh * kw)
    _avg_pool_backward(np.ascontiguousarray(dy), kh, kw, sh, sw, ph, pw, area, dx)
    return dx


def avg_pool_backward_naive(dy, input_shape, kernel, stride, padding):
    """Reference for :func:`avg_pool_backward`: add into a zero-padded array, then crop."""
    n_img, channels, height, width = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.zeros((n_img, channels, height + 2 * ph, width + 2 * pw), dtype=dy.dtype)
    share = dy / (kh * kw)
    for oy in range(dy.shape[2]):
        for ox in range(dy.shape[3]):
            window = padded[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
            window += share[:, :, oy, ox][:, :, None, None]
    return padded[:, :, ph : ph + height, pw : pw + width].copy()
