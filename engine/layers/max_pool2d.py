"""Max pooling (PyTorch's nn.MaxPool2d): definition and compute layer, forward and backward."""

from __future__ import annotations

from engine.kernels.pool import max_pool_backward, max_pool_forward
from engine.layers.window import Pool2D, PoolDef

__all__ = ["MAX_POOL2D", "MaxPool2D"]


class MaxPool2D(Pool2D):
    """Max over (KH, KW) windows of (N, C, H, W); padding never wins (it is -inf).

    Output (N, C, OH, OW). The backward pass sends each output gradient to the input that won
    its window (recorded in the forward pass as an int32 argmax).
    """

    kind = "max_pool2d"

    def __init__(self, kernel, stride=None, padding=(0, 0)):
        super().__init__(kernel, stride, padding)
        self._saved_argmax = None

    def forward(self, x, train=False, record=False):
        y, argmax = max_pool_forward(x, self.kernel, self.stride, self.padding)
        if record:
            self._saved_argmax = argmax
            self._saved_shape = x.shape
        return y

    def backward(self, dy):
        argmax = self._require_saved(self._saved_argmax)
        if not self.input_grad:
            return None
        return max_pool_backward(dy, argmax, self._saved_shape)


class MaxPool2DDef(PoolDef):
    name = "max_pool2d"
    label = "Max pool"
    summary = "max pool: keeps the largest value in each window"
    torch = "nn.MaxPool2d"
    onnx = "MaxPool"

    def torch_module(self, layer, in_shapes):
        from torch import nn

        g = self.window(layer)
        return nn.MaxPool2d(g.kernel, g.stride, g.padding)

    def build(self, layer, in_shapes, rng):
        g = self.window(layer)
        return MaxPool2D(g.kernel, g.stride, g.padding)

    def to_onnx(self, layer, g, xs, in_shapes):
        w = self.window(layer)  # ONNX's MaxPool ignores padding as our -inf does
        return g.node("MaxPool", xs, kernel_shape=list(w.kernel), strides=list(w.stride),
                      pads=[*w.padding, *w.padding])  # fmt: skip

    def from_onnx(self, node):
        return self._onnx_window(node, storage_order=0), {}


MAX_POOL2D = MaxPool2DDef()
