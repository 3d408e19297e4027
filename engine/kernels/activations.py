"""Elementwise activation kernels, forward and backward, over arrays of any shape.

Each public function takes contiguous arrays (it makes them so), works on their flat view and
returns a new array of the input's dtype and shape. Backward passes use what the forward kept:
the output ``y`` for relu, sigmoid and tanh (their derivatives are functions of y), the input
``x`` for leaky relu (its derivative depends on the sign of x; 0 counts as negative, as in
PyTorch). Scalars such as the leaky slope are passed in the array's dtype so float32 code never
widens to float64. ``*_naive`` functions are the numpy references the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT_PARALLEL

__all__ = [
    "leaky_relu_backward",
    "leaky_relu_backward_naive",
    "leaky_relu_forward",
    "leaky_relu_forward_naive",
    "relu_backward",
    "relu_backward_naive",
    "relu_forward",
    "relu_forward_naive",
    "sigmoid_backward",
    "sigmoid_backward_naive",
    "sigmoid_forward",
    "sigmoid_forward_naive",
    "tanh_backward",
    "tanh_backward_naive",
    "tanh_forward",
    "tanh_forward_naive",
]


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


@njit(**JIT_PARALLEL)
def _relu_forward(x, y):
    for i in prange(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * 0


@njit(**JIT_PARALLEL)
def _relu_backward(y, dy, dx):
    for i in prange(y.size):
        dx[i] = dy[i] if y[i] > 0 else dy[i] * 0


def relu_forward(x):
    """max(x, 0) elementwise. NaN inputs give NaN (v * 0), as PyTorch's relu does."""
    y = np.empty(x.size, dtype=x.dtype)
    _relu_forward(_flat(x), y)
    return y.reshape(x.shape)


def relu_forward_naive(x):
    """Reference for :func:`relu_forward`."""
    return np.where(x > 0, x, x * 0)


def relu_backward(y, dy):
    """dy where the forward output ``y`` was positive, else 0."""
    dx = np.empty(dy.size, dtype=dy.dtype)
    _relu_backward(_flat(y), _flat(dy), dx)
    return dx.reshape(dy.shape)


def relu_backward_naive(y, dy):
    """Reference for :func:`relu_backward`."""
    return np.where(y > 0, dy, dy * 0)


@njit(**JIT_PARALLEL)
def _leaky_relu_forward(x, slope, y):
    for i in prange(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * slope


@njit(**JIT_PARALLEL)
def _leaky_relu_backward(x, dy, slope, dx):
    for i in prange(x.size):
        dx[i] = dy[i] if x[i] > 0 else dy[i] * slope


def leaky_relu_forward(x, slope):
    """x where x > 0, else slope * x."""
    y = np.empty(x.size, dtype=x.dtype)
    _leaky_relu_forward(_flat(x), x.dtype.type(slope), y)
    return y.reshape(x.shape)


def leaky_relu_forward_naive(x, slope):
    """Reference for :func:`leaky_relu_forward`."""
    return np.where(x > 0, x, x * x.dtype.type(slope))


def leaky_relu_backward(x, dy, slope):
    """dy where the forward input ``x`` was positive, else slope * dy."""
    dx = np.empty(dy.size, dtype=dy.dtype)
    _leaky_relu_backward(_flat(x), _flat(dy), dy.dtype.type(slope), dx)
    return dx.reshape(dy.shape)


def leaky_relu_backward_naive(x, dy, slope):
    """Reference for :func:`leaky_relu_backward`."""
    return np.where(x > 0, dy, dy * dy.dtype.type(slope))


@njit(**JIT_PARALLEL)
def _sigmoid_forward(x, one, y):
    for i in prange(x.size):
        v = x[i]
        # Two branches so exp never overflows: exp(-|v|) is at most 1.
        if v >= 0:
            y[i] = one / (one + np.exp(-v))
        else:
            e = np.exp(v)
            y[i] = e / (one + e)


@njit(**JIT_PARALLEL)
def _sigmoid_backward(y, dy, one, dx):
    for i in prange(y.size):
        s = y[i]
        dx[i] = dy[i] * s * (one - s)


def sigmoid_forward(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    y = np.empty(x.size, dtype=x.dtype)
    _sigmoid_forward(_flat(x), x.dtype.type(1), y)
    return y.reshape(x.shape)


def sigmoid_forward_naive(x):
    """Reference for :func:`sigmoid_forward` (float64 inside, cast back)."""
    wide = x.astype(np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * wide))).astype(x.dtype)


def sigmoid_backward(y, dy):
    """dy * y * (1 - y), from the forward output ``y``."""
    dx = np.empty(dy.size, dtype=dy.dtype)
    _sigmoid_backward(_flat(y), _flat(dy), dy.dtype.type(1), dx)
    return dx.reshape(dy.shape)


def sigmoid_backward_naive(y, dy):
    """Reference for :func:`sigmoid_backward`."""
    return dy * y * (1 - y)


@njit(**JIT_PARALLEL)
def _tanh_forward(x, y):
    for i in prange(x.size):
        y[i] = np.tanh(x[i])


@njit(**JIT_PARALLEL)
def _tanh_backward(y, dy, one, dx):
    for i in prange(y.size):
        t = y[i]
        dx[i] = dy[i] * (one - t * t)


def tanh_forward(x):
    """tanh(x) elementwise."""
    y = np.empty(x.size, dtype=x.dtype)
    _tanh_forward(_flat(x), y)
    return y.reshape(x.shape)


def tanh_forward_naive(x):
    """Reference for :func:`tanh_forward`."""
    return np.tanh(x)


def tanh_backward(y, dy):
    """dy * (1 - y**2), from the forward output ``y``."""
    dx = np.empty(dy.size, dtype=dy.dtype)
    _tanh_backward(_flat(y), _flat(dy), dy.dtype.type(1), dx)
    return dx.reshape(dy.shape)


def tanh_backward_naive(y, dy):
    """Reference for :func:`tanh_backward`."""
    return dy * (1 - y * y)
