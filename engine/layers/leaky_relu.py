"""Leaky ReLU (PyTorch's nn.LeakyReLU): x where x > 0, else slope·x. Definition and compute
layer."""

from __future__ import annotations

from engine.fields import FieldInfo
from engine.kernels.activations import leaky_relu_backward, leaky_relu_forward
from engine.layers.base import Layer
from engine.layers.elementwise import ActivationDef

__all__ = ["LEAKY_RELU", "LeakyReLU"]


class LeakyReLU(Layer):
    """x where x > 0, else slope * x; gradient dy or slope * dy by the sign of x."""

    kind = "leaky_relu"

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = float(slope)
        self._saved_x = None

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_x = x
        return leaky_relu_forward(x, self.slope)

    def backward(self, dy):
        x = self._require_saved(self._saved_x)
        if not self.input_grad:
            return None
        return leaky_relu_backward(x, dy, self.slope)


class LeakyReLUDef(ActivationDef):
    name = "leaky_relu"
    label = "Leaky ReLU"
    summary = "leaky relu: like relu, but negatives are scaled down instead of zeroed"
    short = "lrelu"
    torch = "nn.LeakyReLU"
    onnx = "LeakyRelu"
    fields = (
        FieldInfo(
            "slope",
            "float",
            0.01,
            "slope: what negative inputs are multiplied by",
            minimum=0.0,
            maximum=1.0,
            step=0.01,
        ),
    )

    def describe(self, layer):
        return f"slope {layer['slope']:g}"

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.LeakyReLU(layer["slope"])

    def build(self, layer, in_shapes, rng):
        return LeakyReLU(layer["slope"])

    def to_onnx(self, layer, g, xs, in_shapes):
        return g.node("LeakyRelu", xs, alpha=float(layer["slope"]))

    def from_onnx(self, node):
        node.check_attrs({"alpha": None})
        return {"slope": float(f"{node.attr('alpha', 0.01):.7g}")}, {}  # a float32 attribute


LEAKY_RELU = LeakyReLUDef()
