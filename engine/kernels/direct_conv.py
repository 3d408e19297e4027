"""Direct convolution by a register-blocked micro-kernel, generated as LLVM IR at first use.

The GEMM route (:mod:`engine.kernels.conv`: patches, then a BLAS product) spends a third to a
half of a convolution copying patches, and OpenBLAS runs products as narrow as a layer's 8-64
filters at half its peak. This kernel computes the convolution straight from a zero-padded,
channels-last copy of the input (implicit GEMM, as oneDNN and XNNPACK do):

    out[p, k] = sum over (kh, kw, c) of  S[offset[p] + (kh*Wp + kw)*C + c] * Wpk[kh, kw, c, k]

for MR output pixels at once and NR = VL*NV filters (NV vector registers of VL lanes per
pixel), so that MR*NV accumulators stay in registers through the whole (kh, kw, c) reduction:
per input channel, NV vector loads of packed weights and MR broadcasts of input values feed
MR*NV fused multiply-adds. No patch matrix is built. ``offset[p]`` (a table computed once per
geometry) locates output pixel p's window in the padded images, so any stride, any output
size and a group of several images are one flat loop over pixels; the last tile of MR pixels
overlaps the one before it instead of needing a tail loop (pixels computed twice get the same
value).

Why LLVM IR (llvmlite, which numba is built on and installs): numba does not keep a tile of
accumulators in vector registers (a numba loop nest of this kernel ran at 5-10 GF/s; this one
at 110-137 GF/s on one AVX-512 core, where OpenBLAS's products reach 60-105). The IR uses
generic vectors (``<VL x float>``, ``llvm.fma``), so it is correct on every CPU LLVM targets;
VL and MR are chosen from the host's vector width and register count. A variant is compiled
(~40 ms) at its first use and its machine code kept on disk (:mod:`engine.kernels.llvm_jit`,
2-6 ms to load in a later process); calls go through ctypes, which releases the GIL, so the
engine's worker threads run kernels in parallel. The same tiling, with the roles of pixels
and filters turned, gives the weight gradient (:func:`weight_grad`).

float32 only (the float64 gradient checks take the GEMM route). :func:`conv_forward_naive`
is the reference the tests compare against; :func:`conv_forward` is the whole convolution
for callers and tests, :class:`engine.layers.conv2d.Conv2D` calls the pieces itself.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from numba import njit

from engine.config import JIT
from engine.kernels.llvm_jit import Frame, compiled, host_shape

__all__ = [
    "available",
    "conv_forward",
    "conv_forward_naive",
    "kernel",
    "pack_weight",
    "pixel_offsets",
    "tile",
    "weight_grad",
    "weight_grad_naive",
    "weight_grad_tile",
]


def available() -> bool:
    """Whether the direct kernel is used: llvmlite loads and ``CNN_WORKBENCH_DIRECT_CONV`` is
    not "0" (set it to compare with the GEMM route)."""
    if os.environ.get("CNN_WORKBENCH_DIRECT_CONV", "1").strip() == "0":
        return False
    try:
        host_shape()
    except Exception:  # no usable LLVM: the GEMM route works everywhere
        return False
    return True


def tile(filters: int) -> tuple[int, int, int]:
    """(MR pixels, VL lanes, NV vectors) for a layer of ``filters`` output channels: as many
    filters per tile as the layer has (up to two vectors' worth), and as many pixels as the
    registers hold beside the accumulators, at most 8 for one vector and 12 for two (measured
    best on AVX-512: 64->64 filters at 16x16, backward 24.4 ms with 8, 21.5 with 12)."""
    host = host_shape()
    lanes = host["lanes"]
    nv = 1 if filters <= lanes else 2
    mr = max(1, min(8 if nv == 1 else 12, (host["regs"] - 2 * nv - 1) // nv))
    return mr, lanes, nv


def _build(mr: int, vl: int, nv: int):
    """The forward micro-kernel for (MR, VL, NV): f(S, Wpk, out, offsets, pixels, kblocks,
    C, KH, KW, Wp). Returns (module, function name)."""
    k = Frame(f"direct_conv_{mr}_{vl}_{nv}", vl)
    b, c_, loop = k.b, k.const, k.loop
    src, wts, out, offs, pixels, kblocks, chans, kh_n, kw_n, wp = k.args
    nr = vl * nv
    accs = [[k.accumulator() for _ in range(nv)] for _ in range(mr)]
    bases = [b.alloca(k.i64) for _ in range(mr)]
    kpad = b.mul(kblocks, c_(nr))
    tiles = b.sdiv(b.add(pixels, c_(mr - 1)), c_(mr))
    last = b.sub(pixels, c_(mr))
    last = b.select(b.icmp_signed("<", last, c_(0)), c_(0), last)  # fewer than MR

    def kb_body(kb):
        def tile_body(t):
            start = b.mul(t, c_(mr))
            p0 = b.select(b.icmp_signed(">", start, last), last, start)  # overlapping tail
            for r in range(mr):
                b.store(k.load(offs, b.add(p0, c_(r))), bases[r])
            k.clear(accs)
            wblock = b.mul(b.mul(b.mul(b.mul(kb, kh_n), kw_n), chans), c_(nr))

            def kh_body(kh):
                def kw_body(kw):
                    shift = b.mul(b.add(b.mul(kh, wp), kw), chans)
                    tap = b.mul(b.add(b.mul(kh, kw_n), kw), chans)
                    wbase = b.add(wblock, b.mul(tap, c_(nr)))
                    starts = [b.add(b.load(bases[r]), shift) for r in range(mr)]

                    def c_body(c):
                        woff = b.add(wbase, b.mul(c, c_(nr)))
                        wv = [k.load_vec(wts, b.add(woff, c_(v * vl))) for v in range(nv)]
                        for r in range(mr):
                            a = k.splat(k.load(src, b.add(starts[r], c)))
                            for v in range(nv):
                                k.fma_into(accs[r][v], a, wv[v])

                    loop(c_(0), chans, c_body, "c")

                loop(c_(0), kw_n, kw_body, "kw")

            loop(c_(0), kh_n, kh_body, "kh")
            for r in range(mr):
                row = b.add(b.mul(b.add(p0, c_(r)), kpad), b.mul(kb, c_(nr)))
                for v in range(nv):
                    k.store_vec(b.load(accs[r][v]), out, b.add(row, c_(v * vl)))

        loop(c_(0), tiles, tile_body, "t")

    loop(c_(0), kblocks, kb_body, "kb")
    return k.done()


def _build_weight_grad(mr: int, vl: int, nv: int):
    """The weight-gradient micro-kernel, same arguments as :func:`_build`'s but the second
    array is the output gradient G (pixels, blocks*NR) and ``out`` (KH*KW*C, blocks*NR)
    receives dW[(kh, kw, c), k] = sum over p of S[offset[p] + (kh*Wp + kw)*C + c] * G[p, k],
    a tile being MR consecutive (kw, c) entries of one kernel row, side by side in the
    scratch (MR <= KW*C; the last tile overlaps)."""
    k = Frame(f"direct_conv_wgrad_{mr}_{vl}_{nv}", vl)
    b, c_, loop = k.b, k.const, k.loop
    src, grad, out, offs, pixels, kblocks, chans, kh_n, kw_n, wp = k.args
    nr = vl * nv
    accs = [[k.accumulator() for _ in range(nv)] for _ in range(mr)]
    kpad = b.mul(kblocks, c_(nr))
    run = b.mul(kw_n, chans)  # a kernel row's KW*C values lie side by side in the scratch
    jtiles = b.sdiv(b.add(run, c_(mr - 1)), c_(mr))
    lastj = b.sub(run, c_(mr))

    def kb_body(kb):
        col = b.mul(kb, c_(nr))

        def kh_body(kh):
            shift = b.mul(b.mul(kh, wp), chans)

            def jt_body(jt):
                start = b.mul(jt, c_(mr))
                j0 = b.select(b.icmp_signed(">", start, lastj), lastj, start)
                k.clear(accs)
                lead = b.add(shift, j0)

                def p_body(p):
                    base = b.add(k.load(offs, p), lead)
                    goff = b.add(b.mul(p, kpad), col)
                    gv = [k.load_vec(grad, b.add(goff, c_(v * vl))) for v in range(nv)]
                    for r in range(mr):
                        a = k.splat(k.load(src, b.add(base, c_(r))))
                        for v in range(nv):
                            k.fma_into(accs[r][v], a, gv[v])

                loop(c_(0), pixels, p_body, "p")
                row0 = b.add(b.mul(kh, run), j0)
                for r in range(mr):
                    row = b.add(b.mul(b.add(row0, c_(r)), kpad), col)
                    for v in range(nv):
                        k.store_vec(b.load(accs[r][v]), out, b.add(row, c_(v * vl)))

            loop(c_(0), jtiles, jt_body, "jt")

        loop(c_(0), kh_n, kh_body, "kh")

    loop(c_(0), kblocks, kb_body, "kb")
    return k.done()


def kernel(mr: int, vl: int, nv: int, weight_grad: bool = False):
    """The compiled micro-kernel for (MR, VL, NV): the forward one, or with ``weight_grad``
    the weight-gradient one (:func:`_build`)."""
    if weight_grad:
        return compiled("wgrad", (mr, vl, nv), _build_weight_grad)
    return compiled("fwd", (mr, vl, nv), _build)


def weight_grad_tile(filters: int, channels: int, width: int) -> tuple[int, int, int]:
    """(MR, VL, NV) of the weight-gradient kernel for a kernel ``width`` (KW) wide: a tile
    holds MR consecutive values of a kernel row's KW*C, so MR is at most KW*C."""
    mr, vl, nv = tile(filters)
    return min(mr, width * channels), vl, nv


@njit(**JIT)
def _pack(weight, out):
    # out[b, i, j, c, r] = weight[b*NR + r, c, i, j], zero for filters beyond K; weight may be
    # any strided view (a transpose, a flip), read once.
    k_n, c_n, kh, kw = weight.shape
    blocks, _, _, _, nr = out.shape
    for b in range(blocks):
        for i in range(kh):
            for j in range(kw):
                for c in range(c_n):
                    o = out[b, i, j, c]
                    for r in range(nr):
                        k = b * nr + r
                        o[r] = weight[k, c, i, j] if k < k_n else 0


def pack_weight(weight: np.ndarray, nr: int) -> np.ndarray:
    """PyTorch's (K, C, KH, KW) weight as the kernel reads it: (ceil(K/NR), KH, KW, C, NR)
    float32, C-contiguous, filters beyond K zero. ``weight`` may be a strided view (a
    transpose or flip of the parameter): one pass reads it, where transposing copies and a
    pack took 54 µs a forward for 64x64 3x3 filters."""
    k, c, kh, kw = weight.shape
    out = np.empty((-(-k // nr), kh, kw, c, nr), np.float32)
    _pack(weight if weight.dtype == np.float32 else weight.astype(np.float32), out)
    return out


@functools.lru_cache(maxsize=512)
def _offsets(images, padded_hw, channels, out_hw, stride, mr) -> np.ndarray:
    (hp, wp), (oh, ow), (sh, sw) = padded_hw, out_hw, stride
    n = np.arange(images, dtype=np.int64)[:, None, None] * (hp * wp)
    oy = np.arange(oh, dtype=np.int64)[None, :, None] * (sh * wp)
    ox = np.arange(ow, dtype=np.int64)[None, None, :] * sw
    offs = ((n + oy + ox) * channels).reshape(-1)
    if offs.size < mr:
        offs = np.concatenate([offs, np.full(mr - offs.size, offs[-1], np.int64)])
    offs.flags.writeable = False
    return offs


def pixel_offsets(images, padded_hw, channels, out_hw, stride, mr) -> np.ndarray:
    """int64 offsets into a (G, Hp, Wp, C) padded block of each output pixel's window, in
    (image, oy, ox) order, with at least ``mr`` entries (a block with fewer output pixels
    repeats its last one; the caller's output has room for ``mr`` rows). Read-only: one
    table per geometry, kept (a layer asked for it at every call)."""
    return _offsets(int(images), tuple(map(int, padded_hw)), int(channels),
                    tuple(map(int, out_hw)), tuple(map(int, stride)), int(mr))  # fmt: skip


def run(fn, padded, packed, out, offsets, pixels, channels, kh, kw, wp, blocks=None) -> None:
    """One call of a compiled kernel on contiguous float32 arrays: ``padded`` (G, Hp, Wp, C),
    ``packed`` from :func:`pack_weight`, ``out`` (max(pixels, MR), blocks*NR) overwritten
    (the weight-gradient kernel: ``packed`` is the gradient (pixels, blocks*NR), ``out``
    (KH*KW*C, blocks*NR), ``blocks`` given)."""
    for name, a in (("padded", padded), ("packed", packed), ("out", out)):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"direct_conv.run: {name} must be C-contiguous float32")
    if offsets.dtype != np.int64 or not offsets.flags.c_contiguous:
        raise ValueError("direct_conv.run: offsets must be C-contiguous int64")
    fn(padded.ctypes.data, packed.ctypes.data, out.ctypes.data, offsets.ctypes.data,
       pixels, packed.shape[0] if blocks is None else blocks, channels, kh, kw, wp)  # fmt: skip


def conv_forward(x, weight, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Convolution (no bias) of float32 ``x`` (N, C, H, W) with ``weight`` (K, C, KH, KW):
    (N, K, OH, OW) float32, the whole path in one call (tests and benchmarks)."""
    from engine.kernels.geometry import output_size

    x = np.ascontiguousarray(x, np.float32)
    n_img, channels, height, width = x.shape
    filters, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    mr, vl, nv = tile(filters)
    packed = pack_weight(np.asarray(weight, np.float32), vl * nv)
    padded = np.zeros((n_img, height + 2 * ph, width + 2 * pw, channels), np.float32)
    padded[:, ph : ph + height, pw : pw + width] = x.transpose(0, 2, 3, 1)
    pixels = n_img * oh * ow
    offsets = pixel_offsets(n_img, padded.shape[1:3], channels, (oh, ow), (sh, sw), mr)
    out = np.empty((max(pixels, mr), packed.shape[0] * vl * nv), np.float32)
    run(kernel(mr, vl, nv), padded, packed, out, offsets, pixels, channels, kh, kw,
        padded.shape[2])  # fmt: skip
    return np.ascontiguousarray(
        out[:pixels, :filters].reshape(n_img, oh, ow, filters).transpose(0, 3, 1, 2)
    )


def weight_grad(x, dy, kernel_size, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """The weight gradient (K, C, KH, KW) float32 of a convolution (no bias) of float32
    ``x`` (N, C, H, W) whose output gradient is ``dy`` (N, K, OH, OW), in one call."""
    x = np.ascontiguousarray(x, np.float32)
    n_img, channels, height, width = x.shape
    filters, (oh, ow) = dy.shape[1], dy.shape[2:]
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    mr, vl, nv = weight_grad_tile(filters, channels, kw)
    nr = vl * nv
    kpad = -(-filters // nr) * nr
    padded = np.zeros((n_img, height + 2 * ph, width + 2 * pw, channels), np.float32)
    padded[:, ph : ph + height, pw : pw + width] = x.transpose(0, 2, 3, 1)
    grad = np.zeros((n_img * oh * ow, kpad), np.float32)
    grad[:, :filters] = np.asarray(dy, np.float32).transpose(0, 2, 3, 1).reshape(-1, filters)
    offsets = pixel_offsets(n_img, padded.shape[1:3], channels, (oh, ow), (sh, sw), 1)
    out = np.empty((kh * kw * channels, kpad), np.float32)
    run(kernel(mr, vl, nv, weight_grad=True), padded, grad, out, offsets, n_img * oh * ow,
        channels, kh, kw, padded.shape[2], blocks=kpad // nr)  # fmt: skip
    return np.ascontiguousarray(out[:, :filters].reshape(kh, kw, channels, filters)
                                .transpose(3, 2, 0, 1))  # fmt: skip


def weight_grad_naive(x, dy, kernel_size, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Reference for :func:`weight_grad`: a float64 sum over kernel offsets with numpy."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = dy.shape[2:]
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((dy.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            out[:, :, i, j] = np.einsum("nchw,nkhw->kc", window, np.asarray(dy, np.float64))
    return out.astype(np.float32)


def conv_forward_naive(x, weight, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Reference for :func:`conv_forward`: a float64 sum over kernel offsets with numpy."""
    n_img, _, height, width = x.shape
    filters, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    oh = (height + 2 * ph - kh) // sh + 1
    ow = (width + 2 * pw - kw) // sw + 1
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n_img, filters, oh, ow))
    w = np.asarray(weight, np.float64)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            out += np.einsum("nchw,kc->nkhw", window, w[:, :, i, j])
    return out.astype(np.float32)
