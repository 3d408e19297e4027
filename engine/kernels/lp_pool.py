"""Power-average (Lp) pooling kernels, PyTorch's ``LPPool2d``: y = (Σ_window x^p)^(1/p).

p = 1 is sum pooling, p = 2 the L2-norm pooling; a large p approaches max pooling of |x|.
No padding, output size floor((H − KH) / SH) + 1 (PyTorch's LPPool2d has neither padding
nor ceil mode here). As in PyTorch, x^p of a negative x with a fractional p is NaN, and a
negative window sum with an odd p gives NaN for p > 1.

Gradient: dy/dx = x^(p−1) · y^(1−p) (for p = 1: 1). Where y = 0 (an all-zero window) the
gradient is taken as 0, the limit from inside the window, where PyTorch would give NaN.

Arrays are NCHW, any float dtype; parallel loops over (n, c) planes, so threads never share
a gradient element. ``*_naive`` are the plain references the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT_PARALLEL
from engine.kernels.geometry import output_size

__all__ = [
    "lp_pool_backward",
    "lp_pool_backward_naive",
    "lp_pool_forward",
    "lp_pool_forward_naive",
]


@njit(**JIT_PARALLEL)
def _lp_pool_forward(x, p, kh, kw, sh, sw, y):
    n_img, channels = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    inv = 1 / p
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        for oy in range(oh):
            for ox in range(ow):
                total = x[n, c, 0, 0] * 0
                for i in range(kh):
                    for j in range(kw):
                        v = x[n, c, oy * sh + i, ox * sw + j]
                        if p == 1:
                            total += v
                        elif p == 2:
                            total += v * v
                        else:
                            total += v**p
                if p == 1:
                    y[n, c, oy, ox] = total
                elif p == 2:
                    y[n, c, oy, ox] = np.sqrt(total)
                else:
                    y[n, c, oy, ox] = total**inv


def _geometry(shape, kernel, stride):
    (kh, kw), (sh, sw) = kernel, stride
    return output_size(shape[2], kh, sh, 0), output_size(shape[3], kw, sw, 0)


def lp_pool_forward(x, p, kernel, stride):
    """Lp-pool ``x`` (N, C, H, W) into (N, C, OH, OW) with norm ``p`` (a float ≥ 1)."""
    oh, ow = _geometry(x.shape, kernel, stride)
    y = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype)
    _lp_pool_forward(np.ascontiguousarray(x), x.dtype.type(p), *kernel, *stride, y)
    return y


def lp_pool_forward_naive(x, p, kernel, stride):
    """Reference for :func:`lp_pool_forward`: each window summed with numpy."""
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = _geometry(x.shape, kernel, stride)
    y = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype)
    for oy in range(oh):
        for ox in range(ow):
            window = x[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
            y[:, :, oy, ox] = (window**p).sum(axis=(2, 3)) ** (1 / p)
    return y


@njit(**JIT_PARALLEL)
def _lp_pool_backward(x, y, dy, p, kh, kw, sh, sw, dx):
    n_img, channels = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        dx[n, c] = 0
        for oy in range(oh):
            for ox in range(ow):
                g = dy[n, c, oy, ox]
                if p != 1:
                    out = y[n, c, oy, ox]
                    if out == 0:
                        continue
                    g = g / out ** (p - 1)
                for i in range(kh):
                    for j in range(kw):
                        hy, wx = oy * sh + i, ox * sw + j
                        if p == 1:
                            dx[n, c, hy, wx] += g
                        elif p == 2:
                            dx[n, c, hy, wx] += g * x[n, c, hy, wx]
                        else:
                            dx[n, c, hy, wx] += g * x[n, c, hy, wx] ** (p - 1)


def lp_pool_backward(x, y, dy, p, kernel, stride):
    """Gradient of :func:`lp_pool_forward` with respect to ``x``, given its output ``y`` and
    the output gradient ``dy`` (N, C, OH, OW)."""
    dx = np.empty(x.shape, dtype=dy.dtype)
    _lp_pool_backward(
        np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(dy),
        dy.dtype.type(p), *kernel, *stride, dx,
    )  # fmt: skip
    return dx


def lp_pool_backward_naive(x, y, dy, p, kernel, stride):
    """Reference for :func:`lp_pool_backward`: the chain rule, window by window."""
    (kh, kw), (sh, sw) = kernel, stride
    dx = np.zeros(x.shape, dtype=dy.dtype)
    for oy in range(dy.shape[2]):
        for ox in range(dy.shape[3]):
            window = x[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
            out = y[:, :, oy, ox][:, :, None, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(out == 0, 0, window ** (p - 1) / out ** (p - 1))
            dx[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw] += (
                share * dy[:, :, oy, ox][:, :, None, None]
            )
    return dx
