"""Flatten (PyTorch's nn.Flatten): C×H×W feature maps unrolled into one vector for dense
layers. Definition and compute layer."""

from __future__ import annotations

import math

from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef, Tensor

__all__ = ["FLATTEN", "Flatten"]


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C-order, as torch.flatten(x, 1) does."""

    kind = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self._saved_shape = None

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        shape = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        return dy.reshape(shape)


class FlattenDef(LayerDef):
    name = "flatten"
    label = "Flatten"
    summary = "flatten: unrolls the C×H×W feature maps into one long vector for dense layers"
    family = "reshape"
    short = "flatten"
    torch = "nn.Flatten"
    onnx = "Flatten"
    spatial = False

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        if x.rank == 1:
            # Harmless (PyTorch's Flatten passes a flat vector through), so not a problem.
            ctx.note(f"its input is already a flat vector of {x.text()}; it changes nothing")
            return Inferred(x, "its input is already flat")
        if x.size is None:
            return Inferred(Tensor.flat(None), "size unknown")
        return Inferred(Tensor.flat(x.size), f"{x.channels}·{x.height}·{x.width} = {x.size}")

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Flatten()

    def build(self, layer, in_shapes, rng):
        return Flatten()

    def to_onnx(self, layer, g, xs, in_shapes):
        return g.node("Flatten", xs, axis=1)

    def from_onnx(self, node):
        node.check_attrs({"axis": 1})
        return {}, {}


FLATTEN = FlattenDef()
