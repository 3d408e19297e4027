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

from engine.config import JIT, JIT_PARALLEL

__all__ = [
    "ACT_LEAKY",
    "ACT_NONE",
    "ACT_RELU",
    "ACT_SIGMOID",
    "ACT_SIGMOID32",
    "ACT_TANH",
    "ACT_TANH32",
    "act_grad_run",
    "act_inplace",
    "act_inplace_array",
    "act_run",
    "act_slope",
    "act_slope_naive",
    "act_value",
    "act_value_naive",
    "activation_code",
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
    "tanh32",
    "tanh_backward",
    "tanh_backward_naive",
    "tanh_forward",
    "tanh_forward_naive",
]


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Activation codes: how the fused stages (engine.kernels.epilogue, the conv epilogues) name the
# activation they apply. tanh and sigmoid have two codes each: the float32 kernels use a
# rational approximation that the compiler vectorises (4-6x faster than the scalar libm call
# numba makes for np.tanh / np.exp), other dtypes (the float64 gradient checks) the exact
# functions, whose derivative the central differences see.
ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_TANH, ACT_SIGMOID, ACT_TANH32, ACT_SIGMOID32 = range(7)
_CODES = {"relu": ACT_RELU, "leaky_relu": ACT_LEAKY, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}


def activation_code(act, dtype=np.float32) -> int:
    """The code of ``act`` for arrays of ``dtype``: None/False (none), True or "relu",
    "leaky_relu", "tanh", "sigmoid" (their float32 forms for float32), or a code already.
    Raises ValueError for an unknown name."""
    if act is None or act is False:
        return ACT_NONE
    if act is True:
        return ACT_RELU
    if isinstance(act, (int, np.integer)):
        return int(act)
    if act not in _CODES:
        raise ValueError(f"unknown activation {act!r}; expected one of {', '.join(_CODES)}")
    code = _CODES[act]
    if np.dtype(dtype) == np.float32 and code in (ACT_TANH, ACT_SIGMOID):
        code = ACT_TANH32 if code == ACT_TANH else ACT_SIGMOID32
    return code


@njit(**JIT)
def tanh32(v):
    """tanh of a float32 by Eigen's rational approximation (generic_fast_tanh_float): within
    4e-7 of the exact value everywhere, ±1 beyond ±7.9, NaN stays NaN. Branch-free, so loops
    over it vectorise."""
    c = np.float32(7.90531110763549805)
    x = min(max(v, -c), c)
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    r = x * p / q
    return v if v != v else r  # min/max would drop a NaN


@njit(**JIT)
def act_value(v, code, slope, zero, one, half):
    """The activation ``code`` of one value; ``zero``, ``one``, ``half`` and ``slope`` come in
    the array's dtype (an integer literal would widen float32 to float64)."""
    if code == ACT_RELU:
        return v if v > zero else v * zero
    if code == ACT_LEAKY:
        return v if v > zero else v * slope
    if code == ACT_TANH:
        return np.tanh(v)
    if code == ACT_SIGMOID:
        if v >= zero:
            return one / (one + np.exp(-v))
        e = np.exp(v)
        return e / (one + e)
    if code == ACT_TANH32:
        return tanh32(v)
    if code == ACT_SIGMOID32:
        return half * tanh32(half * v) + half
    return v


@njit(**JIT)
def act_slope(y, code, slope, zero, one):
    """The derivative of activation ``code`` at the point whose output is ``y`` (relu and
    leaky relu by the sign of y: their slope is not negative, so y > 0 exactly when x > 0)."""
    if code == ACT_RELU:
        return one if y > zero else zero
    if code == ACT_LEAKY:
        return one if y > zero else slope
    if code == ACT_TANH or code == ACT_TANH32:
        return one - y * y
    if code == ACT_SIGMOID or code == ACT_SIGMOID32:
        return y * (one - y)
    return one


@njit(**JIT)
def act_inplace(v, code, slope, zero, one, half):
    """v[p] = activation ``code`` of v[p] over a 1-D view, in place. Not :func:`act_run`
    with ``src`` = ``dst``: the compiler's overlap check sends an aliased loop down its scalar
    path (tanh and sigmoid 7x slower); one array has nothing to check."""
    n = v.shape[0]
    if code == ACT_RELU:
        for p in range(n):
            t = v[p]
            v[p] = t if t > zero else t * zero
    elif code == ACT_LEAKY:
        for p in range(n):
            t = v[p]
            v[p] = t if t > zero else t * slope
    elif code == ACT_TANH32:
        for p in range(n):
            v[p] = tanh32(v[p])
    elif code == ACT_SIGMOID32:
        for p in range(n):
            v[p] = half * tanh32(half * v[p]) + half
    elif code != ACT_NONE:
        for p in range(n):
            v[p] = act_value(v[p], code, slope, zero, one, half)


@njit(**JIT)
def act_inplace_array(v, code, slope):
    """:func:`act_inplace` over a whole C-contiguous array of any shape; ``slope`` in its
    dtype."""
    zero = slope - slope
    one = zero + np.float32(1.0)  # stays in the dtype
    act_inplace(v.reshape(-1), code, slope, zero, one, one / (one + one))


@njit(**JIT)
def act_run(src, b, dst, code, slope, zero, one, half):
    """dst[p] = activation ``code`` of src[p] + b over 1-D views, one loop per activation so
    that each one vectorises (a switch inside the loop kept :func:`act_value` scalar)."""
    n = dst.shape[0]
    if (code == ACT_TANH32 or code == ACT_SIGMOID32) and src.strides[0] != src.itemsize:
        # A strided source (the transpose of an (m, K) product) would make the rational
        # approximation's loop gather: copy with the bias first, then a contiguous pass (3x
        # faster on a 16-filter conv's tanh epilogue).
        for p in range(n):
            dst[p] = src[p] + b
        act_inplace(dst, code, slope, zero, one, half)
    elif code == ACT_RELU:
        for p in range(n):
            v = src[p] + b
            dst[p] = v if v > zero else v * zero
    elif code == ACT_LEAKY:
        for p in range(n):
            v = src[p] + b
            dst[p] = v if v > zero else v * slope
    elif code == ACT_TANH32:
        for p in range(n):
            dst[p] = tanh32(src[p] + b)
    elif code == ACT_SIGMOID32:
        for p in range(n):
            dst[p] = half * tanh32(half * (src[p] + b)) + half
    elif code == ACT_NONE:
        for p in range(n):
            dst[p] = src[p] + b
    else:
        for p in range(n):
            dst[p] = act_value(src[p] + b, code, slope, zero, one, half)


@njit(**JIT)
def act_grad_run(g, y, dst, code, slope, zero, one):
    """dst[p] = g[p] times the derivative of activation ``code`` where its output is y[p],
    over 1-D views, one loop per activation (see :func:`act_run`)."""
    n = dst.shape[0]
    if code == ACT_RELU:
        for p in range(n):
            dst[p] = g[p] if y[p] > zero else g[p] * zero
    elif code == ACT_LEAKY:
        for p in range(n):
            dst[p] = g[p] if y[p] > zero else g[p] * slope
    elif code == ACT_TANH or code == ACT_TANH32:
        for p in range(n):
            dst[p] = g[p] * (one - y[p] * y[p])
    elif code == ACT_SIGMOID or code == ACT_SIGMOID32:
        for p in range(n):
            dst[p] = g[p] * (y[p] * (one - y[p]))
    else:
        for p in range(n):
            dst[p] = g[p]


def act_value_naive(v, act, slope=0.0):
    """Reference for :func:`act_value` on arrays, by name (None, "relu", ...)."""
    if act is None or act is False:
        return v
    if act is True or act == "relu":
        return relu_forward_naive(v)
    if act == "leaky_relu":
        return leaky_relu_forward_naive(v, slope)
    if act == "tanh":
        return tanh_forward_naive(v)
    return sigmoid_forward_naive(v)


def act_slope_naive(y, act, slope=0.0):
    """Reference for :func:`act_slope` on arrays, by name."""
    one = np.ones_like(y)
    if act is None or act is False:
        return one
    if act is True or act == "relu":
        return np.where(y > 0, one, one * 0)
    if act == "leaky_relu":
        return np.where(y > 0, one, one * y.dtype.type(slope))
    if act == "tanh":
        return 1 - y * y
    return y * (1 - y)


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


@njit(**JIT_PARALLEL)
def _act_forward(x, code, slope, y):
    zero, one = x.dtype.type(0), x.dtype.type(1)
    half = one / (one + one)
    for i in prange(x.size):
        y[i] = act_value(x[i], code, slope, zero, one, half)


def sigmoid_forward(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x| (float32: as
    0.5·tanh(x/2) + 0.5 with :func:`tanh32`, within 2e-7 absolute)."""
    y = np.empty(x.size, dtype=x.dtype)
    if x.dtype == np.float32:
        _act_forward(_flat(x), ACT_SIGMOID32, x.dtype.type(0), y)
    else:
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
    """tanh(x) elementwise (float32: :func:`tanh32`, within 4e-7)."""
    y = np.empty(x.size, dtype=x.dtype)
    if x.dtype == np.float32:
        _act_forward(_flat(x), ACT_TANH32, x.dtype.type(0), y)
    else:
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
