"""The direct-kernel routes of :class:`engine.layers.conv2d.Conv2D`: its forward product,
input gradient and weight gradient without patches, by the generated micro-kernels.

Two kernels (both float32, both on generated LLVM code):

- the row kernel (:mod:`engine.kernels.direct_conv_rows`): vectors of output pixels along a
  row, channel-major data, for stride 1 and rows at least one vector wide;
- the filter-lane kernel (:mod:`engine.kernels.direct_conv`): vectors of filters,
  channels-last data, for any stride and size, and for the weight gradient.

Each ``_direct_*_plan`` returns what its step needs for one call (packed weights, kernels,
pixel offsets) or None when the GEMM route of the layer takes the step (float64, no usable
LLVM, ``CNN_WORKBENCH_DIRECT_CONV=0``, or a shape the kernels do not cover). 1x1 kernels are
not theirs: memory-bound, they are matrix products in the network's layout
(:mod:`engine.layers.conv2d_pointwise`; 16->32 filters at 32x32: backward 5.95 ms on the GEMM
route, 8.56 direct), or with padding or a fused pool the GEMM route. The products come
out as (K, m) arrays (or views) that the layer's epilogues read, like the GEMM route's.
Every route is tested against the GEMM route (tests/engine/test_direct_conv.py).
"""

from __future__ import annotations

import numpy as np

from engine.kernels import conv as kernels
from engine.kernels import conv_epilogue, direct_conv, grad_layout, nchw_store
from engine.kernels import direct_conv_rows as rows_kernel
from engine.kernels.activations import ACT_LEAKY, ACT_NONE, ACT_RELU

__all__ = ["DirectRoutes"]


class DirectRoutes:
    """Mixed into Conv2D (which provides the fields, ``params`` and ``_buffer``)."""

    def _weight_view(self, weight) -> np.ndarray:
        """The weight matrix of the GEMM route (maybe with a batch norm folded in) seen in
        PyTorch's (K, C, KH, KW) layout (a view)."""
        kh, kw = self.kernel
        if self._row_patches:
            return weight.reshape(self.filters, kh, kw, self.in_channels).transpose(0, 3, 1, 2)
        return weight.reshape(self.filters, self.in_channels, kh, kw)

    def _weight_nchw(self, weight) -> np.ndarray:
        """:meth:`_weight_view`, C-contiguous float32."""
        return np.ascontiguousarray(self._weight_view(weight), np.float32)

    # ------------------------------------------------------------------ forward

    def _direct_plan(self, x, weight, group, oh, ow):
        """The forward product's plan: the row kernel where it applies, else the filter-lane
        kernel; None for the GEMM route (float64, no LLVM, one input channel on the lane
        kernel: the GEMM route's column patches are faster there, 1->32 3x3 3.5 vs 2.4 ms)."""
        if x.dtype != np.float32 or self.kernel == (1, 1) or not direct_conv.available():
            return None
        hp = x.shape[2] + 2 * self.padding[0]
        wp = x.shape[3] + 2 * self.padding[1]
        if rows_kernel.applies(self.filters, self.stride, ow):
            nv = rows_kernel.vectors(ow)
            calls = [(k0, k1, rows_kernel.kernel(k1 - k0, nv))
                     for k0, k1 in rows_kernel.blocks(self.filters, nv)]  # fmt: skip
            return {"kind": "rows", "calls": calls, "weight": self._weight_nchw(weight),
                    "hw": (hp, wp), "out_hw": (oh, ow)}  # fmt: skip
        if self.in_channels < 2:
            return None
        mr, vl, nv = direct_conv.tile(self.filters)
        packed = direct_conv.pack_weight(self._weight_view(weight), vl * nv)
        offsets = direct_conv.pixel_offsets(
            group, (hp, wp), self.in_channels, (oh, ow), self.stride, mr
        )
        return {"kind": "lanes", "kernel": direct_conv.kernel(mr, vl, nv), "mr": mr,
                "packed": packed, "offsets": offsets, "hw": (hp, wp),
                "out_hw": (oh, ow), "filters": self.filters}  # fmt: skip

    def _in_place_plan(self, plan, bias, code, slope, ow, biased):
        """A row plan whose kernels store finished maps: ``stores`` (k0, k1, kernel, extra)
        per block, with the bias (``biased``) and a relu or leaky relu (activation ``code``)
        in the stores; ``after`` when another activation must still run over them."""
        epi = {ACT_RELU: rows_kernel.EPI_RELU, ACT_LEAKY: rows_kernel.EPI_LEAKY}.get(
            code, rows_kernel.EPI_BIAS if biased else rows_kernel.EPI_NONE
        )
        nv = rows_kernel.vectors(ow)
        stores = [(k0, k1, rows_kernel.kernel(k1 - k0, nv, epi),
                   None if epi == rows_kernel.EPI_NONE
                   else rows_kernel.epilogue_args(bias[k0:k1], slope))
                  for k0, k1, _ in plan["calls"]]  # fmt: skip
        return {**plan, "stores": stores, "after": code not in (ACT_NONE, ACT_RELU, ACT_LEAKY)}

    def _direct_product(self, x, g0, g1, slot, plan, target=None):
        """The (K, m) product of images g0..g1 by the planned kernel; or, given ``target``
        (g1 - g0, K, OH, OW) and a row plan, the product written there (returns None)."""
        hp, wp = plan["hw"]
        oh, ow = plan["out_hw"]
        count, chans = g1 - g0, self.in_channels
        m = count * oh * ow
        size = count * hp * wp * chans
        padded = self._buffer(("dpad", slot), size, np.float32)[:size]
        if plan["kind"] == "rows":
            if "keep" in plan:
                padded = plan["keep"][g0:g1]  # kept for the weight gradient
            else:
                padded = padded.reshape(count, chans, hp, wp)
            kernels._pad_nchw_block(x, g0, g1, self.padding[0], self.padding[1], padded)
            if target is not None:
                for k0, k1, fn, extra in plan["stores"]:
                    rows_kernel.run(fn, padded, plan["weight"][k0:k1], target[:, k0:k1],
                                    self.kernel, (oh, ow), extra)  # fmt: skip
                return None
            out = self._buffer(("dout", slot), self.filters * m, np.float32)
            out = out[: self.filters * m].reshape(self.filters, m)
            for k0, k1, fn in plan["calls"]:
                rows_kernel.run(fn, padded, plan["weight"][k0:k1], out[k0:k1], self.kernel,
                                (oh, ow))  # fmt: skip
            return out
        if "keep" in plan:
            padded = plan["keep"][g0:g1]  # kept for the weight gradient
        else:
            padded = padded.reshape(count, hp, wp, chans)
        nchw_store.pad_block(x, g0, g1, self.padding[0], self.padding[1], padded)
        return self._lanes_product(
            padded, m, plan, chans, count, (oh, ow), self.stride, ("dout", slot)
        )

    def _lanes_product(self, padded, m, plan, chans, count, out_hw, stride, key):
        """The filter-lane kernel on a padded channels-last block: a (K', m) view; ``key``
        names the thread's output buffer."""
        offsets = plan["offsets"]
        if m < plan["mr"]:  # fewer output pixels than one tile: a padded table
            offsets = direct_conv.pixel_offsets(
                count, padded.shape[1:3], chans, out_hw, stride, plan["mr"]
            )
        width = plan["packed"].shape[0] * plan["packed"].shape[-1]
        rows = max(m, plan["mr"])
        out = self._buffer(key, rows * width, np.float32)[: rows * width].reshape(rows, width)
        direct_conv.run(plan["kernel"], padded, plan["packed"], out, offsets, m, chans,
                        *self.kernel, padded.shape[2])  # fmt: skip
        return out[:m, : plan["filters"]].T

    # ------------------------------------------------------------------ input gradient

    def _direct_grad_plan(self, x, group, oh, ow):
        """The input gradient of a stride-1 convolution is a stride-1 convolution of the
        output gradient zero-padded by KH-1-PH, with the filters flipped and their in/out
        channels swapped: its plan on the row or the filter-lane kernel, or None for the
        GEMM route (other strides, a padding wider than the kernel, float64, no LLVM)."""
        kh, kw = self.kernel
        ph, pw = self.padding
        if x.dtype != np.float32 or self.kernel == (1, 1) or not direct_conv.available():
            return None
        if self.stride != (1, 1):
            if self.in_channels < 2:
                return None
            return self._strided_grad_plan(group, oh, ow, *x.shape[2:])
        if ph > kh - 1 or pw > kw - 1:
            return None
        flipped = self.params["weight"].transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        qh, qw = kh - 1 - ph, kw - 1 - pw
        hw = (oh + 2 * qh, ow + 2 * qw)
        out_hw = tuple(x.shape[2:])
        plan = {"q": (qh, qw), "hw": hw, "out_hw": out_hw, "in_hw": (oh, ow),
                "filters": self.in_channels,
                "zero": np.zeros(self.in_channels, np.float32)}  # fmt: skip
        if rows_kernel.applies(self.in_channels, (1, 1), out_hw[1]):
            nv = rows_kernel.vectors(out_hw[1])
            calls = [(c0, c1, rows_kernel.kernel(c1 - c0, nv))
                     for c0, c1 in rows_kernel.blocks(self.in_channels, nv)]  # fmt: skip
            return {**plan, "kind": "rows", "calls": calls,
                    "weight": np.ascontiguousarray(flipped, np.float32)}  # fmt: skip
        if self.in_channels <= rows_kernel.MAX_FILTERS:
            # Its "filters" are the input channels: a few of them would leave most lanes of
            # the filter-lane kernel idle (LeNet's 6 at 14x14: 2.19 vs 1.81 ms on the GEMM route).
            return None
        mr, vl, nv = direct_conv.tile(self.in_channels)
        return {**plan, "kind": "lanes", "kernel": direct_conv.kernel(mr, vl, nv), "mr": mr,
                "packed": direct_conv.pack_weight(flipped, vl * nv),
                "offsets": direct_conv.pixel_offsets(group, hw, self.filters, out_hw,
                                                     (1, 1), mr)}  # fmt: skip

    def _strided_grad_plan(self, group, oh, ow, height, width):
        """The input gradient of a strided convolution as S_h*S_w stride-1 convolutions, one
        per output phase (rh, rw) = ((h + PH) mod SH, (w + PW) mod SW): phase (rh, rw) reads
        the taps i = rh + SH*t, j = rw + SW*t' (a sub-kernel, flipped, channels swapped) over
        one zero-padded channels-last copy of the output gradient, and its results land on
        every SH-th row and SW-th column of dx. The sub-kernels together hold every tap once,
        so the work is the forward's; on the filter-lane kernel."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding

        def phases(k, s, p, size):
            out = []
            for r in range(s):
                taps = -(-(k - r) // s) if r < k else 0
                u_min = -((r - p) // s)  # first u with s*u + r - p >= 0
                u_max = (size - 1 + p - r) // s
                out.append((r, taps, u_min, u_max - u_min + 1))
            return out

        rows, cols = phases(kh, sh, ph, height), phases(kw, sw, pw, width)
        front_h = max([t - 1 - u0 for _, t, u0, n in rows if t and n > 0] + [0])
        front_w = max([t - 1 - u0 for _, t, u0, n in cols if t and n > 0] + [0])
        need_h = max([n + t - 1 + front_h - (t - 1 - u0) for _, t, u0, n in rows if t and n > 0]
                     + [0])  # fmt: skip
        need_w = max([n + t - 1 + front_w - (t - 1 - u0) for _, t, u0, n in cols if t and n > 0]
                     + [0])  # fmt: skip
        hp, wp = max(need_h, front_h + oh), max(need_w, front_w + ow)
        mr, vl, nv = direct_conv.tile(self.in_channels)
        weight = self.params["weight"]
        calls, gaps = [], False
        for rh, th, uh0, uh in rows:
            for rw, tw, uw0, uw in cols:
                if uh <= 0 or uw <= 0:
                    continue
                if th == 0 or tw == 0:
                    gaps = True  # positions no tap reaches: their gradient is 0
                    continue
                sub = weight[:, :, rh + sh * (th - 1) :: -sh, rw + sw * (tw - 1) :: -sw]
                sub = sub[:, :, :th, :tw].transpose(1, 0, 2, 3)
                n = np.arange(group, dtype=np.int64)[:, None, None] * (hp * wp)
                u = np.arange(uh, dtype=np.int64)[None, :, None] + (front_h - (th - 1 - uh0))
                v = np.arange(uw, dtype=np.int64)[None, None, :] + (front_w - (tw - 1 - uw0))
                offsets = ((n + u * wp + v) * self.filters).reshape(-1)
                if offsets.size < mr:
                    offsets = np.concatenate(
                        [offsets, np.full(mr - offsets.size, offsets[-1], np.int64)]
                    )
                calls.append({"packed": direct_conv.pack_weight(sub, vl * nv), "taps": (th, tw),
                              "grid": (uh, uw), "origin": (sh * uh0 + rh - ph, sw * uw0 + rw - pw),
                              "offsets": offsets})  # fmt: skip
        return {"kind": "phases", "kernel": direct_conv.kernel(mr, vl, nv), "mr": mr,
                "calls": calls, "gaps": gaps, "front": (front_h, front_w), "hw": (hp, wp),
                "in_hw": (oh, ow), "out_hw": (height, width)}  # fmt: skip

    def _phases_input_grad(self, grad, count, slot, plan, dx):
        (hp, wp), (oh, ow) = plan["hw"], plan["in_hw"]
        k_out = self.filters
        size = count * hp * wp * k_out
        padded = self._buffer(("gpad", slot), size, np.float32)[:size]
        padded = padded.reshape(count, hp, wp, k_out)
        grad_layout.to_padded_nhwc(grad, count, (oh, ow), *plan["front"], padded)
        if plan["gaps"]:
            dx[...] = 0
        for call in plan["calls"]:
            uh, uw = call["grid"]
            m = count * uh * uw
            offsets = call["offsets"]
            if m < plan["mr"]:
                offsets = np.concatenate([offsets[:m], np.full(plan["mr"] - m, offsets[m - 1])])
            width = call["packed"].shape[0] * call["packed"].shape[-1]
            rows = max(m, plan["mr"])
            out = self._buffer(("gout", slot), rows * width, np.float32)[: rows * width]
            out = out.reshape(rows, width)
            direct_conv.run(plan["kernel"], padded, call["packed"], out, offsets, m, k_out,
                            *call["taps"], wp)  # fmt: skip
            kernels._phase_scatter(out, count, uh, uw, *call["origin"], *self.stride, dx)

    def _direct_input_grad(self, grad, count, slot, plan, dx):
        """dx (count, C, H, W) of one group from its output gradient ``grad``: rows (K, m) or
        a block (count, K, OH, OW) (see :mod:`engine.kernels.grad_layout`)."""
        if plan["kind"] == "phases":
            self._phases_input_grad(grad, count, slot, plan, dx)
            return
        (hp, wp), (oh, ow), (height, width) = plan["hw"], plan["in_hw"], plan["out_hw"]
        k_out, chans = self.filters, self.in_channels
        size = count * hp * wp * k_out
        padded = self._buffer(("gpad", slot), size, np.float32)[:size]
        m = count * height * width
        if plan["kind"] == "rows":  # straight into dx
            padded = padded.reshape(count, k_out, hp, wp)
            grad_layout.to_padded_nchw(grad, count, (oh, ow), *plan["q"], padded)
            for c0, c1, fn in plan["calls"]:
                rows_kernel.run(fn, padded, plan["weight"][c0:c1], dx[:, c0:c1], self.kernel,
                                (height, width))  # fmt: skip
            return
        else:
            padded = padded.reshape(count, hp, wp, k_out)
            grad_layout.to_padded_nhwc(grad, count, (oh, ow), *plan["q"], padded)
            out = self._lanes_product(padded, m, plan, k_out, count, (height, width), (1, 1),
                                      ("gout", slot))  # fmt: skip
        dx3 = dx.reshape(count, chans, height * width)
        if not nchw_store.store(out.T, plan["zero"], 0, 0.0, dx3):
            conv_epilogue._bias_act_rows_to_nchw(out, plan["zero"], 0, np.float32(0.0), dx3)

    # ------------------------------------------------------------------ weight gradient

    def _lanes_weight_grad(self, ow) -> bool:
        """Whether a float32 direct weight gradient of this layer, for outputs ``ow`` wide,
        takes the filter-lane kernel (which reads the forward's padded channels-last copy)."""
        return not rows_kernel.weight_grad_applies(self.filters, self.stride, self.kernel, ow)

    def _rows_weight_width(self, x, ow) -> int:
        """Wq, the width of the padded input rows the row weight-gradient kernel reads: the
        padded input, or wider where the output's rows round up to whole vectors."""
        lanes = direct_conv.tile(1)[1]
        owp = -(-ow // lanes) * lanes
        return max(x.shape[3] + 2 * self.padding[1], owp + self.kernel[1] - 1)

    def _direct_weight_plan(self, x, group, oh, ow):
        """What :meth:`_direct_weight_grad` needs (see :func:`direct_conv.weight_grad`), or
        None for the GEMM route."""
        if x.dtype != np.float32 or self.kernel == (1, 1) or not direct_conv.available():
            return None
        if not self._lanes_weight_grad(ow):
            lanes = direct_conv.tile(1)[1]
            owp = -(-ow // lanes) * lanes
            wq = self._rows_weight_width(x, ow)
            step = rows_kernel.weight_grad_block(self.filters, self.kernel[1])
            calls = [(k0, min(k0 + step, self.filters),
                      rows_kernel.weight_grad_kernel(min(step, self.filters - k0), self.kernel[1]))
                     for k0 in range(0, self.filters, step)]  # fmt: skip
            hp = x.shape[2] + 2 * self.padding[0]
            return {"kind": "rows", "calls": calls, "hw": (hp, wq), "owp": owp,
                    "out_hw": (oh, ow), "shape": (self.fan_in, self.filters)}  # fmt: skip
        mr, vl, nv = direct_conv.weight_grad_tile(self.filters, self.in_channels, self.kernel[1])
        nr = vl * nv
        hp = x.shape[2] + 2 * self.padding[0]
        wp = x.shape[3] + 2 * self.padding[1]
        blocks = -(-self.filters // nr)
        return {"kind": "lanes", "kernel": direct_conv.kernel(mr, vl, nv, weight_grad=True),
                "hw": (hp, wp),
                "blocks": blocks, "kpad": blocks * nr, "plane": oh * ow,
                "shape": (self.fan_in, self.filters),
                "offsets": direct_conv.pixel_offsets(group, (hp, wp), self.in_channels,
                                                     (oh, ow), self.stride, 1)}  # fmt: skip

    def _direct_weight_grad(self, x, g0, g1, grad, slot, plan, act=None, sums=None):
        """This group's weight gradient (KH*KW*C, K), (kh, kw, c) order, from its output
        gradient ``grad`` (rows or a block, as for :meth:`_direct_input_grad`). With ``act``
        (the forward's output block, activation code, slope) ``grad`` is the gradient of the
        activation's output, its derivative applied here (filter-lane kernel, a block
        :func:`nchw_store.to_pixels` takes); ``sums`` (float64, K) then gets the bias
        gradient added from the same pixels."""
        if plan["kind"] == "rows":
            return self._rows_weight_grad(x, g0, g1, grad, slot, plan)
        hp, wp = plan["hw"]
        count, kpad, chans = g1 - g0, plan["kpad"], self.in_channels
        m = count * plan["plane"]
        kept = self._saved_padded
        if kept is not None and kept[0] == "nhwc" and kept[1].shape == (x.shape[0], hp, wp, chans):
            padded = kept[1][g0:g1]  # the forward's copy
        else:
            padded = self._buffer(("wpad", slot), count * hp * wp * chans, np.float32)
            padded = padded[: count * hp * wp * chans].reshape(count, hp, wp, chans)
            nchw_store.pad_block(x, g0, g1, self.padding[0], self.padding[1], padded)
        pixels = self._buffer(("wgrad", slot), m * kpad, np.float32)[: m * kpad]
        pixels = pixels.reshape(m, kpad)
        if act is not None:
            y, code, slope = act
            shape = (count, self.filters, -1)
            if not nchw_store.to_pixels(grad.reshape(shape), y.reshape(shape), code, slope,
                                        pixels):  # fmt: skip
                raise ValueError("conv2d: the fused weight-gradient layout does not apply here")
            if sums is not None:
                grad_layout.add_column_sums(pixels[:, : self.filters], sums)
        elif grad.ndim != 4 or not nchw_store.to_pixels(
            grad.reshape(count, self.filters, -1), None, ACT_NONE, 0.0, pixels
        ):
            grad_layout.to_pixels(grad, pixels)
        out = self._buffer(("wout", slot), self.fan_in * kpad, np.float32)
        out = out[: self.fan_in * kpad].reshape(self.fan_in, kpad)
        direct_conv.run(plan["kernel"], padded, pixels, out, plan["offsets"], m, chans,
                        *self.kernel, wp, blocks=plan["blocks"])  # fmt: skip
        return out[:, : self.filters]

    def _rows_weight_grad(self, x, g0, g1, grad, slot, plan):
        (hp, wq), (oh, ow), owp = plan["hw"], plan["out_hw"], plan["owp"]
        count, chans, k_out = g1 - g0, self.in_channels, self.filters
        kept = self._saved_padded
        if kept is not None and kept[0] == "nchw" and kept[1].shape == (x.shape[0], chans, hp, wq):
            padded = kept[1][g0:g1]  # the forward's copy
        else:
            size = count * chans * hp * wq
            padded = self._buffer(("wpad", slot), size, np.float32)[:size]
            padded = padded.reshape(count, chans, hp, wq)
            kernels._pad_nchw_block(x, g0, g1, self.padding[0], self.padding[1], padded)
        if (
            owp == ow
            and grad.shape == (count, k_out, oh, ow)
            and grad.dtype == np.float32
            and grad.flags.c_contiguous
        ):
            wide = grad  # rows of whole vectors already: the kernel reads the block itself
        else:
            size = count * k_out * oh * owp
            wide = self._buffer(("wgrad", slot), size, np.float32)[:size]
            wide = grad_layout.to_padded_nchw(grad, count, (oh, ow), 0, 0,
                                              wide.reshape(count, k_out, oh, owp))  # fmt: skip
        kh, kw = self.kernel
        out = self._buffer(("wout", slot), k_out * chans * kh * kw, np.float32)
        out = out[: k_out * chans * kh * kw].reshape(k_out, chans, kh, kw)
        for k0, k1, fn in plan["calls"]:
            rows_kernel.run_weight_grad(fn, padded, wide, k0, k1, out[k0:k1], self.kernel, oh)
        return out.transpose(2, 3, 1, 0).reshape(self.fan_in, k_out)
