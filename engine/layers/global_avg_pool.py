"""Global average pooling (PyTorch's nn.AdaptiveAvgPool2d(1) + flatten): definition and
compute layer, forward and backward."""

from __future__ import annotations

import numpy as np

from engine.kernels.pool import avg_pool_forward
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef, Tensor

__all__ = ["GLOBAL_AVG_POOL", "GlobalAvgPool"]


class GlobalAvgPool(Layer):
    """Mean of each (H, W) feature map: (N, C, H, W) -> (N, C), ready for a dense layer."""

    kind = "global_avg_pool"

    def __init__(self) -> None:
        super().__init__()
        self._saved_shape = None

    def output_shape(self, input_shape):
        return (input_shape[0],)

    def forward(self, x, train=False, record=False):
        if record:
            self._saved_shape = x.shape
        # The average pool kernel over the whole plane (a parallel numba loop that releases
        # the GIL, summing in the order a conv epilogue that fuses this layer does).
        n_img, channels, height, width = x.shape
        y = avg_pool_forward(x, (height, width), (1, 1), (0, 0))
        return y.reshape(n_img, channels)

    def backward(self, dy):
        n_img, channels, height, width = self._require_saved(self._saved_shape)
        if not self.input_grad:
            return None
        share = dy / dy.dtype.type(height * width)
        return np.broadcast_to(share[:, :, None, None], (n_img, channels, height, width)).copy()


class GlobalAvgPoolDef(LayerDef):
    name = "global_avg_pool"
    label = "Global average pool"
    summary = "global average pool: averages each feature map down to one number"
    family = "pool"
    short = "gap"
    torch = "nn.AdaptiveAvgPool2d"
    onnx = "GlobalAveragePool"
    needs_maps = True
    spatial = False
    ends_network = True  # all-convolutional networks end here: one map per class

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        return Inferred(
            Tensor.flat(x.channels),
            f"averages each {x.height}×{x.width} map: {x.channels} values",
        )

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def build(self, layer, in_shapes, rng):
        return GlobalAvgPool()

    def to_onnx(self, layer, g, xs, in_shapes):
        maps = g.node("GlobalAveragePool", xs, suffix="pool")  # (N, C, 1, 1)
        return g.node("Flatten", [maps], axis=1)  # (N, C), as ours


GLOBAL_AVG_POOL = GlobalAvgPoolDef()
