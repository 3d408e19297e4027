"""Batch normalisation (PyTorch's nn.BatchNorm1d / nn.BatchNorm2d), forward and backward."""

from __future__ import annotations

import numpy as np

from engine.fields import FieldInfo
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
        self._saved_xhat = None
        self._saved_inv_std = None
        self._saved_train = None

    def _view(self, x):
        # Axes reduced over, and the shape that broadcasts a per-feature vector against x.
        if x.ndim == 4:
            return (0, 2, 3), (1, x.shape[1], 1, 1)
        if x.ndim == 2:
            return (0,), (1, x.shape[1])
        raise ValueError(
            f"batch_norm: expects (N, C, H, W) or (N, F) input, got shape {tuple(x.shape)}"
        )

    def forward(self, x, train=False, record=False):
        axes, shape = self._view(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"batch_norm: built for {self.num_features} features, got {x.shape[1]}"
            )
        dtype = x.dtype.type
        if train:
            count = x.size // x.shape[1]
            if count < 2:
                raise ValueError(
                    "batch_norm: training needs more than one value per channel; "
                    f"got input of shape {tuple(x.shape)} (use a batch size above 1)"
                )
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = np.mean(centred * centred, axis=axes)
            m = self.momentum
            running_mean = self.buffers["running_mean"]
            running_var = self.buffers["running_var"]
            running_mean *= dtype(1 - m)
            running_mean += dtype(m) * mean.astype(running_mean.dtype)
            running_var *= dtype(1 - m)
            running_var += dtype(m * count / (count - 1)) * var.astype(running_var.dtype)
        else:
            mean = self.buffers["running_mean"].astype(x.dtype)
            var = self.buffers["running_var"].astype(x.dtype)
            centred = x - mean.reshape(shape)
        inv_std = dtype(1) / np.sqrt(var + dtype(self.eps))
        xhat = centred * inv_std.reshape(shape)
        y = xhat * self.params["weight"].reshape(shape) + self.params["bias"].reshape(shape)
        if record:
            self._saved_xhat = xhat
            self._saved_inv_std = inv_std
            self._saved_train = train
        return y

    def backward(self, dy):
        xhat = self._require_saved(self._saved_xhat)
        axes, shape = self._view(dy)
        self.grads["weight"] = np.sum(dy * xhat, axis=axes)
        self.grads["bias"] = np.sum(dy, axis=axes)
        if not self.input_grad:
            return None
        scale = (self.params["weight"] * self._saved_inv_std).reshape(shape)
        if not self._saved_train:
            # Running statistics are constants, so the layer is affine in x.
            return dy * scale
        # The batch mean and variance depend on x too: subtract their share of the gradient.
        mean_dy = dy.mean(axis=axes).reshape(shape)
        mean_dy_xhat = (dy * xhat).mean(axis=axes).reshape(shape)
        return scale * (dy - mean_dy - xhat * mean_dy_xhat)


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


BATCH_NORM = BatchNormDef()
