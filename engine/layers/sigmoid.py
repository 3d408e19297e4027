"""Sigmoid (PyTorch's nn.Sigmoid): 1 / (1 + exp(−x)). Definition and compute layer."""

from __future__ import annotations

from engine.kernels.activations import sigmoid_backward, sigmoid_forward
from engine.layers.elementwise import ActivationDef, OutputActivation

__all__ = ["SIGMOID", "Sigmoid"]


class Sigmoid(OutputActivation):
    """1 / (1 + exp(-x)); gradient dy * y * (1 - y)."""

    kind = "sigmoid"
    _forward = staticmethod(sigmoid_forward)
    _backward = staticmethod(sigmoid_backward)


class SigmoidDef(ActivationDef):
    name = "sigmoid"
    label = "Sigmoid"
    summary = "sigmoid: squashes every value into (0, 1)"
    short = "sigmoid"
    torch = "nn.Sigmoid"
    onnx = "Sigmoid"

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Sigmoid()

    def build(self, layer, in_shapes, rng):
        return Sigmoid()


SIGMOID = SigmoidDef()
