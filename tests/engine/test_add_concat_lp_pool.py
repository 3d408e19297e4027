"""The layer types added through the catalogue (add, concat, lp_pool2d): their kernels against
their naive references, float32 and float64, again in a subprocess with NUMBA_DISABLE_JIT=1
(so the pure-Python kernels are checked too), against PyTorch, and their layers' gradients
against central differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import lp_pool, merge


def _x(shape, seed=0, dtype=np.float32, positive=False):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return np.abs(a) + 0.1 if positive else a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [2, 3, 5])
def test_add_matches_reference(count, dtype):
    xs = [_x((2, 3, 4, 5), k, dtype) for k in range(count)]
    got = merge.add_forward(xs)
    np.testing.assert_allclose(got, merge.add_forward_naive(xs), rtol=1e-6)
    assert got.dtype == dtype and not any(np.shares_memory(got, x) for x in xs)


@pytest.mark.parametrize("channels", [(1, 2), (3, 1, 4), (5, 5)])
def test_concat_matches_reference(channels):
    xs = [_x((2, c, 3, 4), k) for k, c in enumerate(channels)]
    np.testing.assert_array_equal(merge.concat_forward(xs), merge.concat_forward_naive(xs))
    dy = _x((2, sum(channels), 3, 4), 9)
    for a, b in zip(
        merge.concat_backward(dy, channels), merge.concat_backward_naive(dy, channels), strict=True
    ):
        np.testing.assert_array_equal(a, b)
        assert a.flags.c_contiguous


CASES = [
    # p, kernel, stride, input shape
    (1.0, (2, 2), (2, 2), (2, 3, 6, 6)),
    (2.0, (3, 3), (1, 1), (1, 2, 7, 5)),
    (2.0, (2, 3), (2, 1), (2, 1, 6, 7)),
    (3.0, (3, 2), (2, 3), (1, 2, 8, 9)),
    (1.5, (2, 2), (1, 1), (2, 2, 5, 5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("p", "kernel", "stride", "shape"), CASES)
def test_lp_pool_matches_reference(p, kernel, stride, shape, dtype):
    # Positive inputs: a fractional p of a negative value is NaN (as in PyTorch).
    x = _x(shape, 1, dtype, positive=p != int(p) or p == 3.0)
    y = lp_pool.lp_pool_forward(x, p, kernel, stride)
    ref = lp_pool.lp_pool_forward_naive(x, p, kernel, stride)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    dy = _x(y.shape, 2, dtype)
    np.testing.assert_allclose(
        lp_pool.lp_pool_backward(x, y, dy, p, kernel, stride),
        lp_pool.lp_pool_backward_naive(x, y, dy, p, kernel, stride),
        rtol=1e-4, atol=1e-5,
    )  # fmt: skip


def test_lp_pool_p1_is_sum_pooling_and_p2_the_l2_norm():
    x = _x((1, 1, 4, 4), 3)
    s = lp_pool.lp_pool_forward(x, 1.0, (2, 2), (2, 2))
    np.testing.assert_allclose(s[0, 0, 0, 0], x[0, 0, :2, :2].sum(), rtol=1e-6)
    l2 = lp_pool.lp_pool_forward(x, 2.0, (2, 2), (2, 2))
    np.testing.assert_allclose(l2[0, 0, 1, 1], np.linalg.norm(x[0, 0, 2:, 2:]), rtol=1e-6)


def test_lp_pool_gradient_of_an_all_zero_window_is_zero():
    x = np.zeros((1, 1, 2, 2), np.float64)
    y = lp_pool.lp_pool_forward(x, 2.0, (2, 2), (2, 2))
    dx = lp_pool.lp_pool_backward(x, y, np.ones_like(y), 2.0, (2, 2), (2, 2))
    assert np.all(dx == 0)


def test_lp_pool_equals_pytorch():
    import torch

    x = _x((2, 3, 7, 7), 4, np.float64)
    for p, k, s in ((1.0, 2, 2), (2.0, 3, 2), (3.0, 2, 1)):
        xin = np.abs(x) if p == 3.0 else x
        want = torch.nn.LPPool2d(p, k, s)(torch.from_numpy(xin)).numpy()
        got = lp_pool.lp_pool_forward(xin, p, (k, k), (s, s))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_merge_kernels_match_references_with_the_jit_disabled(rerun_without_jit):
    rerun_without_jit(__file__)


# --------------------------------------------------------------------------- gradients

H = 1e-6


def _numeric(f, a, rng, entries=25):
    flat = a.reshape(-1)
    out = {}
    for i in rng.choice(flat.size, size=min(flat.size, entries), replace=False):
        old = flat[i]
        flat[i] = old + H
        up = f()
        flat[i] = old - H
        down = f()
        flat[i] = old
        out[int(i)] = (up - down) / (2 * H)
    return out


@pytest.mark.parametrize(
    ("p", "kernel", "stride"), [(1.0, 2, 2), (2.0, 3, 1), (3.0, 2, 1), (2.5, 3, 2)]
)
def test_lp_pool_layer_gradient_matches_central_differences(p, kernel, stride):
    from engine.layers import LpPool2D

    rng = np.random.default_rng(0)
    layer = LpPool2D(p, (kernel, kernel), (stride, stride))
    x = np.abs(rng.standard_normal((2, 2, 7, 7))) + 0.2  # positive: defined for every p
    y = layer.forward(x, record=True)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)
    for i, num in _numeric(lambda: float(np.sum(r * layer.forward(x))), x, rng).items():
        assert dx.reshape(-1)[i] == pytest.approx(num, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("kind", ["add", "concat"])
def test_merge_layer_gradients_match_central_differences(kind):
    from engine.layers import Add, Concat

    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, c, 3, 4)) for c in ((2, 2, 2) if kind == "add" else (1, 3, 2))]
    layer = Add(3) if kind == "add" else Concat([x.shape[1] for x in xs])
    y = layer.forward(*xs, record=True)
    r = rng.standard_normal(y.shape)
    grads = layer.backward(r)
    assert len(grads) == 3
    for x, g in zip(xs, grads, strict=True):
        assert g.shape == x.shape
        for i, num in _numeric(lambda: float(np.sum(r * layer.forward(*xs))), x, rng).items():
            assert g.reshape(-1)[i] == pytest.approx(num, rel=1e-6, abs=1e-8)
