"""Weight initialisers, drawn from a seeded RNG. Biases start at zero, except with "uniform".

Kinds (the spec's ``init`` field):

- ``"zeros"``: all zero. Allowed, but warned with :class:`ZeroInitWarning`: every unit of the
  layer then computes the same thing and receives the same gradient, so they never differ.
- ``"gaussian"``: normal with mean 0 and the layer's ``std``.
- ``"xavier"``: Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
- ``"uniform"``: PyTorch's default for Conv2d and Linear (kaiming_uniform_ with a = √5):
  U(-b, b) with b = 1 / sqrt(fan_in), and the biases drawn from the same range
  (:func:`bias_bound`). What "auto" means: on Fashion-MNIST with mnist-2conv (Adam 1e-3,
  batch 64, 3 epochs, seeds 0-2) it reached 0.905 mean test accuracy, against 0.900 for the
  earlier "he before a ReLU, xavier otherwise" and 0.907 for PyTorch itself
  (benchmarks/init_recipe.py).
- ``"he"``: Kaiming normal for ReLU, N(0, 2 / fan_in) (PyTorch's kaiming_normal_, fan_in mode).
- ``"kernels"`` (convolutions): the tutorials' named kernels, one per filter in turn
  (engine.named_kernels.named_filters).
- ``"auto"`` is resolved by ``engine.spec.resolved_init`` before it gets here.

For a conv weight (K, C, KH, KW), fan_in = C*KH*KW and fan_out = K*KH*KW; for a dense weight
(out, in), fan_in = in and fan_out = out. Values are float32.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["INITIALISERS", "ZeroInitWarning", "initialise"]

INITIALISERS = ("zeros", "gaussian", "xavier", "he", "uniform", "kernels")

# numpy's Generator holds the GIL for a whole call: 3.2 M normals (mnist-2conv's dense layer)
# take ~35 ms, during which a GUI thread cannot paint. Drawing in chunks gives it the GIL
# between chunks; the values are the same, since the Generator's stream does not depend on
# how the draws are split.
_CHUNK = 1 << 16


class ZeroInitWarning(UserWarning):
    """A layer's weights were initialised to zero, so its units cannot learn different things."""


def initialise(
    kind: str,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    std: float = 0.01,
    layer: str = "layer",
) -> np.ndarray:
    """A float32 weight array of ``shape`` drawn by initialiser ``kind``.

    ``layer`` names the layer in the zero-init warning and in errors (e.g. "layers[0] conv2d").
    Raises ValueError for an unknown kind (including an unresolved "auto").
    """
    if kind == "kernels":
        from engine.named_kernels import named_filters

        return named_filters(shape)
    if kind == "zeros":
        warnings.warn(
            f"{layer}: weights initialised to zeros; every unit gets the same gradient and "
            "learns the same thing. Use 'auto', 'he' or 'xavier' to let them differ.",
            ZeroInitWarning,
            stacklevel=2,
        )
        return np.zeros(shape, np.float32)
    if kind == "gaussian":
        return _draw(shape, lambda n: rng.standard_normal(n) * float(std))
    if kind == "xavier":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return _draw(shape, lambda n: rng.uniform(-bound, bound, size=n))
    if kind == "uniform":
        bound = 1.0 / math.sqrt(fan_in)
        return _draw(shape, lambda n: rng.uniform(-bound, bound, size=n))
    if kind == "he":
        scale = math.sqrt(2.0 / fan_in)
        return _draw(shape, lambda n: rng.standard_normal(n) * scale)
    raise ValueError(
        f"{layer}: unknown initialiser {kind!r} (expected one of {', '.join(INITIALISERS)})"
    )


def bias_bound(kind: str, fan_in: int) -> float | None:
    """The half-width of the uniform range biases are drawn from for initialiser ``kind``,
    or None when they start at zero (every kind but "uniform", PyTorch's default)."""
    return 1.0 / math.sqrt(fan_in) if kind == "uniform" else None


def _draw(shape: tuple[int, ...], sample) -> np.ndarray:
    """float32 array of ``shape`` filled by ``sample(n) -> float64 (n,)`` in chunks; equal to
    ``sample(size).astype(float32)`` reshaped, value for value."""
    out = np.empty(math.prod(shape), np.float32)
    for lo in range(0, out.size, _CHUNK):
        hi = min(out.size, lo + _CHUNK)
        out[lo:hi] = sample(hi - lo)
    return out.reshape(shape)
