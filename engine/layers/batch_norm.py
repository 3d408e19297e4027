"""Batch normalisation (PyTorch's nn.BatchNorm1d / nn.BatchNorm2d), forward and backward."""

from __future__ import annotations

import numpy as np

from engine.fields import FieldInfo
from engine.kernels import batch_norm as kernels
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef

__all__ = ["BATCH_NORM", "BatchNorm"]


class BatchNorm(Layer):
    """Normalise each feature over the batch, then scale by ``weight`` and shift by ``bias``.

    After a conv, x is (N, C, H, W) and statistics are per channel over (N, H, W); after a
    dense layer, x is (N, F) and statistics are per feature over N. Parameters ``weight``
    (ones) and ``bias`` (zeros), buffers ``running_mean`` (zeros) and ``running_var`` (ones),
    all of length C (or F).

    Training uses the batch mean and biased variance, and updates the running statistics with
    PyTorch's convention: running = (1 - momentum) * running + momentum * batch, where the
    variance fed in is the unbiased one (times n / (n - 1)). Evaluation uses the running
    statistics. Raises ValueError when training on a single value per channel.
    """

    kind = "batch_norm"

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.params["weight"] = np.ones(self.num_features, np.float32)
        self.params["bias"] = np.zeros(self.num_features, np.float32)
        self.buffers["running_mean"] = np.zeros(self.num_features, np.float32)
        self.buffers["running_var"] = np.ones(self.num_features, np.float32)
        self._saved_x = None
        self._saved_stats = None
        self._saved_train = None
        self._saved_act = None

    def _view(self, x):
        """x as (N, C, L): a conv output's maps flattened, a dense output with L = 1."""
        if x.ndim not in (2, 4):
            raise ValueError(
                f"batch_norm: expects (N, C, H, W) or (N, F) input, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"batch_norm: built for {self.num_features} features, got {x.shape[1]}"
            )
        return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)

    def forward(self, x, train=False, record=False, act=None, slope=0.0):
        """Normalised ``x``; the network fuses an activation that follows into the same
        pass (``act``: "relu", "leaky_relu" with ``slope``, "tanh", "sigmoid"), exactly as
        its layer would apply it; :meth:`backward` then takes the gradient of that output."""
        x3 = self._view(x)
        gamma, beta = self.params["weight"], self.params["bias"]
        if train:
            count = x3.shape[0] * x3.shape[2]
            if count < 2:
                raise ValueError(
                    "batch_norm: training needs more than one value per channel; "
                    f"got input of shape {tuple(x.shape)} (use a batch size above 1)"
                )
            y, mean, var, invstd = kernels.train_forward(x3, gamma, beta, self.eps, act, slope)
            m = self.momentum
            running_mean = self.buffers["running_mean"]
            running_var = self.buffers["running_var"]
            dtype = running_mean.dtype.type
            running_mean *= dtype(1 - m)
            running_mean += (m * mean).astype(running_mean.dtype)
            running_var *= dtype(1 - m)
            running_var += (m * count / (count - 1) * var).astype(running_var.dtype)
        else:
            mean = self.buffers["running_mean"].astype(np.float64)
            invstd = 1.0 / np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps)
            y = kernels.affine(x3, *self.folded(), act, slope)
        if record:
            self._saved_x = x3
            self._saved_stats = (mean, invstd)
            self._saved_train = train
            self._saved_act = (y, act, slope) if act else None
        return y.reshape(x.shape)

    def folded(self, dtype=np.float64):
        """Evaluation mode as (scale, shift) per channel: y = x·scale + shift, what a
        convolution before it can fold into its weights and bias."""
        invstd = 1.0 / np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps)
        scale = self.params["weight"] * invstd
        shift = self.params["bias"] - self.buffers["running_mean"].astype(np.float64) * scale
        return scale.astype(dtype), shift.astype(dtype)

    def backward(self, dy):
        x3 = self._require_saved(self._saved_x)
        mean, invstd = self._saved_stats
        dy3 = dy.reshape(x3.shape)
        gamma = self.params["weight"]
        act = self._saved_act or (None, None, 0.0)
        if self._saved_train:
            dx, dgamma, dbeta = kernels.train_backward(
                x3, dy3, mean, invstd, gamma, self.input_grad, *act
            )
        else:
            # Running statistics are constants, so the layer is affine in x.
            dx, dgamma, dbeta = kernels.affine_backward(
                x3, dy3, mean, invstd, gamma * invstd, self.input_grad, *act
            )
        self.grads["weight"] = dgamma.astype(gamma.dtype)
        self.grads["bias"] = dbeta.astype(gamma.dtype)
        return None if dx is None else dx.reshape(dy.shape)


class BatchNormDef(LayerDef):
    name = "batch_norm"
    label = "Batch norm"
    summary = "batch norm: normalises each channel over the batch, then scales and shifts it"
    family = "regularization"
    short = "bn"
    torch = "nn.BatchNorm2d"  # nn.BatchNorm1d after a dense layer
    onnx = "BatchNormalization"
    init_transparent = True
    fields = (
        FieldInfo(
            "eps",
            "float",
            1e-5,
            "eps: small number added to the variance so it never divides by zero",
            minimum=1e-12,
            maximum=1.0,
            step=1e-5,
        ),
        FieldInfo(
            "momentum",
            "float",
            0.1,
            "momentum: how fast the running mean and variance follow each batch",
            minimum=0.0,
            maximum=1.0,
            step=0.01,
        ),
    )

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        n = x.channels if x.rank == 3 else x.features
        if n is None:
            return Inferred(x, "its channels are unknown, so its parameters are too")
        return Inferred(
            x, f"2·{n} = {2 * n:,} parameters (+ {2 * n:,} running statistics)", 2 * n, 2 * n
        )

    def torch_module(self, layer, in_shapes):
        from torch import nn

        cls = nn.BatchNorm2d if len(in_shapes[0]) == 3 else nn.BatchNorm1d
        return cls(in_shapes[0][0], eps=layer["eps"], momentum=layer["momentum"])

    def build(self, layer, in_shapes, rng):
        return BatchNorm(in_shapes[0][0], layer["eps"], layer["momentum"])

    def to_onnx(self, layer, g, xs, in_shapes):
        # Inference form (running statistics); ONNX's momentum weighs the running value.
        inputs = [xs[0]] + [g.param(n) for n in ("weight", "bias", "running_mean", "running_var")]
        return g.node("BatchNormalization", inputs, epsilon=float(layer["eps"]),
                      momentum=1.0 - float(layer["momentum"]))  # fmt: skip

    def from_onnx(self, node):
        node.check_attrs({"epsilon": None, "momentum": None, "training_mode": 0, "spatial": 1})
        names = ("weight", "bias", "running_mean", "running_var")
        params = {n: node.const(k, n.replace("_", " ")) for k, n in enumerate(names, 1)}
        eps = float(f"{node.attr('epsilon', 1e-5):.7g}")  # a float32 attribute
        momentum = round(1.0 - float(node.attr("momentum", 0.9)), 6)
        return {"eps": eps, "momentum": momentum}, params


BATCH_NORM = BatchNormDef()
