"""2-D convolution (PyTorch's nn.Conv2d with groups=1, dilation=1): its definition (fields,
shape rule, costs) and its compute layer, forward and backward."""

from __future__ import annotations

import math
import threading

import numpy as np

from engine.fields import BIAS, CONV_INIT, MAX_SIZE, STD, FieldInfo
from engine.kernels import conv as kernels
from engine.kernels import conv_epilogue, direct_conv, epilogue, grad_layout, nchw_store
from engine.kernels.activations import act_inplace_array, activation_code
from engine.kernels.conv import rows_to_weight, weight_to_rows
from engine.kernels.geometry import output_size
from engine.kernels.workers import THREADS, run, split
from engine.layers.base import Layer
from engine.layers.conv2d_direct import DirectRoutes
from engine.layers.conv2d_pointwise import PointwiseRoutes
from engine.layers.definition import Geometry, Inferred, LayerDef, Tensor, pair_text

__all__ = ["CONV2D", "Conv2D"]

#: Patch-matrix size (bytes) a group of images may fill: small enough to stay in cache
#: between the patches, the products and col2im; large enough for efficient products and few
#: Python-level calls per batch (on the 2-core EPYC, 1.5 MB was 2x faster than 128 KB for
#: MNIST's second convolution; 2.5 MB gained 1% on a quiet machine and lost it on a busy one).
COLUMN_BYTES = 1536 * 1024
#: From this many input channels on, patches are built as rows in (kh, kw, c) order (runs of
#: KW*C contiguous values); below it (one to three channels: grayscale and RGB inputs) as
#: columns in (c, kh, kw) order (runs of OW values), which copies in longer runs then.
#: Measured on LeNet-5 and MNIST layers, and for RGB on 3->8/16/32 3x3 convs at 32x32
#: (columns 10-20% faster forward, 5-10% forward + backward).
ROW_PATCHES_FROM_CHANNELS = 4
#: Up to this many values per patch (an RGB input's 3x3 patches: 27), the product is taken
#: as (K, m) = W' @ rows.T, which the epilogue reads in memory order: with patches this short,
#: the (m, K) product's speed-up is smaller than the cost of reading it transposed (3->32
#: filters at 32x32: 1.21 -> 0.76 ms per 14-image group; from 8 channels on (m, K) wins).
SHORT_PATCHES = 32
#: Chunks of the batch per worker thread (see :func:`engine.kernels.workers.run`).
CHUNKS_PER_THREAD = 3
#: The largest whole-batch padded copy of its input a convolution keeps from its forward pass
#: for the weight gradient (see ``forward``); above it, backward pads again.
KEEP_PADDED_BYTES = 32 * 1024 * 1024
#: Below this many multiply-adds a convolution runs on the calling thread alone: waking a
#: worker costs more than it saves. From there to TUNED_MACS its calls time both ways and
#: take the faster (engine.kernels.workers.Tuner); above, always the worker threads.
PARALLEL_MACS = 2_000_000
TUNED_MACS = 1_000_000_000


class Conv2D(DirectRoutes, PointwiseRoutes, Layer):
    """Convolution of (N, C, H, W) input with K filters of (C, KH, KW), stride and zero padding.

    Parameters: ``weight`` (K, C, KH, KW) and, unless ``bias=False``, ``bias`` (K,), both
    created as zeros (``engine.init`` fills them). Output (N, K, OH, OW) with
    OH = floor((H + 2*PH - KH) / SH) + 1.

    Computed as patches + one BLAS product per group of G images:
    y[g] = W' (K, KH*KW*C) @ rows.T (KH*KW*C, G*OH*OW), where rows are the patches in
    (kh, kw, c) order (:func:`engine.kernels.conv.im2row`, contiguous copies) and W' the
    weight reordered to match; a one-channel input uses im2col columns and the weight as it
    is (:data:`ROW_PATCHES_FROM_CHANNELS`). G is chosen so the patch matrix fits in cache
    (:data:`COLUMN_BYTES`); the batch is split into chunks of whole groups that the engine's
    worker threads take in turn (:mod:`engine.kernels.workers`). The backward pass rebuilds
    each group's patches from the saved input (cheaper than keeping megabytes of patches that
    fall out of cache) and sums the weight gradient in per-chunk buffers, reduced at the end.
    Products go through ``np.dot``, which releases the GIL around every BLAS call
    (``np.matmul`` keeps it when the output is small, which serialises the threads).

    In float32 the forward product is taken instead by the direct kernel of
    :mod:`engine.kernels.direct_conv` (no patches: a register-blocked micro-kernel reads a
    padded channels-last copy of the group's images), whose (m, K) output the same epilogues
    read; 1.5-2x faster than patches + BLAS on 8-64 filters. The backward pass keeps the GEMM
    route (its weight gradient needs the patches anyway).
    """

    kind = "conv2d"

    def __init__(self, in_channels, filters, kernel, stride=(1, 1), padding=(0, 0), bias=True):
        super().__init__()
        self.in_channels = int(in_channels)
        self.filters = int(filters)
        self.kernel = tuple(int(v) for v in kernel)
        self.stride = tuple(int(v) for v in stride)
        self.padding = tuple(int(v) for v in padding)
        kh, kw = self.kernel
        self.params["weight"] = np.zeros((self.filters, self.in_channels, kh, kw), np.float32)
        if bias:
            self.params["bias"] = np.zeros(self.filters, np.float32)
        self._saved_x = None
        self._saved_padded = None  # the forward's padded copy of x (see forward)
        self._saved_epilogue = None
        # Per-thread scratch (flat arrays sliced to each group's size), reused across calls:
        # a fresh allocation at every step would page-fault again each time. Keyed by the
        # thread's identity, so the network may also run whole chunks of a batch through
        # this layer from several threads at once.
        self._workspace: dict[tuple, np.ndarray] = {}

    def _buffer(self, key, size, dtype):
        buf = self._workspace.get(key)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._workspace[key] = np.empty(size, dtype)
        return buf

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel[0] * self.kernel[1]

    @property
    def fan_out(self) -> int:
        return self.filters * self.kernel[0] * self.kernel[1]

    def output_shape(self, input_shape):
        _, height, width = input_shape
        return (
            self.filters,
            output_size(height, self.kernel[0], self.stride[0], self.padding[0]),
            output_size(width, self.kernel[1], self.stride[1], self.padding[1]),
        )

    @property
    def _row_patches(self) -> bool:
        # A 1x1 kernel's columns are the input's planes copied in runs of OW (a plain GEMM on
        # the images as they lie); its rows would be one short run of C values per pixel.
        return self.in_channels >= ROW_PATCHES_FROM_CHANNELS and self.kernel != (1, 1)

    def _weight_matrix(self):
        """The weight as the product needs it: (K, KH*KW*C) for row patches, else
        (K, C*KH*KW) (PyTorch's layout, a view)."""
        weight = self.params["weight"]
        if self._row_patches:
            return weight_to_rows(weight)
        return weight.reshape(self.filters, -1)

    def _bias(self, dtype):
        bias = self.params.get("bias")
        if bias is None:
            return np.zeros(self.filters, dtype)
        return bias.astype(dtype, copy=False)

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"conv2d: input must be (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if x.dtype.kind != "f":
            raise ValueError(f"conv2d: input must be floating point, got {x.dtype}")
        return np.ascontiguousarray(x)

    def _setup(self, x):
        """Everything the group loops share: geometry, group size, thread chunks."""
        n_img, _, height, width = x.shape
        _, oh, ow = self.output_shape(x.shape[1:])
        plane = oh * ow
        hp, wp = height + 2 * self.padding[0], width + 2 * self.padding[1]
        if x.dtype == np.float32 and self.kernel != (1, 1) and direct_conv.available():
            # The direct kernels build no patches: a group is its padded images, its output
            # and its gradients, far less per image (8->8 filters 5x5: 1 image per patch
            # group, 14 per direct group; fewer Python-level calls per batch).
            per_image = hp * wp * self.in_channels + 3 * plane * max(self.filters, 16)
        else:
            per_image = self.fan_in * plane
        group = max(1, min(n_img, COLUMN_BYTES // max(1, per_image * x.itemsize)))
        macs = n_img * plane * self.fan_in * self.filters
        # A few equal chunks per thread: a thread that falls behind (a busy machine) leaves
        # its next chunks to the others. Groups never straddle chunks, so a group is at most
        # a chunk (else one thread could get twice the work of the other).
        threads = THREADS if macs >= PARALLEL_MACS else 1
        count = CHUNKS_PER_THREAD * threads if threads > 1 else 1
        chunks = split(n_img, 1, count)
        if group < max(hi - lo for lo, hi in chunks):
            # Chunks of whole groups: chunks of 11 images in groups of 2 would end in a
            # 1-image group each (more, smaller products and more Python-level calls).
            groups = split(-(-n_img // group), 1, count)
            chunks = [(lo * group, min(hi * group, n_img)) for lo, hi in groups]
        group = min(group, max(hi - lo for lo, hi in chunks))
        return oh, ow, plane, group, chunks, hp * wp * x.shape[1]

    def _tuned(self, *key):
        """The tuner of calls of kind ``key`` (its first two entries: the pass and the input
        shape), or None where the work is large enough that the worker threads always pay."""
        _, oh, ow = self.output_shape(key[1][1:])
        macs = key[1][0] * oh * ow * self.fan_in * self.filters
        return self.tuner(key) if macs < TUNED_MACS else None

    def _fill_patches(self, xs, slot, geometry, padded_size):
        """Patches of the images ``xs`` in slot's scratch, built by the private kernels (the
        shapes were checked once per call): rows (G*P, KH*KW*C) or columns (C*KH*KW, G*P),
        see :data:`ROW_PATCHES_FROM_CHANNELS`. Returns (patches, padded scratch or None)."""
        oh, ow = geometry[-2:]
        m = xs.shape[0] * oh * ow
        buf = self._buffer(("patches", slot), self.fan_in * m, xs.dtype)[: self.fan_in * m]
        if not self._row_patches:
            cols = buf.reshape(self.fan_in, m)
            kernels._im2col(xs, *geometry, cols)
            return cols, None
        rows = buf.reshape(m, self.fan_in)
        hp = xs.shape[2] + 2 * self.padding[0]
        wp = xs.shape[3] + 2 * self.padding[1]
        scratch = self._buffer(("padded", slot), padded_size, xs.dtype)[:padded_size]
        scratch = scratch.reshape(hp, wp, self.in_channels)
        kernels._im2row(xs, *geometry, scratch, rows)
        return rows, scratch

    def forward(self, x, train=False, record=False, relu=False, pool=None, affine=None,
                act=None, slope=0.0, pool_mode="max", squeeze=False):  # fmt: skip
        """Output (N, K, OH, OW) for ``x`` (N, C, H, W).

        The network fuses what follows a convolution into the epilogue of each group's
        product, while it is in cache: ``relu=True`` applies relu (exactly as
        :class:`engine.layers.ReLU` would), ``act`` any activation by name ("relu",
        "leaky_relu" with ``slope``, "tanh", "sigmoid"; exactly as its layer would);
        ``pool=(kernel, stride)`` then pools without padding (``pool_mode`` "max" or "avg",
        exactly as :class:`engine.layers.MaxPool2D` / :class:`engine.layers.AvgPool2D`) and
        returns the pooled maps. :meth:`backward` then takes the gradient of that fused
        output. ``affine=(scale, shift)`` (K,) each, an evaluation-mode batch norm, is folded
        into the weights and bias before the product: w·scale, b·scale + shift (not with
        ``record``). ``squeeze``: return (N, K) (a global average pool's output).
        """
        x = self._check(x)
        n_img = x.shape[0]
        oh, ow, plane, group, chunks, padded_size = self._setup(x)
        geometry = (*self.kernel, *self.stride, *self.padding, oh, ow)
        weight = self._weight_matrix().astype(x.dtype, copy=False)
        bias = self._bias(x.dtype)
        if affine is not None:
            if record:
                raise ValueError("conv2d: a folded batch norm has no backward; run it apart")
            scale, shift = (np.asarray(a, x.dtype) for a in affine)
            weight = weight * scale[:, None]
            bias = bias * scale + shift
        code = activation_code(act if act is not None else bool(relu), x.dtype)
        slope = x.dtype.type(slope)
        avg = pool is not None and pool_mode == "avg"
        full = None
        if pool is None:
            y = np.empty((n_img, self.filters, plane), x.dtype)
            argmax = None
        elif avg:
            (pkh, pkw), (psh, psw) = pool
            pooled = (output_size(oh, pkh, psh, 0), output_size(ow, pkw, psw, 0))
            if min(pooled) < 1:
                raise ValueError(f"conv2d: pool {pool} does not fit a {oh}x{ow} output")
            y = np.empty((n_img, self.filters, *pooled), x.dtype)
            # The activation before pooling: its derivative needs it (a 1-element dummy
            # when nothing will run backward).
            full = np.empty((n_img, self.filters, plane) if record else (1, 1, 1), x.dtype)
            argmax = None
        else:
            (pkh, pkw), (psh, psw) = pool
            pooled = (output_size(oh, pkh, psh, 0), output_size(ow, pkw, psw, 0))
            if min(pooled) < 1:
                raise ValueError(f"conv2d: pool {pool} does not fit a {oh}x{ow} output")
            y = np.empty((n_img, self.filters, *pooled), x.dtype)
            argmax = np.empty(y.shape, np.int32)
        k_out = self.filters

        direct = self._direct_plan(x, weight, group, oh, ow)
        # A recorded filter-lane product whose weight gradient takes the filter-lane kernel
        # too: each group pads into its slice of one whole-batch channels-last copy, which
        # backward reads again instead of padding x a second time.
        # At most KEEP_PADDED_BYTES a layer: a 224x224 network's copies would add up to
        # another set of activations, where one pad pass is a small share of the work.
        if record and direct is not None and direct["kind"] == "lanes":
            hp, wp = direct["hw"]
            keep = (n_img, hp, wp, self.in_channels)
            if self._lanes_weight_grad(ow) and 4 * math.prod(keep) <= KEEP_PADDED_BYTES:
                direct = {**direct, "keep": np.empty(keep, np.float32), "layout": "nhwc"}
        # Likewise a row-kernel product whose weight gradient takes the row kernel on the
        # same padded NCHW layout (its rows need no extra width): 8->8 filters at 32x32,
        # forward and backward 4.4 -> 3.9 ms with the copy the output gradient also skips.
        if record and direct is not None and direct["kind"] == "rows":
            hp, wp = direct["hw"]
            keep = (n_img, self.in_channels, hp, wp)
            if (
                not self._lanes_weight_grad(ow)
                and self._rows_weight_width(x, ow) == wp
                and 4 * math.prod(keep) <= KEEP_PADDED_BYTES
            ):
                direct = {**direct, "keep": np.empty(keep, np.float32), "layout": "nchw"}
        # The row kernel writes the maps in place, bias and relu in its stores (a tanh or
        # sigmoid then runs over them while they are in cache): no epilogue pass.
        in_place = direct is not None and direct["kind"] == "rows" and pool is None
        pointwise = self._pointwise(pool)
        gap = self._pointwise_gap(pool, pool_mode, (oh, ow))
        if gap and not record:
            full = np.empty((n_img, self.filters, plane), x.dtype)
        if in_place:
            biased = affine is not None or "bias" in self.params
            direct = self._in_place_plan(direct, bias, code, slope, ow, biased)
            # A group is then only its padded images and the maps it writes: larger groups,
            # fewer calls (3->32 filters at 32x32: 3 images a group, 1.92 ms; 10, 1.3 ms).
            per_image = (x.shape[2] + 2 * self.padding[0]) * (x.shape[3] + 2 * self.padding[1])
            per_image = (per_image * self.in_channels + plane * k_out) * x.itemsize
            widest = max(hi - lo for lo, hi in chunks)
            group = max(group, min(widest, COLUMN_BYTES // per_image))

        def work(_, lo, hi):
            slot = threading.get_ident()
            for g0 in range(lo, hi, group):
                g1 = min(g0 + group, hi)
                m = (g1 - g0) * plane
                if pointwise:
                    self._pointwise_forward(x, g0, g1, weight, bias, code, slope, y)
                    continue
                if gap:
                    self._pointwise_gap_forward(x, g0, g1, weight, bias, code, slope, y, full)
                    continue
                if in_place:
                    target = y[g0:g1].reshape(g1 - g0, k_out, oh, ow)
                    self._direct_product(x, g0, g1, slot, direct, target)
                    if direct["after"]:
                        act_inplace_array(target, code, slope)
                    continue
                if direct is not None:
                    out = self._direct_product(x, g0, g1, slot, direct)
                elif self._row_patches and self.fan_in > SHORT_PATCHES:
                    # (m, K) = rows @ W'.T, read by the epilogue as its (K, m) transpose:
                    # OpenBLAS runs the long dimension first 1.2-1.35x faster for 16-64
                    # filters (benchmarks/bench_engine.py; resnet20's convolutions).
                    patches, _ = self._fill_patches(x[g0:g1], slot, geometry, padded_size)
                    out = self._buffer(("out", slot), k_out * m, x.dtype)[: k_out * m]
                    out = out.reshape(m, k_out)
                    np.dot(patches, weight.T, out=out)
                    out = out.T
                else:
                    patches, _ = self._fill_patches(x[g0:g1], slot, geometry, padded_size)
                    out = self._buffer(("out", slot), k_out * m, x.dtype)[: k_out * m]
                    out = out.reshape(k_out, m)
                    if self._row_patches:
                        np.dot(weight, patches.T, out=out)
                    else:
                        np.dot(weight, patches, out=out)
                if pool is None:
                    # A pixel-major product in vector transposes, else value by value.
                    if not nchw_store.store(out.T, bias, code, slope, y[g0:g1]):
                        conv_epilogue._bias_act_rows_to_nchw(out, bias, code, slope, y[g0:g1])
                elif avg:
                    epilogue._bias_act_avg_pool(
                        out, bias, code, slope, area, ow, pkh, pkw, psh, psw, plane,
                        y[g0:g1], full[g0:g1] if record else full, record,
                    )  # fmt: skip
                else:
                    pixel_major = pkh <= psh and pkw <= psw
                    pixels = conv_epilogue.pixel_rows(out) if pixel_major else None
                    fn = conv_epilogue._bias_act_max_pool if pixels is None else (
                        conv_epilogue._bias_act_max_pool_pixels)  # fmt: skip
                    fn(
                        out if pixels is None else pixels, bias, code, slope, ow, pkh, pkw,
                        psh, psw, plane, y[g0:g1], argmax[g0:g1],
                    )  # fmt: skip

        area = x.dtype.type(pool[0][0] * pool[0][1]) if avg else x.dtype.type(1)
        kind = ("forward", x.shape, record, code, pool, pool_mode, affine is None)
        run(chunks, work, self._tuned(*kind))
        if record:
            self._saved_x = x
            kept = direct is not None and "keep" in direct
            self._saved_padded = (direct["layout"], direct["keep"]) if kept else None
            self._saved_epilogue = (code, slope, pool, y, full if avg else argmax, avg)
        if squeeze:
            return y.reshape(n_img, k_out)
        if pool is None:
            return y.reshape(n_img, k_out, oh, ow)
        return y

    #: backward takes ``into`` (see :meth:`backward`); the network then hands it the gradient
    #: that the input's other readers already sent.
    accumulates = True

    def backward(self, dy, into=None):
        """The input gradient for ``dy``; with ``into`` (the gradient that the input's other
        readers sent: a residual shortcut's), that plus the input gradient, added in each
        batch chunk by its worker thread while the chunk is in cache (resnet20's shortcuts
        were summed afterwards by one thread, 0.76 ms each), in ``into``'s memory when it is
        a writable C-contiguous array of the input's shape and dtype, else in a new one."""
        x = self._require_saved(self._saved_x)
        code, slope, pool, y, argmax, avg = self._saved_epilogue
        n_img = x.shape[0]
        k_out = self.filters
        dy = np.ascontiguousarray(dy, dtype=x.dtype)
        if dy.size != y.size or dy.shape[0] != n_img:
            raise ValueError(f"conv2d: gradient shape {dy.shape} does not match output {y.shape}")
        # (N, K, windows): the layout the gradient kernels index.
        dy3 = dy.reshape(n_img, k_out, -1)
        y3 = y.reshape(dy3.shape)
        argmax3 = None if argmax is None or avg else argmax.reshape(dy3.shape)
        oh, ow, plane, group, chunks, padded_size = self._setup(x)
        geometry = (*self.kernel, *self.stride, *self.padding, oh, ow)
        weight = self._weight_matrix().astype(x.dtype, copy=False)
        dx = np.empty(x.shape, x.dtype) if self.input_grad else None
        other = None  # an ``into`` of another layout: summed at the end
        if into is not None and (dx is None or not _fits(into, x)):
            into, other = None, into
        if avg:
            (pkh, pkw), (psh, psw) = pool
            area = x.dtype.type(pkh * pkw)
            dy4 = dy.reshape(y.shape)

        dplan = self._direct_grad_plan(x, group, oh, ow) if dx is not None else None
        # The weight gradient by the direct kernel too: then no group builds patches.
        wplan = self._direct_weight_plan(x, group, oh, ow)
        # Every product on a direct kernel and no pool: they read each group's gradient as
        # a (G, K, OH, OW) block of dy itself (times the activation's derivative), not as the
        # GEMM route's (K, m) rows, which cost a transposing pass (engine/kernels/grad_layout.py).
        blocks = wplan is not None and pool is None and (dx is None or dplan is not None)
        pointwise = self._pointwise(pool)
        gap = self._pointwise_gap(pool, "avg" if avg else "max", (oh, ow))
        has_bias = "bias" in self.params
        if blocks or pointwise:
            dy4 = dy.reshape(n_img, k_out, oh, ow)
            y4 = y.reshape(dy4.shape)

        def work(_, lo, hi):
            slot = threading.get_ident()
            # Per-thread partial sums: no two threads ever add into one array.
            dw = np.zeros(weight.shape if wplan is None else wplan["shape"], x.dtype)
            db = np.zeros(k_out, np.float64)
            part = self._buffer(("dw", slot), dw.size, x.dtype)[: dw.size].reshape(dw.shape)
            for g0 in range(lo, hi, group):
                g1 = min(g0 + group, hi)
                m = (g1 - g0) * plane
                if gap:  # argmax holds the activation before pooling
                    size = (g1 - g0) * k_out * plane
                    out = self._buffer(("dy", slot), size, x.dtype)[:size]
                    block = self._pointwise_gap_grad(dy4, argmax, g0, g1, code, slope,
                                                     out.reshape(g1 - g0, k_out, plane))  # fmt: skip
                    self._pointwise_backward(x, g0, g1, block, weight, dw, db,
                                             None if dx is None else dx[g0:g1])  # fmt: skip
                    continue
                if blocks or pointwise:
                    block = dy4[g0:g1]
                    if (
                        code != 0
                        and dx is None
                        and not pointwise
                        and wplan["kind"] == "lanes"
                        and nchw_store.applies(k_out, plane, wplan["kpad"], code, x.dtype)
                    ):
                        # A first layer: the activation's derivative goes into the weight
                        # gradient's transposing pass, and the bias sums come from its output.
                        fused = (y4[g0:g1], code, slope)
                        dw += self._direct_weight_grad(x, g0, g1, block, slot, wplan, fused,
                                                       db if has_bias else None)  # fmt: skip
                        continue
                    if code != 0:
                        size = block.size
                        out = self._buffer(("dy", slot), size, x.dtype)[:size]
                        block = grad_layout.act_grad_block(
                            block, y4[g0:g1], code, slope, out.reshape(block.shape)
                        )
                    if pointwise:
                        self._pointwise_backward(x, g0, g1, block.reshape(g1 - g0, k_out, -1),
                                                 weight, dw, db,
                                                 None if dx is None else dx[g0:g1])  # fmt: skip
                        continue
                    dw += self._direct_weight_grad(x, g0, g1, block, slot, wplan)
                    if has_bias:
                        grad_layout.add_block_sums(block, db)
                    if dx is not None:
                        self._direct_input_grad(block, g1 - g0, slot, dplan, dx[g0:g1])
                    continue
                if wplan is None:
                    patches, scratch = self._fill_patches(x[g0:g1], slot, geometry, padded_size)
                elif dx is not None and dplan is None:
                    # The GEMM route's input gradient needs no patches, only their shape and
                    # (row patches) the padded scratch that row2im zeroes and sums into.
                    cut = (m, self.fan_in) if self._row_patches else (self.fan_in, m)
                    scratch = self._buffer(("padded", slot), padded_size, x.dtype)[:padded_size]
                    scratch = scratch.reshape(x.shape[2] + 2 * self.padding[0],
                                              x.shape[3] + 2 * self.padding[1],
                                              self.in_channels)  # fmt: skip
                if pool is None and code == 0 and g1 - g0 == 1:
                    dy_rows = dy3[g0]
                else:
                    dy_rows = self._buffer(("dy", slot), k_out * m, x.dtype)[: k_out * m]
                    dy_rows = dy_rows.reshape(k_out, m)
                    if avg:
                        # argmax holds the activation before pooling; sums the bias gradient.
                        epilogue._avg_pool_act_grad_to_rows(
                            dy4[g0:g1], argmax[g0:g1], code, slope, area, ow, pkh, pkw,
                            psh, psw, dy_rows, db,
                        )  # fmt: skip
                    elif pool is not None:
                        # Also sums the bias gradient, from the 4x smaller pooled gradient.
                        conv_epilogue._max_pool_act_grad_to_rows(
                            dy3[g0:g1], y3[g0:g1], argmax3[g0:g1], code, slope, plane,
                            dy_rows, db,
                        )  # fmt: skip
                    else:
                        conv_epilogue._act_grad_to_rows(dy3[g0:g1], y3[g0:g1], code, slope, dy_rows)
                if wplan is not None:
                    dw += self._direct_weight_grad(x, g0, g1, dy_rows, slot, wplan)
                elif self._row_patches:
                    dw += np.dot(dy_rows, patches, out=part)
                else:
                    dw += np.dot(dy_rows, patches.T, out=part)
                if pool is None and has_bias:
                    kernels._add_row_sums(dy_rows, db)
                if dx is None:
                    continue
                if dplan is not None:
                    self._direct_input_grad(dy_rows, g1 - g0, slot, dplan, dx[g0:g1])
                    continue
                shape = patches.shape if wplan is None else cut
                size = shape[0] * shape[1]
                dpatches = self._buffer(("dpatches", slot), size, x.dtype)[:size].reshape(shape)
                if self._row_patches:
                    np.dot(dy_rows.T, weight, out=dpatches)
                    kernels._row2im(dpatches, *geometry, scratch, dx[g0:g1])
                else:
                    np.dot(weight.T, dy_rows, out=dpatches)
                    kernels._col2im(dpatches, *geometry, dx[g0:g1])
            if into is not None:  # this chunk's input gradient is still in cache
                np.add(into[lo:hi], dx[lo:hi], out=into[lo:hi])
            return dw, db

        parts = run(chunks, work, self._tuned("backward", x.shape))
        dw, db = parts[0]
        for more_w, more_b in parts[1:]:
            dw += more_w
            db += more_b
        shape = self.params["weight"].shape
        if wplan is not None:  # (KH*KW*C, K) in (kh, kw, c) order
            kh, kw = self.kernel
            dw = dw.reshape(kh, kw, self.in_channels, k_out).transpose(3, 2, 0, 1)
            self.grads["weight"] = np.ascontiguousarray(dw)
        elif self._row_patches:
            self.grads["weight"] = rows_to_weight(dw, shape)
        else:
            self.grads["weight"] = dw.reshape(shape)
        if "bias" in self.params:
            self.grads["bias"] = db.astype(x.dtype)
        if into is not None:
            return into
        return dx if other is None or dx is None else other + dx


def _fits(into, x) -> bool:
    """Whether ``into`` can take x's input gradient added in place."""
    return (
        into.shape == x.shape
        and into.dtype == x.dtype
        and into.flags.c_contiguous
        and into.flags.writeable
    )


class Conv2DDef(LayerDef):
    name = "conv2d"
    label = "Convolution"
    summary = "conv: slides small learned filters over the image; each filter makes one feature map"
    family = "conv"
    short = "conv"
    torch = "nn.Conv2d"
    onnx = "Conv"
    needs_maps = True
    fields = (
        FieldInfo(
            "filters",
            "int",
            8,
            "filters: how many filters, so how many feature maps (output channels)",
            minimum=1,
            maximum=65536,
            required=True,
        ),
        FieldInfo(
            "kernel",
            "pair",
            3,
            "kernel: the width and height F of each filter, in pixels",
            minimum=1,
            maximum=MAX_SIZE,
            required=True,
        ),
        FieldInfo(
            "stride",
            "pair",
            1,
            "stride: how many pixels the filter moves at each step",
            minimum=1,
            maximum=MAX_SIZE,
        ),
        FieldInfo(
            "padding",
            "padding",
            0,
            "padding: zeros added around the border; 'same' keeps the size at stride 1, "
            "'valid' adds none",
            minimum=0,
            maximum=MAX_SIZE,
            choices=("same", "valid"),
        ),
        BIAS,
        CONV_INIT,
        STD,
    )

    def describe(self, layer):
        k = layer["kernel"]
        s = f"{layer['filters']}@{k[0]}×{k[1]}"
        if layer["stride"] != (1, 1):
            s += f" s{pair_text(layer['stride'])}"
        pad = layer["padding"]
        if pad == "same":
            s += " same"
        elif not isinstance(pad, str) and pad != (0, 0):
            s += f" p{pair_text(pad)}"
        return s

    def window(self, layer):
        """ "same" padding is (k − 1) // 2 per axis (which keeps the size for odd kernels at
        stride 1); "valid" is 0."""
        k, p = layer["kernel"], layer["padding"]
        if p == "same":
            p = ((k[0] - 1) // 2, (k[1] - 1) // 2)
        elif p == "valid":
            p = (0, 0)
        return Geometry(k, layer["stride"], p)

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        g = self.window(layer)
        sizes, formula = ctx.window(layer, g, layer["padding"] == "same", False, x)
        k, (kh, kw), c = layer["filters"], g.kernel, x.channels
        if layer["init"] == "kernels" and (min(kh, kw) < 3 or (kh - 3) % 2 or (kw - 3) % 2):
            ctx.problem(
                f'init "kernels" needs an odd kernel of 3×3 or more to centre the named '
                f"kernels in, got {kh}×{kw}",
                "init_kernels",
                (ctx.fix_field("init auto", ctx.index, "init", "auto"),),
            )
        bias = k if layer["bias"] else 0
        params = macs = 0
        if c is None:
            formula += "; its input channels are unknown, so its parameters are too"
        else:
            params = kh * kw * c * k + bias
            b = f" + {k}" if bias else ""
            formula += f"; {kh}·{kw}·{c}·{k}{b} = {params:,} parameters"
            if None not in sizes.values():
                macs = k * c * kh * kw * sizes["height"] * sizes["width"]
        return Inferred(Tensor.maps(k, sizes["height"], sizes["width"]), formula, params, 0, macs)

    def torch_module(self, layer, in_shapes):
        from torch import nn

        g = self.window(layer)
        return nn.Conv2d(in_shapes[0][0], layer["filters"], g.kernel, g.stride, g.padding,
                         bias=layer["bias"])  # fmt: skip

    def build(self, layer, in_shapes, rng):
        g = self.window(layer)
        return Conv2D(
            in_shapes[0][0], layer["filters"], g.kernel, g.stride, g.padding, layer["bias"]
        )

    def to_onnx(self, layer, g, xs, in_shapes):
        w = self.window(layer)
        inputs = [xs[0], g.param("weight")] + ([g.param("bias")] if layer["bias"] else [])
        return g.node("Conv", inputs, kernel_shape=list(w.kernel), strides=list(w.stride),
                      pads=[*w.padding, *w.padding])  # fmt: skip

    def from_onnx(self, node):
        node.check_attrs({"kernel_shape": None, "strides": None, "pads": None,
                          "dilations": None, "auto_pad": None, "group": None})  # fmt: skip
        weight, bias = node.const(1, "weight"), node.const(2, "bias")
        groups = node.attr("group", 1)
        if groups != 1:
            what = "depthwise" if weight.shape[1] == 1 else "grouped"
            raise node.unsupported(f"group={groups} ({what} convolution) is not supported")
        kernel, stride, padding = node.window()
        if weight.shape[2:] != kernel:
            raise node.unsupported(f"weight {weight.shape} does not match kernel {kernel}")
        fields = {"filters": int(weight.shape[0]), "kernel": kernel, "stride": stride,
                  "padding": padding, "bias": bias is not None}  # fmt: skip
        params = {"weight": weight} | ({"bias": bias} if bias is not None else {})
        return fields, params


CONV2D = Conv2DDef()
