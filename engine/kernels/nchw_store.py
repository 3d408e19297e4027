"""Pixel-major products moved into the network's (N, K, H, W) layout by vector transposes.

The filter-lane kernel (:mod:`engine.kernels.direct_conv`) leaves its output pixel-major,
(m, ldk) with K filters per row. The layer's epilogue then reads it as the (K, m) transpose,
one value at a time at a stride of ldk (``engine.kernels.conv_epilogue._bias_act_rows_to_nchw``):
about 1 ns a value, a fifth of a 64-filter 8x8 convolution's forward. This kernel moves it in
blocks of VL pixels x VL filters instead: VL vector loads of pixel rows, a register transpose
of log2(VL) rounds of two-source shuffles (each new vector takes the first or second half of
every block from one of two rows), then the bias, a relu or leaky relu (the arithmetic of
``engine.kernels.activations.act_run``) and VL vector stores of filter rows.

It applies when K, H·W and ldk are whole vectors (:func:`applies`); :func:`store` returns
False otherwise and the caller keeps the epilogue. float32; generated LLVM IR like the
convolution kernels (:mod:`engine.kernels.llvm_jit`). :func:`store_naive` is the reference.
"""

from __future__ import annotations

import numpy as np

from engine.kernels.activations import ACT_LEAKY, ACT_NONE, ACT_RELU
from engine.kernels.llvm_jit import Frame, compiled, host_shape

__all__ = ["applies", "store", "store_naive", "to_pixels", "to_pixels_naive"]


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
