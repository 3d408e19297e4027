"""Pixel-major products moved into the network's (N, K, H, W) layout by vector transposes.

The filter-lane kernel (:mod:`engine.kernels.direct_conv`) leaves its output pixel-major,
(m, ldk) with K filters per row. The layer's epilogue then reads it as the (K, m) transpose,
one value at a time at a stride of ldk (``engine.kernels.conv_epilogue._bias_act_rows_to_nchw``):
about 1 ns a value, a fifth of a 64-filter 8x8 convolution's forward. This kernel moves it in
blocks of VL pixels x VL filters instead: VL vector loads of pixel rows, a register transpose
of log2(VL) rounds of two-source shuffles (each new vector takes the first or second half of
every block from one of two rows), then the bias, a relu or leaky relu (the arithmetic of
``engine.kernels.activations.act_run``) and VL vector stores of filter rows.

The same transposes run the other way twice: :func:`to_pixels` (an NCHW gradient into the
weight gradient's pixel-major layout) and :func:`pad_nhwc` (an NCHW input or gradient into
the zero-padded channels-last copy the filter-lane kernels read; all-conv's 32-filter stride-2
layer at 32x32: forward 6.8 -> 4.8 ms a step, training step 56 -> 51 ms).

It applies when K, H·W and ldk are whole vectors (:func:`applies`); :func:`store` returns
False otherwise and the caller keeps the epilogue. float32; generated LLVM IR like the
convolution kernels (:mod:`engine.kernels.llvm_jit`). :func:`store_naive` is the reference.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels.activations import ACT_LEAKY, ACT_NONE, ACT_RELU
from engine.kernels.llvm_jit import Frame, compiled, host_shape

__all__ = [
    "applies",
    "pad_block",
    "pad_pays",
    "pad_nhwc",
    "pad_nhwc_naive",
    "store",
    "store_naive",
    "to_pixels",
    "to_pixels_naive",
    "warm_up",
]


def _transpose(b, ir, vl, rows):
    """VL vectors of VL lanes transposed in registers: swap the off-diagonal blocks of size s
    between rows i and i + s, for s = VL/2 ... 1 (two-source shuffles)."""
    i32 = ir.IntType(32)
    rows = list(rows)
    s = vl // 2
    while s >= 1:
        for i in range(vl):
            if i & s:
                continue
            a, bb = rows[i], rows[i + s]
            low = [j if not j & s else vl + j - s for j in range(vl)]
            high = [j + s if not j & s else vl + j for j in range(vl)]
            rows[i] = b.shuffle_vector(a, bb, ir.Constant(ir.VectorType(i32, vl), low))
            rows[i + s] = b.shuffle_vector(a, bb, ir.Constant(ir.VectorType(i32, vl), high))
        s //= 2
    return rows


def _frame(name: str, vl: int):
    """The kernel's frame and the leaky slope splat from dims[0] (its float32 bits)."""
    k = Frame(name, vl)
    bits = k.b.trunc(k.load(k.args[3], k.const(0)), k.ir.IntType(32))
    return k, k.splat(k.b.bitcast(bits, k.f32))


def _build(vl: int, act: int):
    """f(src, bias, dst, dims [slope bits], images, K, plane, ldk, 0, 0): dst[n, k, p] =
    act(src[(n·plane + p)·ldk + k] + bias[k]) for whole VL x VL blocks."""
    k, slope = _frame(f"nchw_store_{vl}_{act}", vl)
    b, c_, loop, ir, zero = k.b, k.const, k.loop, k.ir, k.zero
    src, bias, dst, dims, images, filters, plane, ldk, _, _ = k.args

    def n_body(n):
        def p_body(pb):
            p0 = b.mul(pb, c_(vl))
            row0 = b.mul(b.add(b.mul(n, plane), p0), ldk)

            def k_body(kb):
                k0 = b.mul(kb, c_(vl))
                rows = [k.load_vec(src, b.add(b.add(row0, b.mul(c_(r), ldk)), k0))
                        for r in range(vl)]  # fmt: skip
                cols = _transpose(b, ir, vl, rows)
                for j in range(vl):
                    v = b.fadd(cols[j], k.splat(k.load(bias, b.add(k0, c_(j)))))
                    if act != ACT_NONE:
                        low = b.fmul(v, zero if act == ACT_RELU else slope)
                        v = b.select(b.fcmp_ordered(">", v, zero), v, low)
                    at = b.add(b.mul(b.add(b.mul(n, filters), b.add(k0, c_(j))), plane), p0)
                    k.store_vec(v, dst, at)

            loop(c_(0), b.sdiv(filters, c_(vl)), k_body, "kb")

        loop(c_(0), b.sdiv(plane, c_(vl)), p_body, "pb")

    loop(c_(0), images, n_body, "n")
    return k.done()


def applies(filters: int, plane: int, ldk: int, code: int, dtype) -> bool:
    """Whether :func:`store` takes this shape and activation ``code``."""
    vl = host_shape()["lanes"]
    return (
        dtype == np.float32
        and code in (ACT_NONE, ACT_RELU, ACT_LEAKY)
        and filters % vl == 0
        and plane % vl == 0
        and ldk % vl == 0
    )


def store(src, bias, code, slope, dst) -> bool:
    """``dst`` (G, K, P) = activation ``code`` of ``src`` (G·P, >= K) + ``bias``; ``src``'s
    rows may be longer than K (``ldk``, its row stride: the kernel's padded filter blocks).
    True when done, False when the shape does not apply (nothing written)."""
    count, filters, plane = dst.shape
    if src.dtype != np.float32 or src.ndim != 2 or src.strides[1] != 4 or src.strides[0] % 4:
        return False
    ldk = src.strides[0] // 4
    if not applies(filters, plane, ldk, code, src.dtype) or src.shape[1] < filters:
        return False
    if dst.dtype != np.float32 or not dst.flags.c_contiguous:
        raise ValueError("nchw_store.store: dst must be C-contiguous float32")
    if src.shape[0] < count * plane:
        raise ValueError(f"nchw_store.store: src has {src.shape[0]} rows, needs {count * plane}")
    bias = np.ascontiguousarray(bias, np.float32)
    vl = host_shape()["lanes"]
    fn = compiled("nchw_store", (vl, code), _build)
    dims = np.asarray([np.float32(slope).view(np.int32)], np.int64)
    fn(src.ctypes.data, bias.ctypes.data, dst.ctypes.data, dims.ctypes.data, count, filters,
       plane, ldk, 0, 0)  # fmt: skip
    return True


def store_naive(src, bias, code, slope, dst_shape) -> np.ndarray:
    """Reference for :func:`store`."""
    count, filters, plane = dst_shape
    v = src[: count * plane, :filters].reshape(count, plane, filters).transpose(0, 2, 1)
    v = v + np.asarray(bias, np.float32)[None, :, None]
    if code == ACT_RELU:
        v = np.where(v > 0, v, v * 0)
    elif code == ACT_LEAKY:
        v = np.where(v > 0, v, v * np.float32(slope))
    return v.astype(np.float32)


def _build_gather(vl: int, act: int):
    """f(g, y, dst, dims [slope bits], images, K, plane, ldk, 0, 0): dst[(n·plane + p)·ldk
    + k] = g[n, k, p] times the derivative of activation ``act`` where its output is y[n, k,
    p] (relu: 1 where y > 0, else 0; leaky: else the slope), for whole VL x VL blocks."""
    k, slope = _frame(f"nchw_gather_{vl}_{act}", vl)
    b, c_, loop, ir, zero = k.b, k.const, k.loop, k.ir, k.zero
    grad, out, dst, dims, images, filters, plane, ldk, _, _ = k.args

    def n_body(n):
        def k_body(kb):
            k0 = b.mul(kb, c_(vl))

            def p_body(pb):
                p0 = b.mul(pb, c_(vl))
                rows = []
                for j in range(vl):
                    at = b.add(b.mul(b.add(b.mul(n, filters), b.add(k0, c_(j))), plane), p0)
                    g = k.load_vec(grad, at)
                    if act != ACT_NONE:
                        y = k.load_vec(out, at)
                        low = b.fmul(g, zero if act == ACT_RELU else slope)
                        g = b.select(b.fcmp_ordered(">", y, zero), g, low)
                    rows.append(g)
                cols = _transpose(b, ir, vl, rows)
                row0 = b.mul(b.add(b.mul(n, plane), p0), ldk)
                for r in range(vl):
                    k.store_vec(cols[r], dst, b.add(b.add(row0, b.mul(c_(r), ldk)), k0))

            loop(c_(0), b.sdiv(plane, c_(vl)), p_body, "pb")

        loop(c_(0), b.sdiv(filters, c_(vl)), k_body, "kb")

    loop(c_(0), images, n_body, "n")
    return k.done()


def to_pixels(grad, y, code, slope, dst) -> bool:
    """``dst`` (G·P, ldk) pixel-major = ``grad`` (G, K, P) times the derivative of activation
    ``code`` (none, relu, leaky relu with ``slope``) where its output ``y`` (G, K, P) is, the
    columns from K to ldk zero: the weight gradient's layout, from the NCHW output gradient
    in one pass of vector transposes (a value-by-value transpose and a separate activation
    pass read and wrote the gradient twice). True when done, False when the shape does not
    apply (:func:`applies`; nothing written)."""
    count, filters, plane = grad.shape
    if dst.dtype != np.float32 or dst.ndim != 2 or not dst.flags.c_contiguous:
        return False
    ldk = dst.shape[1]
    if not applies(filters, plane, ldk, code, grad.dtype) or dst.shape[0] < count * plane:
        return False
    arrays = (grad,) if code == ACT_NONE else (grad, y)
    if any(a.dtype != np.float32 or not a.flags.c_contiguous for a in arrays):
        return False
    if code != ACT_NONE and y.shape != grad.shape:
        raise ValueError(f"nchw_store.to_pixels: y {y.shape} does not match grad {grad.shape}")
    vl = host_shape()["lanes"]
    fn = compiled("nchw_gather", (vl, code), _build_gather)
    dims = np.asarray([np.float32(slope).view(np.int32)], np.int64)
    fn(grad.ctypes.data, (grad if code == ACT_NONE else y).ctypes.data, dst.ctypes.data,
       dims.ctypes.data, count, filters, plane, ldk, 0, 0)  # fmt: skip
    if ldk > filters:
        dst[: count * plane, filters:] = 0
    return True


def to_pixels_naive(grad, y, code, slope, ldk) -> np.ndarray:
    """Reference for :func:`to_pixels`."""
    count, filters, plane = grad.shape
    g = grad.astype(np.float32)
    if code == ACT_RELU:
        g = np.where(y > 0, g, g * 0)
    elif code == ACT_LEAKY:
        g = np.where(y > 0, g, g * np.float32(slope))
    out = np.zeros((count * plane, ldk), np.float32)
    out[:, :filters] = g.transpose(0, 2, 1).reshape(count * plane, filters)
    return out


def _build_pad(vl: int):
    """f(src, src, dst, dims [HP, WP, top, left], images, C, H, W, 0, 0): dst[n, top + h,
    left + w, c] = src[n, c, h, w] in VL x VL blocks (VL channels of VL pixels of one row),
    zeros around the window: the zero-padded channels-last copy the filter-lane kernels
    read."""
    k = Frame(f"pad_nhwc_{vl}", vl)
    b, c_, loop, ir = k.b, k.const, k.loop, k.ir
    src, _, dst, dims, images, chans, height, width, _, _ = k.args
    hp, wp, top, left = (k.load(dims, c_(i)) for i in range(4))
    row_len = b.mul(wp, chans)
    zero = ir.Constant(k.f32, 0.0)

    def zeros(start, stop):  # dst[start:stop] = 0 (LLVM makes it a memset)
        loop(start, stop, lambda i: b.store(zero, b.gep(dst, [i])), "z")

    def n_body(n):
        image = b.mul(b.mul(n, hp), row_len)

        def border_row(r):
            at = b.add(image, b.mul(r, row_len))
            inside = b.and_(b.icmp_signed(">=", r, top),
                            b.icmp_signed("<", r, b.add(top, height)))  # fmt: skip
            with b.if_else(inside) as (then, otherwise):
                with then:
                    zeros(at, b.add(at, b.mul(left, chans)))
                    zeros(b.add(at, b.mul(b.add(left, width), chans)), b.add(at, row_len))
                with otherwise:
                    zeros(at, b.add(at, row_len))

        loop(c_(0), hp, border_row, "r")

        def h_body(h):
            pix = b.add(b.mul(n, b.mul(hp, wp)), b.add(b.mul(b.add(h, top), wp), left))

            def w_body(wb):
                w0 = b.mul(wb, c_(vl))

                def c_body(cb):
                    c0 = b.mul(cb, c_(vl))
                    rows = []
                    for j in range(vl):
                        plane = b.add(b.mul(n, chans), b.add(c0, c_(j)))
                        at = b.add(b.mul(b.add(b.mul(plane, height), h), width), w0)
                        rows.append(k.load_vec(src, at))
                    cols = _transpose(b, ir, vl, rows)
                    for r in range(vl):
                        at = b.add(b.mul(b.add(b.add(pix, w0), c_(r)), chans), c0)
                        k.store_vec(cols[r], dst, at)

                loop(c_(0), b.sdiv(chans, c_(vl)), c_body, "cb")

            loop(c_(0), b.sdiv(width, c_(vl)), w_body, "wb")

        loop(c_(0), height, h_body, "h")

    loop(c_(0), images, n_body, "n")
    return k.done()


#: (HP, WP, top, left) -> (its int64 array, the array's address) for :func:`pad_nhwc`.
_PAD_DIMS: dict[tuple, tuple] = {}


def pad_nhwc(src, top, left, dst) -> bool:
    """``dst`` (G, HP, WP, C) = ``src`` (G, C, H, W) channels-last at rows top.., columns
    left.., zeros around, in vector transposes: the numba loop gathers each pixel's C values
    from C planes a plane apart, and planes of 4 KB (32x32 float32) all fall in one L1 set,
    so 32 channels at 32x32 padded at 2.7 ns a value (64 images: 5.7 ms; this: 2.1 ms).
    float32, C-contiguous, C and W whole 8-lane vectors; True when done, False when the
    shape does not apply (nothing written)."""
    count, chans, height, width = src.shape
    if (
        src.dtype != np.float32
        or dst.dtype != np.float32
        or not (src.flags.c_contiguous and dst.flags.c_contiguous)
        or dst.ndim != 4
        or dst.shape[0] != count
        or dst.shape[3] != chans
        or dst.shape[1] < top + height
        or dst.shape[2] < left + width
        or min(top, left) < 0
    ):
        return False
    vl = host_shape()["lanes"]
    if chans % vl or width % vl:
        vl = 8
        if chans % vl or width % vl:
            return False
    fn = compiled("pad_nhwc", (vl,), _build_pad)
    key = (dst.shape[1], dst.shape[2], top, left)
    dims = _PAD_DIMS.get(key)
    if dims is None:  # (an array's .ctypes.data costs about 1 us: once per geometry)
        dims = np.asarray(key, np.int64)
        dims = _PAD_DIMS.setdefault(key, (dims, dims.ctypes.data))
    src_at = src.ctypes.data
    fn(src_at, src_at, dst.ctypes.data, dims[1], count, chans, height, width, 0, 0)
    return True


#: Below this many values a call's fixed cost (about 6 us) outweighs the numba loop's gather
#: (16 channels at 16x16, 4 images: 8.5 us against 15; at 32K values they tie or this wins).
PAD_MIN_VALUES = 1 << 15
#: The L1 cache's ways (8 on the x86 cores measured) and the span after which its set index
#: repeats (64 sets of 64-byte lines).
_L1_WAYS, _L1_SPAN = 8, 4096


def pad_pays(src) -> bool:
    """Whether :func:`pad_block` should take the vector transposes for ``src`` (G, C, H, W):
    at least PAD_MIN_VALUES values, and planes whose C lines for one pixel crowd more than
    the L1's ways into one set (planes of 4 KB: all C in one set), where numba's gather
    thrashes. Elsewhere the gather is as fast from memory (cold sources, 2-11 images: 32 ch
    at 16x16 106 us against 121, 64 at 8x8 59 against 58, 8 at 32x32 147 against 149; and
    16 at 32x32 125 against 83, 32 at 32x32 387 against 153, 32 at 64x64 668 against 239)."""
    plane = src.shape[2] * src.shape[3] * src.itemsize
    per_set = src.shape[1] * math.gcd(plane, _L1_SPAN) // _L1_SPAN
    return src.size >= PAD_MIN_VALUES and per_set > _L1_WAYS


def pad_block(x, lo, hi, top, left, padded) -> None:
    """Images lo..hi of ``x`` (N, C, H, W) into ``padded`` (hi - lo, HP, WP, C) channels-last
    at (top, left), zeros around: :func:`pad_nhwc` where it applies and pays, else the numba
    loop (:func:`engine.kernels.conv._pad_block`); the same values either way (see
    :func:`pad_pays`)."""
    from engine.kernels.conv import _pad_block

    src = x[lo:hi]
    if not (pad_pays(src) and pad_nhwc(src, top, left, padded)):
        _pad_block(x, lo, hi, top, left, padded)


def warm_up() -> None:
    """Build (or load from the on-disk cache) every kernel of this module a network reaches:
    the store and the gather for each activation they take, the pad for this host's vector
    width and for 8 lanes (:func:`engine.network.warm_up` calls it)."""
    vl = host_shape()["lanes"]
    for code in (ACT_NONE, ACT_RELU, ACT_LEAKY):
        compiled("nchw_store", (vl, code), _build)
        compiled("nchw_gather", (vl, code), _build_gather)
    for lanes in sorted({vl, 8}):
        compiled("pad_nhwc", (lanes,), _build_pad)


def pad_nhwc_naive(src, top, left, dst_shape) -> np.ndarray:
    """Reference for :func:`pad_nhwc`."""
    count, chans, height, width = src.shape
    out = np.zeros(dst_shape, np.float32)
    out[:, top : top + height, left : left + width, :] = src.transpose(0, 2, 3, 1)
    return out
