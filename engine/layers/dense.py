"""Fully connected layer (PyTorch's nn.Linear): definition and compute layer, forward and
backward."""

from __future__ import annotations

import math
import sys

import numpy as np

from engine.fields import BIAS, INIT, STD, FieldInfo
from engine.kernels.workers import THREADS, run, split
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef, Tensor

#: Below this many multiply-adds a product runs on the calling thread alone.
PARALLEL_MACS = 1_000_000
#: Output units per product of the threaded weight gradient (see Dense.backward).
DW_ROWS = 128

__all__ = ["DENSE", "Dense"]


class Dense(Layer):
    """y = x @ weight.T + bias for x (N, in_features); y is (N, units).

    An input with more axes, (N, C, H, W), is flattened in C-order first (as if a flatten
    layer came before), and the input gradient gets that shape back. Parameters: ``weight``
    (units, in_features) and, unless ``bias=False``, ``bias`` (units,), created as zeros
    (``engine.init`` fills them).

    Large products are split over the engine's worker threads by bands of output units.
    """

    kind = "dense"

    def __init__(self, in_features, units, bias=True):
        super().__init__()
        self.in_features = int(in_features)
        self.units = int(units)
        self.params["weight"] = np.zeros((self.units, self.in_features), np.float32)
        if bias:
            self.params["bias"] = np.zeros(self.units, np.float32)
        self._saved_x = None
        self._saved_shape = None
        self._spare_grads: list[np.ndarray] = []

    @property
    def fan_in(self) -> int:
        return self.in_features

    @property
    def fan_out(self) -> int:
        return self.units

    def output_shape(self, input_shape):
        return (self.units,)

    def _chunks(self, n_rows):
        """Ranges of output units, one per thread (one range for a small product)."""
        macs = n_rows * self.in_features * self.units
        threads = THREADS if macs >= PARALLEL_MACS else 1
        return split(self.units, 16, threads)

    def _plan(self, kind, n_rows):
        """(bands, tuner or None) of a call: the bands of output units the product is computed
        in (one for a small product) and the tuner that decides whether the worker threads
        take them or the calling thread runs them one after another (``workers.run``). The
        bands are the same either way: BLAS sums a product of another shape in another order,
        so a choice made by timing would otherwise change the last bits of the results from
        call to call (a forward and the same forward layer by layer differed by 3e-8)."""
        chunks = self._chunks(n_rows)
        return chunks, (self.tuner((kind, n_rows)) if len(chunks) > 1 else None)

    def _free_weight_grad(self, shape, dtype):
        """An array for the weight gradient that nobody else can see: one this layer returned
        before whose only remaining reference is the layer's own (a dict, a view or any other
        holder counts as a reference), else a new one. A fresh multi-megabyte array costs its
        page faults at every step (a third of a millisecond for MNIST's 3136x1024 weight);
        two kept arrays cover a caller that holds one step's gradients during the next."""
        kept = self._spare_grads
        for buf in kept:
            # getrefcount: the list's reference plus its own argument.
            if buf.shape == shape and buf.dtype == dtype and sys.getrefcount(buf) <= 3:
                return buf
        buf = np.empty(shape, dtype)
        kept.append(buf)
        if len(kept) > 2:
            kept.pop(0)
        return buf

    def forward(self, x, train=False, record=False):
        flat = x.reshape(x.shape[0], -1)
        weight = self.params["weight"]
        bias = self.params.get("bias")
        chunks, tuner = self._plan("forward", flat.shape[0])
        if len(chunks) == 1:
            y = flat @ weight.T
            if bias is not None:
                y += bias
        else:
            # Each band of output units reads only its rows of weight.
            y = np.empty((flat.shape[0], self.units), np.result_type(flat, weight))

            def work(_, lo, hi):
                band = np.dot(flat, weight[lo:hi].T)
                if bias is not None:
                    band += bias[lo:hi]
                y[:, lo:hi] = band

            run(chunks, work, tuner)
        if record:
            self._saved_x = flat
            self._saved_shape = x.shape
        return y

    def backward(self, dy):
        flat = self._require_saved(self._saved_x)
        weight = self.params["weight"]
        has_bias = "bias" in self.params
        chunks, tuner = self._plan("backward", dy.shape[0])
        if len(chunks) == 1:
            self.grads["weight"] = dy.T @ flat
            if has_bias:
                self.grads["bias"] = dy.sum(axis=0)
            dx = (dy @ weight).reshape(self._saved_shape) if self.input_grad else None
            return dx
        dtype = np.result_type(dy, flat)
        dw = self._free_weight_grad(weight.shape, dtype)
        db = np.empty(self.units, dtype) if has_bias else None

        def work(_, lo, hi):
            # A band of units: its rows of dW (disjoint per thread) and a partial input
            # gradient over those units, summed after the threads finish.
            band = np.ascontiguousarray(dy[:, lo:hi])  # a few % faster products
            # dW's band from a contiguous transposed copy, in sub-bands of DW_ROWS units
            # (output rows that stay in cache while BLAS streams ``flat``): 5% faster than
            # one product on band.T for MNIST's 3136x1024 layer.
            band_t = np.ascontiguousarray(band.T)
            for r in range(lo, hi, DW_ROWS):
                s = min(r + DW_ROWS, hi)
                np.dot(band_t[r - lo : s - lo], flat, out=dw[r:s])
            if db is not None:
                db[lo:hi] = band.sum(axis=0)
            return np.dot(band, weight[lo:hi]) if self.input_grad else None

        parts = run(chunks, work, tuner)
        self.grads["weight"] = dw
        if has_bias:
            self.grads["bias"] = db
        dx = None
        if self.input_grad:
            dx = parts[0]
            for part in parts[1:]:
                dx += part
            dx = dx.reshape(self._saved_shape)
        return dx


class DenseDef(LayerDef):
    name = "dense"
    label = "Fully connected"
    summary = "dense: every output unit is a weighted sum of all inputs"
    family = "dense"
    short = "dense"
    torch = "nn.Linear"
    onnx = "Gemm"
    spatial = False
    ends_network = True
    fields = (
        FieldInfo(
            "units",
            "int",
            10,
            "units: how many outputs (the last dense layer has one per class)",
            minimum=1,
            maximum=1_000_000,
            required=True,
        ),
        BIAS,
        INIT,
        STD,
    )

    def describe(self, layer):
        return f"{layer['units']}"

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        if x.rank == 3:
            ctx.problem(
                f"needs a flat vector but gets {x.text()} feature maps; insert a flatten before it",
                "missing_flatten",
                (ctx.fix_insert("insert flatten before it", ctx.index, ctx.layer("flatten")),),
            )
        feats = x.size
        units = layer["units"]
        bias = units if layer["bias"] else 0
        out = Tensor.flat(units)
        if feats is None:
            return Inferred(out, "input size unknown, so the parameters are too")
        b = f" + {units}" if bias else ""
        params = feats * units + bias
        return Inferred(
            out, f"{feats}·{units}{b} = {params:,} parameters", params, 0, feats * units
        )

    def torch_module(self, layer, in_shapes):
        from torch import nn

        return nn.Linear(math.prod(in_shapes[0]), layer["units"], bias=layer["bias"])

    def build(self, layer, in_shapes, rng):
        return Dense(math.prod(in_shapes[0]), layer["units"], layer["bias"])

    def to_onnx(self, layer, g, xs, in_shapes):
        x = xs[0]
        if len(in_shapes[0]) != 1:  # feature maps are flattened in C order first, as ours
            x = g.node("Flatten", [x], axis=1, suffix="flatten")
        inputs = [x, g.param("weight")] + ([g.param("bias")] if layer["bias"] else [])
        return g.node("Gemm", inputs, transB=1)  # weight (units, in), PyTorch's layout

    def from_onnx(self, node):
        node.check_attrs({"alpha": None, "beta": None, "transA": 0, "transB": None})
        if node.ranks[0] != 2:
            raise node.unsupported("its input must be (batch, features)")
        weight = node.const(1, "weight")
        if not node.attr("transB", 0):
            weight = weight.T
        weight = weight * np.float32(node.attr("alpha", 1.0))
        bias = node.const(2, "bias")
        units = int(weight.shape[0])
        params = {"weight": weight}
        if bias is not None:
            bias = np.asarray(bias).reshape(-1)
            if bias.size not in (1, units):
                raise node.unsupported(f"a bias of {bias.size} values for {units} units")
            bias = np.broadcast_to(bias, (units,))
            params["bias"] = bias * np.float32(node.attr("beta", 1.0))
        return {"units": units, "bias": bias is not None}, params


DENSE = DenseDef()
