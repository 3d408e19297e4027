"""Average pooling (PyTorch's nn.AvgPool2d, count_include_pad=True): definition and compute
layer, forward and backward."""

from __future__ import annotations

from engine.kernels.pool import avg_pool_backward, avg_pool_forward
from engine.layers.window import Pool2D, PoolDef

__all__ = ["AVG_POOL2D", "AvgPool2D"]


class AvgPool2D(Pool2D):
    """Mean over (KH, KW) windows of (N, C, H, W), always divided by KH*KW.

    Zero padding counts in the mean (PyTorch's default ``count_include_pad=True``).
    """

    kind = "avg_pool2d"

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        return avg_pool_forward(x, self.kernel, self.stride, self.padding)

    def backward(self, dy):
        shape = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        return avg_pool_backward(dy, shape, self.kernel, self.stride, self.padding)


class AvgPool2DDef(PoolDef):
    name = "avg_pool2d"
    label = "Average pool"
    summary = "average pool: keeps the mean of each window"
    torch = "nn.AvgPool2d"
    onnx = "AveragePool"

    def torch_module(self, layer, in_shapes):
        from torch import nn

        g = self.window(layer)
        return nn.AvgPool2d(g.kernel, g.stride, g.padding)

    def build(self, layer, in_shapes, rng):
        g = self.window(layer)
        return AvgPool2D(g.kernel, g.stride, g.padding)

    def to_onnx(self, layer, g, xs, in_shapes):
        w = self.window(layer)
        return g.node("AveragePool", xs, kernel_shape=list(w.kernel), strides=list(w.stride),
                      pads=[*w.padding, *w.padding], count_include_pad=1)  # fmt: skip

    def from_onnx(self, node):
        fields = self._onnx_window(node, count_include_pad=None)
        if fields["padding"] != (0, 0) and not node.attr("count_include_pad", 0):
            raise node.unsupported("count_include_pad=0 with padding (the mean of the pixels "
                                   "inside the image only) is not supported")  # fmt: skip
        return fields, {}


AVG_POOL2D = AvgPool2DDef()
