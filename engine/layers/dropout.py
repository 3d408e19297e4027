"""Inverted dropout: zero a fraction of units while training, scale the rest up."""

from __future__ import annotations

import numpy as np

from engine.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Training: y = x * mask / (1 - rate) with mask ~ Bernoulli(1 - rate); evaluation: y = x.

    The scale keeps each unit's expected value, so evaluation needs no rescaling (PyTorch's
    nn.Dropout). ``rng`` is the network's dropout ``numpy.random.Generator``: shared, seeded,
    and part of the network's RNG state so a resumed run draws the same masks. Works on any
    input shape; the mask has the input's dtype.
    """

    kind = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng
        self._saved_mask = None

    def forward(self, x, train=False, record=False):
        if not train or self.rate == 0.0:
            if record:
                self._saved_mask = 1  # identity: backward passes dy through
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        if record:
            self._saved_mask = mask
        return x * mask

    def backward(self, dy):
        mask = self._require_saved(self._saved_mask)
        if not self.input_grad:
            return None
        return dy * mask if isinstance(mask, np.ndarray) else dy
