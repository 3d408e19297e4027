"""Power-average pooling (PyTorch's nn.LPPool2d): y = (Σ_window x^p)^(1/p). p = 1 is the sum
pooling and p = 2 the L2-norm pooling that the tutorials name beside max and average.
Definition and compute layer, forward and backward."""

from __future__ import annotations

import numpy as np

from engine.fields import FieldInfo
from engine.kernels.lp_pool import lp_pool_backward, lp_pool_forward
from engine.layers.window import Pool2D, PoolDef, pool_fields

__all__ = ["LP_POOL2D", "LpPool2D"]


class LpPool2D(Pool2D):
    """(N, C, H, W) -> (N, C, OH, OW), no padding (as PyTorch's LPPool2d)."""

    kind = "lp_pool2d"

    def __init__(self, p, kernel, stride=None):
        super().__init__(kernel, stride, (0, 0))
        self.p = float(p)
        self._saved_x = None
        self._saved_y = None

    def forward(self, x, train=False, record=False):
        y = lp_pool_forward(x, self.p, self.kernel, self.stride)
        if record:
            self._saved_x, self._saved_y = x, y
        return y

    def backward(self, dy):
        x = self._require_saved(self._saved_x)
        if not self.input_grad:
            return None
        return lp_pool_backward(x, self._saved_y, dy, self.p, self.kernel, self.stride)


class LpPool2DDef(PoolDef):
    name = "lp_pool2d"
    label = "Power-average pool"
    summary = "Lp pool: (sum of x^p over each window)^(1/p); p = 1 sums, p = 2 is the L2 norm"
    torch = "nn.LPPool2d"
    onnx = "LpPool"
    fields = (
        FieldInfo(
            "p",
            "float",
            2.0,
            "p: the power; 1 sums each window, 2 takes its L2 norm, large p approaches the "
            "maximum of |x|",
            minimum=1.0,
            maximum=64.0,
            step=1.0,
        ),
        *pool_fields(padding=False),
    )

    def describe(self, layer):
        return f"p{layer['p']:g} " + super().describe(layer)

    def torch_module(self, layer, in_shapes):
        from torch import nn

        g = self.window(layer)
        return nn.LPPool2d(layer["p"], g.kernel, g.stride)

    def build(self, layer, in_shapes, rng):
        g = self.window(layer)
        return LpPool2D(layer["p"], g.kernel, g.stride)

    def to_onnx(self, layer, g, xs, in_shapes):
        w = self.window(layer)
        p = float(layer["p"])
        if p.is_integer() and int(p) % 2 == 0:
            # ONNX's LpPool is (Σ|x|^p)^(1/p): ours, (Σx^p)^(1/p), only for an even p.
            return g.node("LpPool", xs, kernel_shape=list(w.kernel), strides=list(w.stride),
                          p=int(p))  # fmt: skip
        # Otherwise exactly what we compute: x^p, summed over the window (the mean times its
        # size), to the power 1/p.
        powered = g.node("Pow", [xs[0], g.constant("p", np.float32(p))], suffix="pow")
        mean = g.node("AveragePool", [powered], kernel_shape=list(w.kernel),
                      strides=list(w.stride), suffix="mean")  # fmt: skip
        area = np.float32(w.kernel[0] * w.kernel[1])
        total = g.node("Mul", [mean, g.constant("area", area)], suffix="sum")
        return g.node("Pow", [total, g.constant("inverse_p", np.float32(1.0 / p))])

    def from_onnx(self, node):
        fields = self._onnx_window(node, p=None)
        padding = fields.pop("padding")
        p = int(node.attr("p", 2))
        if p % 2:
            raise node.unsupported(f"p={p}: ONNX's LpPool sums |x|^p, this one x^p; they "
                                   "agree only for an even p")  # fmt: skip
        if padding != (0, 0):
            raise node.unsupported(f"pads {padding}: a padded Lp pool is not supported")
        return {"p": float(p), **fields}, {}


LP_POOL2D = LpPool2DDef()
