"""Tanh (PyTorch's nn.Tanh). Definition and compute layer."""

from __future__ import annotations

from engine.kernels.activations import tanh_backward, tanh_forward
from engine.layers.elementwise import ActivationDef, OutputActivation

__all__ = ["TANH", "Tanh"]


class Tanh(OutputActivation):
    """tanh(x); gradient dy * (1 - y**2)."""

    kind = "tanh"
    _forward = staticmethod(tanh_forward)
    _backward = staticmethod(tanh_backward)


class TanhDef(ActivationDef):
    name = "tanh"
    label = "Tanh"
    summary = "tanh: squashes every value into (−1, 1)"
    short = "tanh"
    torch = "nn.Tanh"
    onnx = "Tanh"

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Tanh()

    def build(self, layer, in_shapes, rng):
        return Tanh()


TANH = TanhDef()
