"""Every fast kernel against its naive numpy reference, in float32 (and once without the JIT).

The same checks run a second time in a subprocess with NUMBA_DISABLE_JIT=1, so the kernels'
Python bodies (what a debugger steps through) are checked too.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import activations as act
from engine.kernels import conv, conv_epilogue, epilogue, pool, updates
from engine.kernels.activations import activation_code

RTOL, ATOL = 1e-5, 1e-5
#: The activations a conv epilogue applies (False: none, True: relu), and the leaky slope.
ACTS = [False, True, "leaky_relu", "tanh", "sigmoid"]
SLOPE = 0.1


def _same(got, want, act):
    """Bit for bit for the exact activations; float32 tanh and sigmoid are the rational
    approximation (within 4e-7), so within float32 tolerance there."""
    if act in ("tanh", "sigmoid"):
        np.testing.assert_allclose(got, want, RTOL, ATOL)
    else:
        np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


# (N, C, H, W, kernel, stride, padding): square and non-square, strided, padded.
WINDOWS = [
    (2, 3, 7, 6, (3, 3), (1, 1), (1, 1)),
    (1, 2, 9, 8, (2, 3), (2, 1), (0, 1)),
    (3, 1, 8, 8, (2, 2), (2, 2), (0, 0)),
    (2, 3, 7, 9, (2, 2), (2, 2), (0, 0)),  # 2x2 pairs with a row and a column left over
    (2, 4, 10, 7, (3, 2), (3, 2), (1, 1)),
    (1, 1, 5, 5, (5, 5), (1, 1), (2, 2)),
]


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", WINDOWS)
def test_im2col_and_col2im_match_references(case):
    n, c, h, w, k, s, p = case
    x = _x((n, c, h, w))
    cols = conv.im2col(x, k, s, p)
    np.testing.assert_array_equal(cols, conv.im2col_naive(x, k, s, p))
    assert cols.dtype == np.float32
    g = _x(cols.shape, 1)
    np.testing.assert_allclose(
        conv.col2im(g, x.shape, k, s, p), conv.col2im_naive(g, x.shape, k, s, p), RTOL, ATOL
    )


def test_col2im_is_the_adjoint_of_im2col():
    n, c, h, w, k, s, p = WINDOWS[3]
    x = _x((n, c, h, w)).astype(np.float64)
    g = _x(conv.im2col(x, k, s, p).shape, 2).astype(np.float64)
    lhs = np.sum(conv.im2col(x, k, s, p) * g)
    rhs = np.sum(x * conv.col2im(g, x.shape, k, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_gemm_layout_moves_match_references():
    rows, bias = _x((5, 3 * 12)), _x((5,), 1)
    np.testing.assert_array_equal(
        conv.bias_rows_to_nchw(rows, bias, 3), conv.bias_rows_to_nchw_naive(rows, bias, 3)
    )
    dy = _x((3, 5, 12), 2)
    np.testing.assert_array_equal(conv.nchw_to_rows(dy), conv.nchw_to_rows_naive(dy))


@pytest.mark.parametrize("case", WINDOWS)
def test_im2row_and_row2im_match_references(case):
    n, c, h, w, k, s, p = case
    x = _x((n, c, h, w))
    rows = conv.im2row(x, k, s, p)
    np.testing.assert_array_equal(rows, conv.im2row_naive(x, k, s, p))
    assert rows.dtype == np.float32
    g = _x(rows.shape, 1)
    np.testing.assert_allclose(
        conv.row2im(g, x.shape, k, s, p), conv.row2im_naive(g, x.shape, k, s, p), RTOL, ATOL
    )
    # The scratch and out arrays the layers pass in give the same results.
    scratch = np.empty((h + 2 * p[0]) * (w + 2 * p[1]) * c + 7, np.float32)
    out = np.empty_like(rows)
    np.testing.assert_array_equal(conv.im2row(x, k, s, p, out=out, scratch=scratch), rows)


def test_row_patches_and_reordered_weight_give_the_convolution():
    n, c, h, w, k, s, p = WINDOWS[0]
    x, weight = _x((n, c, h, w)), _x((4, c, *k), 1)
    by_cols = weight.reshape(4, -1) @ conv.im2col(x, k, s, p)
    by_rows = conv.weight_to_rows(weight) @ conv.im2row(x, k, s, p).T
    np.testing.assert_allclose(by_rows, by_cols, RTOL, ATOL)
    np.testing.assert_array_equal(
        conv.rows_to_weight(conv.weight_to_rows(weight), weight.shape), weight
    )


def test_row2im_is_the_adjoint_of_im2row():
    n, c, h, w, k, s, p = WINDOWS[3]
    x = _x((n, c, h, w)).astype(np.float64)
    g = _x(conv.im2row(x, k, s, p).shape, 2).astype(np.float64)
    lhs = np.sum(conv.im2row(x, k, s, p) * g)
    rhs = np.sum(x * conv.row2im(g, x.shape, k, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_out_arrays_are_checked():
    x = _x((1, 2, 5, 5))
    with pytest.raises(ValueError, match="im2row: out"):
        conv.im2row(x, (3, 3), (1, 1), (0, 0), out=np.empty((9, 17), np.float32))
    with pytest.raises(ValueError, match="col2im: out"):
        conv.col2im(_x((18, 9)), x.shape, (3, 3), (1, 1), (0, 0), out=np.empty((1, 2, 5, 4)))


def _with_specials(a):
    """Ties (exact zeros), negative zeros and a NaN, the cases max pooling must order."""
    flat = a.reshape(-1)
    flat[::5] = 0.0
    flat[1::7] = -0.0
    flat[3] = np.nan
    return a


@pytest.mark.parametrize("relu", ACTS)
def test_bias_act_rows_to_nchw_matches_reference(relu):
    rows, bias = _with_specials(_x((5, 3 * 12))), _x((5,), 1)
    got = conv_epilogue.bias_act_rows_to_nchw(rows, bias, 3, relu, slope=SLOPE)
    want = conv_epilogue.bias_act_rows_to_nchw_naive(rows, bias, 3, relu, SLOPE)
    _same(got, want, relu)


@pytest.mark.parametrize("relu", ACTS)
@pytest.mark.parametrize(
    ("size", "kernel", "stride"),
    [
        ((6, 8), (2, 2), (2, 2)),
        ((7, 9), (2, 2), (2, 2)),
        ((7, 7), (3, 3), (2, 2)),
        ((5, 6), (2, 3), (1, 3)),
    ],
)
def test_fused_bias_act_max_pool_matches_the_separate_references(relu, size, kernel, stride):
    n, k_out = 3, 4
    rows = _with_specials(_x((k_out, n * size[0] * size[1])))
    bias = _x((k_out,), 1)
    bias[0] = 0.0
    oh = conv.output_size(size[0], kernel[0], stride[0], 0)
    ow = conv.output_size(size[1], kernel[1], stride[1], 0)
    out = np.empty((n, k_out, oh, ow), np.float32)
    arg = np.empty((n, k_out, oh, ow), np.int32)
    fused = conv_epilogue
    fused.bias_act_max_pool(rows, bias, n, relu, size, kernel, stride, out, arg, slope=SLOPE)
    y_ref, arg_ref = fused.bias_act_max_pool_naive(rows, bias, n, relu, size, kernel, stride, SLOPE)
    _same(out, y_ref, relu)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = _x(out.shape, 2)
    sums = np.full(k_out, 0.5)
    rows_ref = conv_epilogue.max_pool_act_grad_to_rows_naive(dy, out, arg, relu, size, SLOPE)
    got = conv_epilogue.max_pool_act_grad_to_rows(dy, out, arg, relu, size, sums=sums, slope=SLOPE)
    np.testing.assert_allclose(got, rows_ref, RTOL, ATOL)
    # The bias gradient summed in the same pass equals the rows' sums.
    want = conv.add_row_sums_naive(rows_ref, np.full(k_out, 0.5))
    np.testing.assert_allclose(sums, want, rtol=1e-6, atol=1e-6)


def test_fused_max_pool_lets_the_first_nan_win():
    rows = np.zeros((1, 8), np.float32)  # one 2x4 plane: windows {0, 1, 4, 5}, {2, 3, 6, 7}
    rows[0, 6] = np.nan
    rows[0, 7] = np.nan
    out = np.empty((1, 1, 1, 2), np.float32)
    arg = np.empty((1, 1, 1, 2), np.int32)
    bias = np.zeros(1, np.float32)
    conv_epilogue.bias_act_max_pool(rows, bias, 1, True, (2, 4), (2, 2), (2, 2), out, arg)
    assert out[0, 0, 0, 0] == 0 and arg[0, 0, 0, 0] == 0
    assert np.isnan(out[0, 0, 0, 1]) and arg[0, 0, 0, 1] == 6


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize(
    ("size", "kernel", "stride"),
    [((6, 8), (2, 2), (2, 2)), ((7, 9), (2, 2), (2, 2)), ((9, 9), (3, 3), (3, 3)),
     ((5, 7), (1, 2), (2, 3))],  # fmt: skip
)
@pytest.mark.parametrize("filters", [5, 20])  # under and over a vector of filters
def test_max_pool_from_pixel_rows_equals_the_plane_scan(act, size, kernel, stride, filters):
    """The pixel-major epilogue (a filter-lane or row-patch product) against the plane scan
    over the same product's (K, m) transpose: values and argmax bit for bit, ties, negative
    zeros and NaN included."""
    n = 3
    wide = filters + 3  # the product's rows are wider than K (padded filter lanes)
    pixels = _with_specials(_x((n * size[0] * size[1], wide), 4))
    bias = _x((filters,), 5)
    bias[0] = 0.0
    code = activation_code(act if act is not True else "relu")
    slope = np.float32(SLOPE if act == "leaky_relu" else 0.0)
    oh = conv.output_size(size[0], kernel[0], stride[0], 0)
    ow = conv.output_size(size[1], kernel[1], stride[1], 0)
    got = np.empty((n, filters, oh, ow), np.float32), np.empty((n, filters, oh, ow), np.int32)
    want = np.empty_like(got[0]), np.empty_like(got[1])
    plane = size[0] * size[1]
    view = pixels[:, :filters].T  # as the layer hands it over
    rows = conv_epilogue.pixel_rows(view)
    assert rows is not None and rows.shape == pixels.shape and np.shares_memory(rows, pixels)
    conv_epilogue._bias_act_max_pool_pixels(rows, bias, code, slope, size[1], *kernel,
                                            *stride, plane, *got)  # fmt: skip
    conv_epilogue._bias_act_max_pool(np.ascontiguousarray(view), bias, code, slope, size[1],
                                     *kernel, *stride, plane, *want)  # fmt: skip
    np.testing.assert_array_equal(got[0].view(np.int32), want[0].view(np.int32))
    np.testing.assert_array_equal(got[1], want[1])
    assert conv_epilogue.pixel_rows(np.ascontiguousarray(view)) is None  # not pixel-major


@pytest.mark.parametrize("relu", ACTS)
def test_act_grad_to_rows_matches_reference(relu):
    dy, y = _x((3, 5, 12)), _with_specials(_x((3, 5, 12), 1))
    np.testing.assert_allclose(
        conv_epilogue.act_grad_to_rows(dy, y, relu, slope=SLOPE),
        conv_epilogue.act_grad_to_rows_naive(dy, y, relu, SLOPE),
        RTOL,
        ATOL,
    )


@pytest.mark.parametrize("act_name", [None, "relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize(
    ("size", "kernel", "stride"),
    [((6, 8), (2, 2), (2, 2)), ((7, 9), (2, 2), (2, 2)), ((7, 7), (3, 3), (2, 2)),
     ((5, 6), (5, 6), (1, 1))],  # fmt: skip
)
def test_fused_bias_act_avg_pool_matches_the_separate_references(act_name, size, kernel, stride):
    n, k_out = 3, 4
    rows, bias = _x((k_out, n * size[0] * size[1])), _x((k_out,), 1)
    out, full = epilogue.bias_act_avg_pool(
        rows, bias, n, act_name, size, kernel, stride, SLOPE, keep=True
    )
    want, full_ref = epilogue.bias_act_avg_pool_naive(
        rows, bias, n, act_name, size, kernel, stride, SLOPE
    )
    np.testing.assert_allclose(out, want, RTOL, ATOL)
    np.testing.assert_allclose(full, full_ref.reshape(full.shape), RTOL, ATOL)
    assert out.dtype == np.float32
    dy = _x(out.shape, 2)
    sums = np.full(k_out, 0.5)
    got = epilogue.avg_pool_act_grad_to_rows(
        dy, full, act_name, size, kernel, stride, SLOPE, sums=sums
    )
    ref = epilogue.avg_pool_act_grad_to_rows_naive(dy, full, act_name, size, kernel, stride, SLOPE)
    np.testing.assert_allclose(got, ref, RTOL, ATOL)
    np.testing.assert_allclose(sums, 0.5 + ref.astype(np.float64).sum(axis=1), 1e-5, 1e-5)


def test_fast_float32_tanh_and_sigmoid_stay_close_to_the_exact_functions():
    x = np.linspace(-30, 30, 200_001, dtype=np.float32)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(act.tanh_forward(x) - exact).max() < 5e-7
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.abs(act.sigmoid_forward(x) - sig).max() < 3e-7
    special = np.array([np.nan, np.inf, -np.inf, 0.0], np.float32)
    np.testing.assert_array_equal(act.tanh_forward(special), [np.nan, 1, -1, 0])
    np.testing.assert_array_equal(act.sigmoid_forward(special), [np.nan, 1, 0, 0.5])


def test_add_row_sums_matches_reference():
    rows = _x((5, 1003)) * 100
    acc = _x((5,), 1).astype(np.float64)
    want = conv.add_row_sums_naive(rows, acc.copy())
    np.testing.assert_allclose(conv.add_row_sums(rows, acc), want, rtol=1e-12)


def test_max_pool_without_padding_matches_reference_with_specials():
    x = _with_specials(_x((2, 3, 6, 7)))
    y, arg = pool.max_pool_forward(x, (2, 3), (2, 2), (0, 0))
    y_ref, arg_ref = pool.max_pool_forward_naive(x, (2, 3), (2, 2), (0, 0))
    np.testing.assert_array_equal(y.view(np.int32), y_ref.view(np.int32))
    np.testing.assert_array_equal(arg, arg_ref)


@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (1, 2, 9, 8), (3, 1, 2, 2), (2, 2, 5, 5)])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_2x2_kernel_equals_the_general_scan_and_reference(shape, ties):
    # The 2x2 stride-2 kernel (selects) against the window scan and the reference, bit for
    # bit: NaNs (the first of a window wins, whatever comes after), infinities, ties (the
    # first maximum wins) and odd sizes (the last row or column is left out).
    rng = np.random.default_rng(sum(shape) + ties)
    x = rng.standard_normal(shape).astype(np.float32)
    if ties:
        x = np.round(x)
    flat = x.reshape(-1)
    flat[rng.integers(0, x.size, 2)] = np.nan
    flat[rng.integers(0, x.size, 1)] = -np.nan
    flat[rng.integers(0, x.size, 1)] = np.inf
    flat[rng.integers(0, x.size, 1)] = -np.inf
    # Two NaNs of different bits in one window, at its first and last place, and a window
    # whose NaN comes second with a larger value and another NaN after it.
    x[0, 0, 0:2, 0:2] = [[np.nan, 1.0], [2.0, -np.nan]]
    if shape[3] >= 4:
        x[0, 0, 0:2, 2:4] = [[1.0, np.nan], [5.0, -np.nan]]
    y, arg = pool.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    y_ref, arg_ref = pool.max_pool_forward_naive(x, (2, 2), (2, 2), (0, 0))
    y_scan, arg_scan = np.empty_like(y), np.empty_like(arg)
    pool._max_pool_forward_inside(x, 2, 2, 2, 2, y_scan, arg_scan)
    for want_y, want_arg in ((y_ref, arg_ref), (y_scan, arg_scan)):
        np.testing.assert_array_equal(y.view(np.int32), want_y.view(np.int32))
        np.testing.assert_array_equal(arg, want_arg)
    dy = _x(y.shape, 1)
    np.testing.assert_array_equal(
        pool.max_pool_backward(dy, arg, x.shape), pool.max_pool_backward_naive(dy, arg, x.shape)
    )


@pytest.mark.parametrize("case", WINDOWS)
def test_max_pool_matches_reference(case):
    n, c, h, w, k, s, p = case
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        pytest.fail("test case invalid: max-pool padding must be at most half the window")
    x = _x((n, c, h, w))
    y, arg = pool.max_pool_forward(x, k, s, p)
    y_ref, arg_ref = pool.max_pool_forward_naive(x, k, s, p)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = _x(y.shape, 1)
    np.testing.assert_allclose(
        pool.max_pool_backward(dy, arg, x.shape),
        pool.max_pool_backward_naive(dy, arg_ref, x.shape),
        RTOL,
        ATOL,
    )


def test_max_pool_breaks_ties_to_the_first_element_and_propagates_nan():
    x = np.zeros((1, 1, 2, 4), np.float32)
    x[0, 0, 1, 3] = np.nan
    y, arg = pool.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    assert arg[0, 0, 0, 0] == 0  # all zeros: the first wins
    assert np.isnan(y[0, 0, 0, 1]) and arg[0, 0, 0, 1] == 7


@pytest.mark.parametrize("case", WINDOWS)
def test_avg_pool_matches_reference(case):
    n, c, h, w, k, s, p = case
    x = _x((n, c, h, w))
    y = pool.avg_pool_forward(x, k, s, p)
    np.testing.assert_allclose(y, pool.avg_pool_forward_naive(x, k, s, p), RTOL, ATOL)
    dy = _x(y.shape, 1)
    np.testing.assert_allclose(
        pool.avg_pool_backward(dy, x.shape, k, s, p),
        pool.avg_pool_backward_naive(dy, x.shape, k, s, p),
        RTOL,
        ATOL,
    )


def test_avg_pool_counts_padding_in_the_divisor():
    x = np.ones((1, 1, 2, 2), np.float32)
    y = pool.avg_pool_forward(x, (2, 2), (2, 2), (1, 1))
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 0.25, np.float32))


@pytest.mark.parametrize(
    ("fast", "naive", "extra"),
    [
        (act.relu_forward, act.relu_forward_naive, ()),
        (act.leaky_relu_forward, act.leaky_relu_forward_naive, (0.1,)),
        (act.sigmoid_forward, act.sigmoid_forward_naive, ()),
        (act.tanh_forward, act.tanh_forward_naive, ()),
    ],
)
def test_activation_forwards_match_references(fast, naive, extra):
    x = _x((3, 4, 5, 6)) * 10
    x[0, 0, 0, :3] = [0.0, -100.0, 100.0]  # the kink and the saturated tails
    y = fast(x, *extra)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, naive(x, *extra), RTOL, ATOL)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name", ACTS)
def test_act_inplace_and_strided_act_run_match_references(name):
    # The in-place pass and the strided source (a transposed (m, K) product) take their own
    # loops for the rational tanh / sigmoid; both must give what the contiguous pass gives.
    f32 = np.float32
    code = act.activation_code(name, np.float32)
    consts = (f32(SLOPE), f32(0), f32(1), f32(0.5))
    x = _x((37, 6)) * 6
    x[0, :3] = [0.0, -100.0, 100.0]
    want = act.act_value_naive(x + f32(0.25), name, SLOPE)
    v = (x + f32(0.25)).T.copy()
    for k in range(v.shape[0]):
        act.act_inplace(v[k], code, *consts)
    _same(v.T.copy(), want, name)
    rows = x.T  # strided rows: element stride 6
    dst = np.empty_like(rows)
    for k in range(rows.shape[0]):
        act.act_run(rows[k], f32(0.25), dst[k], code, *consts)
    _same(dst.T.copy(), want, name)
    planes = np.empty((6, 37), np.float32)
    conv_epilogue.act_planes(rows, 0, np.full(6, 0.25, np.float32), code, *consts, planes)
    _same(planes.T.copy(), want, name)


@pytest.mark.parametrize(
    ("fast", "naive", "extra"),
    [
        (act.relu_backward, act.relu_backward_naive, ()),
        (act.leaky_relu_backward, act.leaky_relu_backward_naive, (0.2,)),
        (act.sigmoid_backward, act.sigmoid_backward_naive, ()),
        (act.tanh_backward, act.tanh_backward_naive, ()),
    ],
)
def test_activation_backwards_match_references(fast, naive, extra):
    saved, dy = _x((2, 3, 4)), _x((2, 3, 4), 1)
    np.testing.assert_allclose(fast(saved, dy, *extra), naive(saved, dy, *extra), RTOL, ATOL)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("first", [False, True])
def test_sgd_update_matches_reference(nesterov, first):
    p, g, b = _x((50,)), _x((50,), 1), _x((50,), 2)
    p2, b2 = p.copy(), b.copy()
    args = (np.float32(0.1), np.float32(0.9), np.float32(1e-2), nesterov, first)
    updates.sgd_update(p, g, b, *args)
    updates.sgd_update_naive(p2, g, b2, *args)
    np.testing.assert_allclose(p, p2, RTOL, ATOL)
    np.testing.assert_allclose(b, b2, RTOL, ATOL)


def test_adam_update_matches_reference():
    p, g = _x((50,)), _x((50,), 1)
    m, v = _x((50,), 2), np.abs(_x((50,), 3))
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    f = np.float32
    args = (f(1e-3 / 0.19), f(0.9), f(0.999), f(np.sqrt(1 - 0.999**2)), f(1e-8), f(1e-2))
    updates.adam_update(p, g, m, v, *args)
    updates.adam_update_naive(p2, g, m2, v2, *args)
    for fast, ref in ((p, p2), (m, m2), (v, v2)):
        np.testing.assert_allclose(fast, ref, RTOL, ATOL)


def test_kernels_match_references_with_the_jit_disabled(rerun_without_jit):
    rerun_without_jit(__file__)
