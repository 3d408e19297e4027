"""Batch norm's kernels against their numpy references (also with NUMBA_DISABLE_JIT=1), and
the evaluation-mode fold of batch norm into the convolution before it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import batch_norm as bn


def _x(shape, seed=0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype(dtype)


SHAPES = [(4, 3, 10), (2, 5, 1), (7, 1, 33)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_backward_match_references(shape, dtype):
    x = _x(shape, 1, dtype)
    gamma, beta = _x(shape[1], 2, dtype), _x(shape[1], 3, dtype)
    fast = bn.train_forward(x, gamma, beta, 1e-5)
    naive = bn.train_forward_naive(x, gamma, beta, 1e-5)
    for a, b in zip(fast, naive, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert fast[0].dtype == dtype
    _, mean, _, invstd = fast
    dy = _x(shape, 4, dtype)
    for need in (True, False):
        got = bn.train_backward(x, dy, mean, invstd, gamma, need)
        want = bn.train_backward_naive(x, dy, mean, invstd, gamma, need)
        for a, b in zip(got, want, strict=True):
            if b is None:
                assert a is None
            else:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_evaluation_affine_and_its_backward_match_references(shape):
    x = _x(shape, 5)
    scale, shift = _x(shape[1], 6), _x(shape[1], 7)
    np.testing.assert_allclose(bn.affine(x, scale, shift), bn.affine_naive(x, scale, shift),
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    mean, invstd = _x(shape[1], 8).astype(np.float64), np.abs(_x(shape[1], 9)) + 0.5
    dy = _x(shape, 10)
    got = bn.affine_backward(x, dy, mean, invstd.astype(np.float64), scale)
    want = bn.affine_backward_naive(x, dy, mean, invstd, scale)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 10), (3, 2, 37)])  # under and over a lane row (16)
def test_kernels_with_a_fused_activation_match_references(act, dtype, shape):
    x = _x(shape, 1, dtype)
    gamma, beta = _x(shape[1], 2, dtype), _x(shape[1], 3, dtype)
    y, mean, _, invstd = bn.train_forward(x, gamma, beta, 1e-5, act, 0.1)
    want = bn.train_forward_naive(x, gamma, beta, 1e-5, act, 0.1)[0]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    dy = _x(shape, 4, dtype)
    got = bn.train_backward(x, dy, mean, invstd, gamma, True, y, act, 0.1)
    ref = bn.train_backward_naive(x, dy, mean, invstd, gamma, True, y, act, 0.1)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Without dx (the first layer): the same parameter gradients, nothing written for dx.
    none, dgamma, dbeta = bn.train_backward(x, dy, mean, invstd, gamma, False, y, act, 0.1)
    assert none is None
    np.testing.assert_allclose(dgamma, ref[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbeta, ref[2], rtol=1e-4, atol=1e-5)
    scale, shift = _x(shape[1], 6, dtype), _x(shape[1], 7, dtype)
    y = bn.affine(x, scale, shift, act, 0.1)
    np.testing.assert_allclose(y, bn.affine_naive(x, scale, shift, act, 0.1), 1e-5, 1e-6)
    got = bn.affine_backward(x, dy, mean, invstd, scale, True, y, act, 0.1)
    ref = bn.affine_backward_naive(x, dy, mean, invstd, scale, True, y, act, 0.1)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_statistics_of_a_large_offset_stay_exact():
    x = (np.random.default_rng(0).standard_normal((64, 2, 256)) + 1000).astype(np.float32)
    _, mean, var, _ = bn.train_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), 0)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-9)
    # A tiny spread far from zero (one pass for both moments must not cancel it away).
    x = (np.random.default_rng(1).standard_normal((32, 2, 100)) * 0.01 + 1e4).astype(np.float32)
    _, mean, var, _ = bn.train_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32), 0)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2)), rtol=1e-6)


def test_evaluation_folds_batch_norm_into_the_convolution_without_changing_outputs():
    import engine

    net = engine.build("resnet20", seed=0)
    rng = np.random.default_rng(0)
    for k, v in net._state_arrays().items():
        if k.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean"):
            v[...] = rng.standard_normal(v.shape) * 0.2
    stages = net._stages(fold=True)
    assert sum("affine" in fused for _, _, fused in stages) == 21  # every conv of resnet20
    x = rng.standard_normal((5, 3, 32, 32)).astype(np.float32)
    unfused = net.forward_activations(x)[-1]
    np.testing.assert_allclose(net.forward(x), unfused, rtol=1e-4, atol=1e-5)


def test_batch_norm_kernels_match_references_with_the_jit_disabled(rerun_without_jit):
    rerun_without_jit(__file__, "-k", "not folds")
