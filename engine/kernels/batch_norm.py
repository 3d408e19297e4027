"""Batch normalisation kernels: statistics, normalisation and gradients in one or two passes
per channel, parallel over channels.

Arrays are (N, C, L): a conv output (N, C, H, W) seen with L = H·W, or a dense output (N, F)
seen with L = 1. Sums are accumulated in float64 whatever the array's dtype, so float32
statistics over a large batch stay exact to float32 precision. Each thread owns whole
channels, so no two threads ever add into one value.

- ``train_forward``: batch mean and biased variance per channel, y = (x − mean)·invstd·γ + β;
- ``train_backward``: dγ = Σ dy·x̂, dβ = Σ dy and, optionally,
  dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)) (the batch statistics depend on x);
- ``affine``: evaluation, y = x·scale + shift per channel (running statistics folded in);
- ``affine_backward``: evaluation-mode gradients (the statistics are constants).

Each may apply an activation after the normalisation (``act``: None, "relu", "leaky_relu"
with ``slope``, "tanh", "sigmoid"), so batch norm → activation is one pass each way: the
forward writes the activation's output, and the backward multiplies the incoming gradient by
the activation's derivative (from that output ``y``) where it reads it.

``*_naive`` are the plain numpy references the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT, JIT_PARALLEL
from engine.kernels.activations import (
    act_inplace,
    act_slope,
    act_value_naive,
    activation_code,
)

__all__ = [
    "affine",
    "affine_backward",
    "affine_backward_naive",
    "affine_naive",
    "train_backward",
    "train_backward_naive",
    "train_forward",
    "train_forward_naive",
]


@njit(**JIT)
def _act_inplace(v, code, slope):
    zero = slope - slope
    one = zero + np.float32(1.0)
    act_inplace(v, code, slope, zero, one, one / (one + one))


#: Options for the row reductions: a float64 sum is a chain of dependent adds that the
#: compiler may not reorder without leave to reassociate, so without it every reduction ran
#: one scalar add at a time (eight scalar partial sums or a 16-lane array of them did not
#: change that: the compiler cannot prove the array apart from the data). Reassociation of
#: float64 sums of float32 values only changes float64 rounding; nothing else is relaxed.
#: The moments of a 64x16x32x32 batch: 1.08 -> 0.22 ms in cache, 1.51 -> 0.56 ms cold.
REDUCE = {**JIT, "fastmath": {"reassoc"}}


@njit(**REDUCE)
def sum_row(v):
    """Σ v[i] in float64 over a 1-D view."""
    total = np.float64(0.0)
    for i in range(v.shape[0]):
        total += np.float64(v[i])
    return total


@njit(**REDUCE)
def _moments_row(v, shift):
    """(Σ d, Σ d²) with d = v[i] − shift, in float64 over a 1-D view."""
    total = np.float64(0.0)
    squares = np.float64(0.0)
    for i in range(v.shape[0]):
        d = np.float64(v[i]) - shift
        total += d
        squares += d * d
    return total, squares


@njit(**JIT_PARALLEL)
def _train_forward(x, gamma, beta, eps, code, slope, y, mean_out, var_out, invstd_out):
    n_img, channels, length = x.shape
    count = n_img * length
    for c in prange(channels):
        # One pass for both moments, about a shift inside the data (the channel's first
        # value): var = E[d²] - E[d]² in float64 then loses nothing a float32 input holds,
        # and the channel is read twice, not three times (it rarely fits in cache).
        shift = np.float64(x[0, c, 0])
        total = np.float64(0.0)
        squares = np.float64(0.0)
        for n in range(n_img):
            a, q = _moments_row(x[n, c], shift)
            total += a
            squares += q
        offset = total / count
        mean = shift + offset
        var = max(squares / count - offset * offset, 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        scale = gamma[c] * invstd
        shift = beta[c] - mean * scale
        # The normalisation in the array's dtype (float32 stays float32, as in PyTorch): the
        # float64 coefficients pass through a one-element array of that dtype.
        cast = np.empty(2, x.dtype)
        cast[0] = scale
        cast[1] = shift
        a, b = cast[0], cast[1]
        for n in range(n_img):
            src = x[n, c]
            dst = y[n, c]
            for i in range(length):
                dst[i] = src[i] * a + b
            if code != 0:
                _act_inplace(dst, code, slope)
        mean_out[c] = mean
        var_out[c] = var
        invstd_out[c] = invstd


def train_forward(x, gamma, beta, eps, act=None, slope=0.0):
    """Training-mode batch norm of ``x`` (N, C, L), then activation ``act``. Returns y (x's
    dtype) and float64 (C,) arrays mean, biased variance and 1/sqrt(var + eps)."""
    channels = x.shape[1]
    y = np.empty_like(x)
    mean, var, invstd = (np.empty(channels, np.float64) for _ in range(3))
    _train_forward(np.ascontiguousarray(x), gamma.astype(np.float64), beta.astype(np.float64),
                   float(eps), activation_code(act, x.dtype), x.dtype.type(slope), y, mean,
                   var, invstd)  # fmt: skip
    return y, mean, var, invstd


def train_forward_naive(x, gamma, beta, eps, act=None, slope=0.0):
    """Reference for :func:`train_forward`, with numpy reductions."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    var = ((x - mean[None, :, None]) ** 2).mean(axis=(0, 2), dtype=np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean[None, :, None]) * (invstd * gamma)[None, :, None] + beta[None, :, None]
    return act_value_naive(y.astype(x.dtype), act, slope), mean, var, invstd


@njit(**REDUCE)
def _grad_row_sums(d, yv, xv, g, mean, code, slope, zero, one, store):
    """The gradient reaching the normalisation along one 1-D row, g = d times the derivative
    of activation ``code`` at its output ``yv`` (``yv`` unread without one), written into
    ``g`` when ``store``; returns (Σ g, Σ g·(x − mean)) in float64. One loop reads each
    array once: a separate activation pass and a sum over what it wrote ran 2.2x slower."""
    n = d.shape[0]
    total = np.float64(0.0)
    dot = np.float64(0.0)
    if code == 0 and not store:
        for i in range(n):
            gi = np.float64(d[i])
            total += gi
            dot += gi * (np.float64(xv[i]) - mean)
    elif code == 0:
        for i in range(n):
            gv = d[i] * one  # not a plain copy: that became a memcpy call beside the sums
            g[i] = gv
            gi = np.float64(gv)
            total += gi
            dot += gi * (np.float64(xv[i]) - mean)
    elif store:
        for i in range(n):
            gv = d[i] * act_slope(yv[i], code, slope, zero, one)
            g[i] = gv
            gi = np.float64(gv)
            total += gi
            dot += gi * (np.float64(xv[i]) - mean)
    else:
        for i in range(n):
            gi = np.float64(d[i] * act_slope(yv[i], code, slope, zero, one))
            total += gi
            dot += gi * (np.float64(xv[i]) - mean)
    return total, dot


@njit(**JIT_PARALLEL)
def _train_backward(x, dy, mean, invstd, gamma, y, code, slope, dx, dgamma, dbeta, need_dx):
    # With an activation, the gradient reaching the normalisation is dy times its derivative
    # at y (the activation's output). With dx wanted, g is written into dx as it is summed
    # (also without an activation: the dx pass then reads and writes one array while the
    # channel is in cache, 1.4 -> 0.9 ms on 64x16x32x32); the dx pass rewrites it in place.
    n_img, channels, length = x.shape
    count = n_img * length
    zero = slope - slope
    one = zero + np.float32(1.0)
    store = need_dx
    for c in prange(channels):
        s_dy = np.float64(0.0)
        s_dyx = np.float64(0.0)
        m = mean[c]
        inv = invstd[c]
        for n in range(n_img):
            yv = y[n, c] if code != 0 else y[0, 0]
            g = dx[n, c] if store else dx[0, 0]
            a, q = _grad_row_sums(dy[n, c], yv, x[n, c], g, m, code, slope, zero, one, store)
            s_dy += a
            s_dyx += q
        s_dyx *= inv
        dgamma[c] = s_dyx
        dbeta[c] = s_dy
        if need_dx:
            k = gamma[c] * inv
            mean_dy = s_dy / count
            mean_dyx = s_dyx / count
            # dx = k·(g − mean_dy − (x − m)·inv·mean_dyx) = g·k + x·a + b, in x's dtype.
            cast = np.empty(3, x.dtype)  # the coefficients in x's dtype (see the forward)
            cast[0] = k
            cast[1] = -k * inv * mean_dyx
            cast[2] = k * (m * inv * mean_dyx - mean_dy)
            kk, a, b = cast[0], cast[1], cast[2]
            for n in range(n_img):
                src = x[n, c]
                dst = dx[n, c]
                for i in range(length):  # g is in dst already: one array read and written
                    dst[i] = dst[i] * kk + src[i] * a + b


def _act_args(x, y, act, slope):
    """(y or a dummy, code, slope) in x's dtype for the kernels."""
    code = activation_code(act, x.dtype)
    y = np.ascontiguousarray(y, dtype=x.dtype) if code else np.empty((1, 1, 1), x.dtype)
    return y, code, x.dtype.type(slope)


def train_backward(x, dy, mean, invstd, gamma, need_dx=True, y=None, act=None, slope=0.0):
    """Gradients of :func:`train_forward`: (dx or None, dγ, dβ); dγ, dβ in x's dtype.
    With ``act``, ``y`` is the forward's output (after the activation)."""
    channels = x.shape[1]
    dx = np.empty_like(x) if need_dx else np.empty((1, channels, 1), x.dtype)
    dgamma, dbeta = np.empty(channels, np.float64), np.empty(channels, np.float64)
    _train_backward(np.ascontiguousarray(x), np.ascontiguousarray(dy, dtype=x.dtype), mean,
                    invstd, gamma.astype(np.float64), *_act_args(x, y, act, slope), dx, dgamma,
                    dbeta, need_dx)  # fmt: skip
    return (dx if need_dx else None), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def train_backward_naive(x, dy, mean, invstd, gamma, need_dx=True, y=None, act=None,
                         slope=0.0):  # fmt: skip
    """Reference for :func:`train_backward`."""
    from engine.kernels.activations import act_slope_naive

    if act:
        dy = dy * act_slope_naive(y, act, slope)
    xhat = (x - mean[None, :, None]) * invstd[None, :, None]
    dgamma = (dy * xhat).sum(axis=(0, 2))
    dbeta = dy.sum(axis=(0, 2))
    dx = None
    if need_dx:
        k = (gamma * invstd)[None, :, None]
        dx = k * (dy - dy.mean(axis=(0, 2))[None, :, None]
                  - xhat * (dy * xhat).mean(axis=(0, 2))[None, :, None])  # fmt: skip
        dx = dx.astype(x.dtype)
    return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


@njit(**JIT_PARALLEL)
def _affine(x, scale, shift, code, slope, y):
    n_img, channels, length = x.shape
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        a = scale[c]
        b = shift[c]
        for i in range(length):
            y[n, c, i] = x[n, c, i] * a + b
        if code != 0:
            _act_inplace(y[n, c], code, slope)


def affine(x, scale, shift, act=None, slope=0.0):
    """y = x·scale + shift per channel of ``x`` (N, C, L), then activation ``act``; scale
    and shift in x's dtype."""
    y = np.empty_like(x)
    _affine(np.ascontiguousarray(x), scale.astype(x.dtype), shift.astype(x.dtype),
            activation_code(act, x.dtype), x.dtype.type(slope), y)  # fmt: skip
    return y


def affine_naive(x, scale, shift, act=None, slope=0.0):
    """Reference for :func:`affine`."""
    y = (x * scale[None, :, None] + shift[None, :, None]).astype(x.dtype)
    return act_value_naive(y, act, slope)


@njit(**JIT_PARALLEL)
def _affine_backward(x, dy, mean, invstd, scale, y, code, slope, dx, dgamma, dbeta, need_dx):
    n_img, channels, length = x.shape
    zero = slope - slope
    one = zero + np.float32(1.0)
    for c in prange(channels):
        s_dy = np.float64(0.0)
        s_dyx = np.float64(0.0)
        for n in range(n_img):
            for i in range(length):
                g = dy[n, c, i]
                if code != 0:
                    g = g * act_slope(y[n, c, i], code, slope, zero, one)
                s_dy += g
                s_dyx += g * (x[n, c, i] - mean[c]) * invstd[c]
                if need_dx:
                    dx[n, c, i] = g * scale[c]
        dgamma[c] = s_dyx
        dbeta[c] = s_dy


def affine_backward(x, dy, mean, invstd, scale, need_dx=True, y=None, act=None, slope=0.0):
    """Evaluation-mode gradients: (dx = dy·scale or None, dγ = Σ dy·x̂, dβ = Σ dy); with
    ``act``, dy is first multiplied by the activation's derivative at ``y``."""
    channels = x.shape[1]
    dx = np.empty_like(x) if need_dx else np.empty((1, channels, 1), x.dtype)
    dgamma, dbeta = np.empty(channels, np.float64), np.empty(channels, np.float64)
    _affine_backward(np.ascontiguousarray(x), np.ascontiguousarray(dy, dtype=x.dtype),
                     mean.astype(np.float64), invstd.astype(np.float64), scale.astype(x.dtype),
                     *_act_args(x, y, act, slope), dx, dgamma, dbeta, need_dx)  # fmt: skip
    return (dx if need_dx else None), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def affine_backward_naive(x, dy, mean, invstd, scale, need_dx=True, y=None, act=None,
                          slope=0.0):  # fmt: skip
    """Reference for :func:`affine_backward`."""
    from engine.kernels.activations import act_slope_naive

    if act:
        dy = dy * act_slope_naive(y, act, slope)
    xhat = (x - mean[None, :, None]) * invstd[None, :, None]
    dx = (dy * scale[None, :, None]).astype(x.dtype) if need_dx else None
    return dx, (dy * xhat).sum(axis=(0, 2)).astype(x.dtype), dy.sum(axis=(0, 2)).astype(x.dtype)
