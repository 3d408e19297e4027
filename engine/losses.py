"""Losses on logits, each returning ``(loss, dlogits)``.

``logits`` is (N, K) of any float dtype; ``targets`` is either integer class labels (N,) in
[0, K) or a (N, K) array of target values (one-hot or soft). The loss is a Python float,
averaged over the batch; ``dlogits`` has the logits' shape and dtype.

- :func:`cross_entropy`: softmax cross-entropy, -mean(sum(t * log softmax(z))), computed with
  the log-sum-exp shift so large logits never overflow. The default.
- :func:`total_error`: the tutorials' squared "total error" on the softmax outputs,
  mean over the batch of 1/2 * sum((t - softmax(z))**2), differentiated through the softmax.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOSSES", "cross_entropy", "log_softmax", "softmax", "total_error"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, shifted by the row maximum (log-sum-exp trick)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; rows sum to 1. Same shape and dtype as ``logits``."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _targets(logits: np.ndarray, targets, name: str) -> np.ndarray:
    """(N, K) target matrix in the logits' dtype, from labels or a target array."""
    if logits.ndim != 2:
        raise ValueError(f"{name}: logits must be (N, classes), got shape {tuple(logits.shape)}")
    n, k = logits.shape
    t = np.asarray(targets)
    if t.ndim == 1:
        if t.shape[0] != n:
            raise ValueError(f"{name}: {t.shape[0]} labels for a batch of {n} logits")
        if not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"{name}: labels must be integers, got dtype {t.dtype}")
        if n and (t.min() < 0 or t.max() >= k):
            bad = t[(t < 0) | (t >= k)][0]
            raise ValueError(
                f"{name}: label {int(bad)} is out of range for {k} classes (labels are 0..{k - 1})"
            )
        onehot = np.zeros((n, k), dtype=logits.dtype)
        onehot[np.arange(n), t] = 1
        return onehot
    if t.shape != logits.shape:
        raise ValueError(
            f"{name}: targets must be labels (N,) or an array shaped like the logits "
            f"{tuple(logits.shape)}, got {tuple(t.shape)}"
        )
    return t.astype(logits.dtype, copy=False)


def cross_entropy(logits: np.ndarray, targets) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient (softmax * sum(t) - t) / N."""
    t = _targets(logits, targets, "cross_entropy")
    n = logits.shape[0]
    logp = log_softmax(logits)
    loss = -float(np.sum(t * logp, dtype=np.float64)) / n
    p = np.exp(logp)
    dlogits = (p * t.sum(axis=1, keepdims=True) - t) / logits.dtype.type(n)
    return loss, dlogits


def total_error(logits: np.ndarray, targets) -> tuple[float, np.ndarray]:
    """Mean over the batch of 1/2 * sum((t - softmax(z))**2), and its gradient in z.

    With p = softmax(z) and g = (p - t) / N, the gradient is p * (g - sum(g * p)) per row
    (the softmax Jacobian applied to g).
    """
    t = _targets(logits, targets, "total_error")
    n = logits.shape[0]
    p = softmax(logits)
    diff = p - t
    loss = 0.5 * float(np.sum(diff * diff, dtype=np.float64)) / n
    g = diff / logits.dtype.type(n)
    dlogits = p * (g - np.sum(g * p, axis=1, keepdims=True))
    return loss, dlogits


#: Loss functions by the names ``Network.loss_and_grads`` accepts.
LOSSES = {"cross_entropy": cross_entropy, "total_error": total_error}
