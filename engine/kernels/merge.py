"""Kernels of the layers that merge branches: element-wise sum (residual add) and channel
concatenation, with their gradients.

Both are memory-bound: the fast versions make one pass over each input with numpy's
vectorised loops (an in-place running sum; one slice copy per input), which is what a
compiled loop would do too. ``*_naive`` are element-by-element references for the tests.
Arrays are NCHW (or (N, F) for a sum of vectors), any float dtype.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange

from engine.config import JIT_PARALLEL
from engine.kernels.activations import (
    act_grad_run,
    act_inplace,
    act_value_naive,
    activation_code,
)

__all__ = [
    "add_act_backward",
    "add_act_backward_naive",
    "add_act_forward",
    "add_act_forward_naive",
    "add_forward",
    "add_forward_naive",
    "concat_backward",
    "concat_backward_naive",
    "concat_forward",
    "concat_forward_naive",
]


def add_forward(xs):
    """The element-wise sum of two or more arrays of one shape, as a new array."""
    out = np.add(xs[0], xs[1])
    for x in xs[2:]:
        out += x
    return out


def add_forward_naive(xs):
    """Reference for :func:`add_forward`: element by element."""
    out = np.zeros_like(xs[0])
    flat = out.reshape(-1)
    for x in xs:
        for i, v in enumerate(np.asarray(x).reshape(-1)):
            flat[i] += v
    return out


#: Values per parallel block of the fused sum + activation.
_BLOCK = 8192


@njit(**JIT_PARALLEL)
def _sum_act(a, b, code, slope, out):
    zero = slope - slope
    one = zero + np.float32(1.0)
    half = one / (one + one)
    n = out.size
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, n)
        o, sa, sb = out[lo:hi], a[lo:hi], b[lo:hi]
        for t in range(hi - lo):
            o[t] = sa[t] + sb[t]
        act_inplace(o, code, slope, zero, one, half)


@njit(**JIT_PARALLEL)
def _act_grad(dy, y, code, slope, dx):
    zero = slope - slope
    one = zero + np.float32(1.0)
    n = dx.size
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, n)
        act_grad_run(dy[lo:hi], y[lo:hi], dx[lo:hi], code, slope, zero, one)


def add_act_forward(xs, act, slope=0.0):
    """The element-wise sum of two or more arrays of one shape followed by activation
    ``act`` ("relu", "leaky_relu" with ``slope``, "tanh", "sigmoid"), in one pass over the
    last two inputs (a residual block's add → relu). Returns a new array."""
    head = xs[0] if len(xs) == 2 else add_forward(xs[:-1])
    a = np.ascontiguousarray(head).reshape(-1)
    b = np.ascontiguousarray(xs[-1], dtype=a.dtype).reshape(-1)
    out = np.empty(a.size, a.dtype)
    _sum_act(a, b, activation_code(act, a.dtype), a.dtype.type(slope), out)
    return out.reshape(np.shape(xs[0]))


def add_act_forward_naive(xs, act, slope=0.0):
    """Reference for :func:`add_act_forward`."""
    return act_value_naive(add_forward_naive(xs), act, slope)


def add_act_backward(dy, y, act, slope=0.0):
    """The gradient that :func:`add_act_forward` sends to each input: dy times the
    activation's derivative at its output ``y``."""
    g = np.ascontiguousarray(dy).reshape(-1)
    dx = np.empty(g.size, g.dtype)
    yf = np.ascontiguousarray(y, dtype=g.dtype).reshape(-1)
    _act_grad(g, yf, activation_code(act, g.dtype), g.dtype.type(slope), dx)
    return dx.reshape(np.shape(dy))


def add_act_backward_naive(dy, y, act, slope=0.0):
    """Reference for :func:`add_act_backward`."""
    from engine.kernels.activations import act_slope_naive

    return dy * act_slope_naive(y, act, slope)


def concat_forward(xs):
    """(N, C1, H, W), (N, C2, H, W), ... -> (N, C1 + C2 + ..., H, W), in input order."""
    return np.concatenate(xs, axis=1)


def concat_forward_naive(xs):
    """Reference for :func:`concat_forward`: channel by channel."""
    n, _, h, w = xs[0].shape
    out = np.empty((n, sum(x.shape[1] for x in xs), h, w), xs[0].dtype)
    c = 0
    for x in xs:
        for k in range(x.shape[1]):
            out[:, c] = x[:, k]
            c += 1
    return out


def concat_backward(dy, channels):
    """The output gradient (N, ΣC, H, W) cut back into one contiguous array per input, whose
    channel counts are ``channels``."""
    edges = np.cumsum((0, *channels))
    return [np.ascontiguousarray(dy[:, lo:hi]) for lo, hi in itertools.pairwise(edges)]


def concat_backward_naive(dy, channels):
    """Reference for :func:`concat_backward`: channel by channel."""
    out, c = [], 0
    for k in channels:
        part = np.empty((dy.shape[0], k, *dy.shape[2:]), dy.dtype)
        for j in range(k):
            part[:, j] = dy[:, c]
            c += 1
        out.append(part)
    return out
