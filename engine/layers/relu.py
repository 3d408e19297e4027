"""ReLU (PyTorch's nn.ReLU): max(x, 0). Definition and compute layer."""

from __future__ import annotations

from engine.layers.elementwise import ActivationDef, OutputActivation

__all__ = ["RELU", "ReLU"]


class ReLU(OutputActivation):
    """max(x, 0); gradient dy where y > 0."""

    kind = "relu"


class ReLUDef(ActivationDef):
    name = "relu"
    label = "ReLU"
    summary = "relu: keeps positive values, sets negatives to zero"
    short = "relu"
    torch = "nn.ReLU"
    onnx = "Relu"
    zeroes_negatives = True

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.ReLU()

    def build(self, layer, in_shapes, rng):
        return ReLU()


RELU = ReLUDef()
