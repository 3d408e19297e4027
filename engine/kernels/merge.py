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

__all__ = [
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
