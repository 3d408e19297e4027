"""Inverted dropout (PyTorch's nn.Dropout): zero a fraction of units while training, scale the
rest up. Definition and compute layer."""

from __future__ import annotations

import numpy as np

from engine.fields import FieldInfo
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef

__all__ = ["DROPOUT", "Dropout"]


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


class DropoutDef(LayerDef):
    name = "dropout"
    label = "Dropout"
    summary = "dropout: randomly zeroes a fraction of units while training, against overfitting"
    family = "regularization"
    short = "dropout"
    torch = "nn.Dropout"
    onnx = "Dropout"
    init_transparent = True
    random = True
    fields = (
        FieldInfo(
            "rate",
            "float",
            0.5,
            "rate: the fraction of units dropped at each training step",
            minimum=0.0,
            maximum=1.0,
            exclusive_max=True,
            step=0.05,
        ),
    )

    def describe(self, layer):
        return f"{layer['rate']:g}"

    def infer(self, ctx, layer, inputs):
        return Inferred(
            inputs[0], f"drops {layer['rate']:.0%} of the values while training; same shape"
        )

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Dropout(layer["rate"])

    def build(self, layer, in_shapes, rng):
        return Dropout(layer["rate"], rng)

    def to_onnx(self, layer, g, xs, in_shapes):
        # The identity in inference; the rate goes along for an importer (and training).
        return g.node("Dropout", [xs[0], g.constant("ratio", np.float32(layer["rate"]))])


DROPOUT = DropoutDef()
