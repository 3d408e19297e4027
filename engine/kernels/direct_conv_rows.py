"""Direct convolution for layers with few filters: vectors run along output rows.

The micro-kernel of :mod:`engine.kernels.direct_conv` puts filters in its vector lanes, so a
layer with fewer filters than lanes (8 filters on AVX-512's 16 lanes, LeNet's 6) leaves lanes
idle. This one turns the tile around: each accumulator holds VL consecutive output pixels of
one row for one filter, so K filters × NV vectors of pixels stay in registers through the
(c, kh, kw) reduction. Per kernel tap: NV unaligned vector loads of a padded input row (stride
1 makes the VL pixels' inputs adjacent) and K broadcasts of weights feed K·NV fused
multiply-adds. Input and output stay channel-major (NCHW): the input is a zero-padded copy
(G, C, Hp, Wp) of the group's images, the output is written as (K, G·OH·OW), the layout the
epilogues read at unit stride.

The same turn gives the weight gradient of layers with few filters
(:func:`weight_grad`): KB filters × KW taps of one kernel row as vector accumulators of pixel
partial sums, reduced at the end; rows are padded with zeros to whole vectors.

Used for stride 1 and outputs at least one vector wide (the last tile of a row overlaps the
one before it), any K in blocks that fit the registers (:func:`blocks`, :func:`applies`);
K and NV are compiled in (one variant per pair). On one AVX-512 core: 8 filters 5x5 at 32x32
117 GF/s (the filter-lane kernel 47, PyTorch 68), 12 filters 150 GF/s.
:func:`conv_forward_naive` of :mod:`engine.kernels.direct_conv` is the reference.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import direct_conv
from engine.kernels.llvm_jit import Frame, compiled, host_shape
from engine.kernels.workers import split

__all__ = [
    "MAX_FILTERS",
    "applies",
    "blocks",
    "conv_forward",
    "kernel",
    "run",
    "run_weight_grad",
    "vectors",
    "weight_grad",
    "weight_grad_applies",
    "weight_grad_block",
    "weight_grad_kernel",
]

#: Up to this many filters the row kernel beats the filter-lane kernel (half its lanes idle).
MAX_FILTERS = 8


def vectors(out_width: int) -> int:
    """Pixel vectors per tile for an output ``out_width`` wide: 2 when a row holds two, else
    1; 0 when a row is narrower than one vector (the kernel does not apply)."""
    lanes = direct_conv.tile(1)[1]
    return 2 if out_width >= 2 * lanes else 1 if out_width >= lanes else 0


def applies(filters: int, stride, out_width: int) -> bool:
    """Whether a convolution of this shape takes the row kernel: stride 1 and rows of two
    vectors (any filter count, in blocks), or of one vector and at most MAX_FILTERS filters
    (with more, the filter-lane kernel is faster: 16 filters 91 vs 110 GF/s)."""
    nv = vectors(out_width)
    if tuple(stride) != (1, 1) or nv == 0:
        return False
    return nv == 2 or filters <= MAX_FILTERS


def blocks(filters: int, nv: int) -> list[tuple[int, int]]:
    """The filter ranges [k0, k1) of one call each: as even as possible, each small enough
    that its K*NV accumulators, NV input vectors and a weight fit the vector registers."""
    cap = max(1, min(12, (host_shape()["regs"] - nv - 1) // nv))
    if nv == 1:
        cap = min(cap, MAX_FILTERS)
    return split(filters, 1, -(-filters // cap))


#: What the row kernel does to each sum before storing it (see :func:`_build`).
EPI_NONE, EPI_BIAS, EPI_RELU, EPI_LEAKY = range(4)


def _build(k_n: int, nv: int, vl: int, epi: int = EPI_NONE):
    """The row kernel for K filters and NV pixel vectors per tile:
    f(S, W, out, dims [KH, KW, filter stride, image stride, extra], images, C, Hp, Wp, OH, OW)
    (see :func:`run`): output pixel (oy, ox) of filter f and image n lands at out[f·filter
    stride + n·image stride + oy·OW + ox]. ``epi``: the sum is stored as it is (EPI_NONE),
    plus the filter's bias (EPI_BIAS), then through a relu (EPI_RELU: v if v > 0 else v·0)
    or a leaky relu (EPI_LEAKY: v if v > 0 else v·slope), the arithmetic of the epilogues'
    :func:`engine.kernels.activations.act_run`; ``extra`` is then the address of K biases
    and the slope, float32."""
    k = Frame(f"direct_conv_rows_{k_n}_{nv}_{vl}_{epi}", vl)
    b, c_, loop = k.b, k.const, k.loop
    src, wts, out, dims, images, chans, hp, wp, oh, ow = k.args
    if epi != EPI_NONE:
        extra = b.inttoptr(k.load(dims, c_(4)), k.f32.as_pointer())
        biases = [k.splat(k.load(extra, c_(f))) for f in range(k_n)]
        slope = k.splat(k.load(extra, c_(k_n)))
        zero = k.zero

    def finish(v, f):
        if epi == EPI_NONE:
            return v
        v = b.fadd(v, biases[f])
        if epi == EPI_BIAS:
            return v
        low = b.fmul(v, zero if epi == EPI_RELU else slope)
        return b.select(b.fcmp_ordered(">", v, zero), v, low)

    accs = [[k.accumulator() for _ in range(nv)] for _ in range(k_n)]
    kh_n, kw_n = k.load(dims, c_(0)), k.load(dims, c_(1))
    fstride, nstride = k.load(dims, c_(2)), k.load(dims, c_(3))
    width = vl * nv
    tiles = b.sdiv(b.add(ow, c_(width - 1)), c_(width))
    last = b.sub(ow, c_(width))
    taps = b.mul(b.mul(chans, kh_n), kw_n)

    def n_body(n):
        def oy_body(oy):
            def t_body(t):
                start = b.mul(t, c_(width))
                x0 = b.select(b.icmp_signed(">", start, last), last, start)
                k.clear(accs)

                def c_body(c):
                    def i_body(i):
                        row = b.mul(b.add(b.mul(b.add(b.mul(n, chans), c), hp), b.add(oy, i)), wp)
                        row = b.add(row, x0)
                        tap0 = b.mul(b.add(b.mul(c, kh_n), i), kw_n)

                        def j_body(j):
                            at = b.add(row, j)
                            xv = [k.load_vec(src, b.add(at, c_(v * vl))) for v in range(nv)]
                            tap = b.add(tap0, j)
                            for f in range(k_n):
                                w = k.splat(k.load(wts, b.add(b.mul(c_(f), taps), tap)))
                                for v in range(nv):
                                    k.fma_into(accs[f][v], w, xv[v])

                        loop(c_(0), kw_n, j_body, "j")

                    loop(c_(0), kh_n, i_body, "i")

                loop(c_(0), chans, c_body, "c")
                pix = b.add(b.add(b.mul(n, nstride), b.mul(oy, ow)), x0)
                for f in range(k_n):
                    base = b.add(b.mul(c_(f), fstride), pix)
                    for v in range(nv):
                        k.store_vec(finish(b.load(accs[f][v]), f), out,
                                    b.add(base, c_(v * vl)))  # fmt: skip

            loop(c_(0), tiles, t_body, "t")

        loop(c_(0), oh, oy_body, "oy")

    loop(c_(0), images, n_body, "n")
    return k.done()


def weight_grad_block(filters: int, width: int) -> int:
    """Filters per call of the row weight-gradient kernel for a kernel ``width`` (KW) wide:
    KB*KW accumulators, KB gradient vectors and one input vector fit the registers."""
    regs = host_shape()["regs"]
    return max(1, min(filters, MAX_FILTERS, (regs - 1) // (width + 1)))


def weight_grad_applies(filters: int, stride, kernel_size, out_width: int) -> bool:
    """Whether the row weight-gradient kernel takes this shape: stride 1, few filters (with
    more, the filter-lane kernel fills its lanes), kernels up to 7 wide, rows of at least half
    a vector (rows are padded to whole vectors with zeros)."""
    lanes = direct_conv.tile(1)[1]
    return (
        filters <= MAX_FILTERS
        and tuple(stride) == (1, 1)
        and kernel_size[1] <= 7
        and out_width >= lanes // 2
    )


def _build_weight_grad(kb: int, kw: int, vl: int):
    """dW[k, c, i, j] = sum over (n, oy, x) of G[n, k, oy, x] * S[n, c, oy + i, x + j] for
    KB filters and all (c, i, j): VL output pixels per vector, KB*KW accumulators reduced at
    the end of each (c, i). Arguments: S (G, C, Hp, Wq), G (G, Ktotal, OH, OWp) at the block's
    first filter, out (KB, C, KH, KW); dims [KH, Hp, Wq, OWp, Ktotal]; images, C, OH."""
    k = Frame(f"direct_conv_rows_wgrad_{kb}_{kw}_{vl}", vl)
    b, c_, loop, ir = k.b, k.const, k.loop, k.ir
    src, grad, out, dims, images, chans, oh, _, _, _ = k.args
    reduce = ir.Function(k.mod, ir.FunctionType(k.f32, [k.f32, k.vec]),
                         name=f"llvm.vector.reduce.fadd.v{vl}f32")  # fmt: skip
    accs = [[k.accumulator() for _ in range(kw)] for _ in range(kb)]
    kh_n, hp, wq, owp, ktotal = (k.load(dims, c_(i)) for i in range(5))
    chunks = b.sdiv(owp, c_(vl))

    def c_body(c):
        def i_body(i):
            k.clear(accs)

            def n_body(n):
                def oy_body(oy):
                    xrow = b.mul(b.add(b.mul(b.add(b.mul(n, chans), c), hp), b.add(oy, i)), wq)
                    grow = b.mul(b.mul(n, ktotal), oh)

                    def t_body(t):
                        x0 = b.add(xrow, b.mul(t, c_(vl)))
                        gv = []
                        for f in range(kb):
                            row = b.mul(b.add(b.add(grow, b.mul(c_(f), oh)), oy), owp)
                            gv.append(k.load_vec(grad, b.add(row, b.mul(t, c_(vl)))))
                        for j in range(kw):
                            xv = k.load_vec(src, b.add(x0, c_(j)))
                            for f in range(kb):
                                k.fma_into(accs[f][j], gv[f], xv)

                    loop(c_(0), chunks, t_body, "t")

                loop(c_(0), oh, oy_body, "oy")

            loop(c_(0), images, n_body, "n")
            for f in range(kb):
                base = b.mul(b.add(b.mul(b.add(b.mul(c_(f), chans), c), kh_n), i), c_(kw))
                for j in range(kw):
                    total = b.call(reduce, [ir.Constant(k.f32, 0.0), b.load(accs[f][j])])
                    b.store(total, b.gep(out, [b.add(base, c_(j))]))

        loop(c_(0), kh_n, i_body, "i")

    loop(c_(0), chans, c_body, "c")
    return k.done()


def weight_grad_kernel(kb: int, kw: int):
    """The compiled row weight-gradient kernel for KB filters and a kernel KW wide."""
    return compiled("rows_wgrad", (kb, kw, direct_conv.tile(1)[1]), _build_weight_grad)


def run_weight_grad(fn, padded, grad, k0, k1, out, kernel_size, out_height) -> None:
    """One call for filters k0..k1: ``padded`` (G, C, Hp, Wq), ``grad`` (G, K, OH, OWp) (OWp
    a multiple of the vector width, zeros past the output's width; Wq >= OWp + KW - 1, zeros
    past the input), ``out`` (k1 - k0, C, KH, KW); all C-contiguous float32."""
    for name, a in (("padded", padded), ("grad", grad), ("out", out)):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"direct_conv_rows.run_weight_grad: {name} must be C-contiguous "
                             "float32")  # fmt: skip
    images, chans, hp, wq = padded.shape
    ktotal, owp = grad.shape[1], grad.shape[3]
    dims = np.asarray([kernel_size[0], hp, wq, owp, ktotal], np.int64)
    first = grad.ctypes.data + k0 * grad.shape[2] * owp * 4
    fn(padded.ctypes.data, first, out.ctypes.data, dims.ctypes.data, images, chans,
       out_height, 0, 0, 0)  # fmt: skip


def weight_grad(x, dy, kernel_size, padding=(0, 0)) -> np.ndarray:
    """The weight gradient (K, C, KH, KW) of a stride-1 convolution by the row kernel, the
    whole path in one call (tests): float32 ``x`` (N, C, H, W), ``dy`` (N, K, OH, OW)."""
    x = np.ascontiguousarray(x, np.float32)
    n_img, chans, height, width = x.shape
    filters, (oh, ow) = dy.shape[1], dy.shape[2:]
    (kh, kw), (ph, pw) = kernel_size, padding
    lanes = direct_conv.tile(1)[1]
    owp = -(-ow // lanes) * lanes
    padded = np.zeros((n_img, chans, height + 2 * ph, max(width + 2 * pw, owp + kw - 1)),
                      np.float32)  # fmt: skip
    padded[:, :, ph : ph + height, pw : pw + width] = x
    grad = np.zeros((n_img, filters, oh, owp), np.float32)
    grad[..., :ow] = dy
    out = np.empty((filters, chans, kh, kw), np.float32)
    step = weight_grad_block(filters, kw)
    for k0 in range(0, filters, step):
        k1 = min(k0 + step, filters)
        fn = weight_grad_kernel(k1 - k0, kw)
        run_weight_grad(fn, padded, grad, k0, k1, out[k0:k1], (kh, kw), oh)
    return out


def kernel(filters: int, nv: int, epi: int = EPI_NONE):
    """The compiled row kernel for ``filters`` filters and ``nv`` pixel vectors, storing
    its sums as ``epi`` says (see :func:`_build`)."""
    return compiled("rows", (filters, nv, direct_conv.tile(1)[1], epi), _build)


def epilogue_args(bias, slope) -> np.ndarray:
    """The ``extra`` of :func:`run` for one block's biases and a leaky slope."""
    return np.append(np.asarray(bias, np.float32), np.float32(slope)).astype(np.float32)


def run(fn, padded, weight, out, kernel_hw, out_hw, extra=None) -> None:
    """One call: ``padded`` (G, C, Hp, Wp) and ``weight`` (K, C, KH, KW) C-contiguous
    float32; ``out`` float32, overwritten: (K, G*OH*OW) C-contiguous (the epilogues' rows), or
    (G, K, OH, OW) with C-contiguous planes, such as filters k0..k1 of a whole (G, Ktotal, OH,
    OW) array (the network's layout: no pass to move it there). ``extra``: the
    :func:`epilogue_args` of a kernel built with an epilogue (kept alive by the caller)."""
    for name, a in (("padded", padded), ("weight", weight)):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"direct_conv_rows.run: {name} must be C-contiguous float32")
    images, chans, hp, wp = padded.shape
    plane = out_hw[0] * out_hw[1]
    if out.ndim == 4:
        if (out.dtype != np.float32 or out.shape != (images, weight.shape[0], *out_hw)
                or out.strides[1:] != (plane * 4, out_hw[1] * 4, 4)):  # fmt: skip
            raise ValueError("direct_conv_rows.run: out must be float32 (G, K, OH, OW) with "
                             "C-contiguous planes")  # fmt: skip
        strides = (plane, out.strides[0] // 4)
    else:
        if out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError("direct_conv_rows.run: out must be C-contiguous float32")
        strides = (images * plane, plane)
    if extra is not None and (extra.dtype != np.float32 or extra.size != weight.shape[0] + 1):
        raise ValueError("direct_conv_rows.run: extra must be K biases and a slope, float32")
    address = 0 if extra is None else extra.ctypes.data
    dims = np.asarray([*kernel_hw, *strides, address], np.int64)
    fn(padded.ctypes.data, weight.ctypes.data, out.ctypes.data, dims.ctypes.data,
       images, chans, hp, wp, *out_hw)  # fmt: skip


def conv_forward(x, weight, padding=(0, 0)) -> np.ndarray:
    """Stride-1 convolution (no bias) of float32 ``x`` (N, C, H, W) with ``weight``
    (K, C, KH, KW): (N, K, OH, OW) float32, the whole path (tests)."""
    x = np.ascontiguousarray(x, np.float32)
    n_img, chans, height, width = x.shape
    filters, _, kh, kw = weight.shape
    ph, pw = padding
    oh, ow = height + 2 * ph - kh + 1, width + 2 * pw - kw + 1
    if not applies(filters, (1, 1), ow):
        raise ValueError(f"direct_conv_rows: {filters} filters, output {ow} wide: not applicable")
    padded = np.zeros((n_img, chans, height + 2 * ph, width + 2 * pw), np.float32)
    padded[:, :, ph : ph + height, pw : pw + width] = x
    out = np.empty((filters, n_img * oh * ow), np.float32)
    w = np.ascontiguousarray(weight, np.float32)
    nv = vectors(ow)
    for k0, k1 in blocks(filters, nv):
        run(kernel(k1 - k0, nv), padded, w[k0:k1], out[k0:k1], (kh, kw), (oh, ow))
    return np.ascontiguousarray(out.reshape(filters, n_img, oh, ow).transpose(1, 0, 2, 3))
