"""Every fast kernel against its naive numpy reference, in float32 (and once without the JIT).

The same checks run a second time in a subprocess with NUMBA_DISABLE_JIT=1, so the kernels'
Python bodies (what a debugger steps through) are checked too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from engine.kernels import activations as act
from engine.kernels import conv, pool, updates

RTOL, ATOL = 1e-5, 1e-5

# (N, C, H, W, kernel, stride, padding): square and non-square, strided, padded.
WINDOWS = [
    (2, 3, 7, 6, (3, 3), (1, 1), (1, 1)),
    (1, 2, 9, 8, (2, 3), (2, 1), (0, 1)),
    (3, 1, 8, 8, (2, 2), (2, 2), (0, 0)),
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


def test_kernels_match_references_with_the_jit_disabled():
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return  # this is the subprocess run itself
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    # -p no:cacheprovider: the child must not race the parent on .pytest_cache.
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
