"""Optimiser update kernels (in place), with the PyTorch formulas as naive references.

All arrays are flat, contiguous and of one float dtype; scalars are passed in that dtype
(the callers in ``engine.optim`` convert them) so float32 updates never widen to float64.
Each element is updated independently, so the parallel loop has no shared writes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.config import JIT_PARALLEL

__all__ = ["adam_update", "adam_update_naive", "sgd_update", "sgd_update_naive"]


@njit(**JIT_PARALLEL)
def sgd_update(param, grad, buf, lr, momentum, weight_decay, nesterov, first):
    """One SGD step in place, PyTorch semantics (dampening 0).

    g = grad + weight_decay * param; with momentum: buf = g on the first step, else
    buf = momentum * buf + g; the step direction is buf (or g + momentum * buf with
    nesterov); param -= lr * direction. ``buf`` is ignored when momentum is 0.
    """
    use_momentum = momentum != 0
    for i in prange(param.size):
        g = grad[i] + weight_decay * param[i]
        if use_momentum:
            b = g if first else momentum * buf[i] + g
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] = param[i] - lr * g


def sgd_update_naive(param, grad, buf, lr, momentum, weight_decay, nesterov, first):
    """Reference for :func:`sgd_update`, written with whole-array numpy operations."""
    g = grad + weight_decay * param
    if momentum != 0:
        buf[...] = g if first else momentum * buf + g
        g = g + momentum * buf if nesterov else buf.copy()
    param[...] = param - lr * g


@njit(**JIT_PARALLEL)
def adam_update(param, grad, exp_avg, exp_avg_sq, step_size, beta1, beta2, bc2_sqrt, eps, wd):
    """One Adam step in place, PyTorch semantics (``torch.optim.Adam``, amsgrad off).

    g = grad + wd * param; exp_avg moves toward g by (1 - beta1) (PyTorch's lerp);
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g;
    param -= step_size * exp_avg / (sqrt(exp_avg_sq) / bc2_sqrt + eps), where the caller
    passes step_size = lr / (1 - beta1**t) and bc2_sqrt = sqrt(1 - beta2**t).
    """
    # 1 in the parameters' dtype: an integer literal would widen float32 to float64.
    one = param.dtype.type(1)
    weight = one - beta1
    rest = one - beta2
    for i in prange(param.size):
        g = grad[i] + wd * param[i]
        m = exp_avg[i]
        # torch.lerp: start + w * (end - start) for w < 0.5, else end - (end - start) * (1 - w).
        if weight < 0.5:
            m = m + weight * (g - m)
        else:
            m = g - (g - m) * (one - weight)
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + rest * g * g
        exp_avg_sq[i] = v
        param[i] = param[i] - step_size * m / (np.sqrt(v) / bc2_sqrt + eps)


def adam_update_naive(param, grad, exp_avg, exp_avg_sq, step_size, beta1, beta2, bc2_sqrt, eps, wd):
    """Reference for :func:`adam_update`, written with whole-array numpy operations."""
    one = param.dtype.type(1)
    g = grad + wd * param
    weight = one - beta1
    if weight < 0.5:
        exp_avg[...] = exp_avg + weight * (g - exp_avg)
    else:
        exp_avg[...] = g - (g - exp_avg) * (one - weight)
    exp_avg_sq[...] = beta2 * exp_avg_sq + (one - beta2) * g * g
    param[...] = param - step_size * exp_avg / (np.sqrt(exp_avg_sq) / bc2_sqrt + eps)
