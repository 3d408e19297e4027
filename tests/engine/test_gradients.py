"""Float64 central-difference gradient checks for every layer and both losses.

The layers are dtype-generic (numba compiles a float64 version of each kernel), so the checks
run the real float32 code path's kernels in float64: ``layer.astype(np.float64)`` and float64
inputs. For a random projection r of the output, f(x) = sum(r * layer(x)); backward(r) must
match (f(x + h e_i) - f(x - h e_i)) / 2h for the input and for every parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels.conv import output_size
from engine.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from engine.layers import conv2d as conv_layer
from engine.layers import dense as dense_layer
from engine.losses import cross_entropy, total_error

H = 1e-6
TOL = 1e-6


def _numeric(f, a, rng, max_entries=40):
    """Central differences of scalar f() with respect to up to max_entries entries of a."""
    flat = a.reshape(-1)
    picks = rng.choice(flat.size, size=min(flat.size, max_entries), replace=False)
    out = {}
    for i in picks:
        old = flat[i]
        flat[i] = old + H
        up = f()
        flat[i] = old - H
        down = f()
        flat[i] = old
        out[int(i)] = (up - down) / (2 * H)
    return out


def check_layer(layer, x, train=True, seed=0, before_forward=None):
    """Compare the layer's input and parameter gradients with central differences."""
    rng = np.random.default_rng(seed)
    layer.astype(np.float64)
    x = x.astype(np.float64)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    prepare = before_forward or (lambda: None)
    prepare()
    y = layer.forward(x, train=train, record=True)
    assert y.dtype == np.float64
    r = rng.standard_normal(y.shape)

    def f():
        prepare()
        return float(np.sum(r * layer.forward(x, train=train)))

    dx = layer.backward(r)
    assert dx.shape == x.shape and dx.dtype == np.float64
    for i, num in _numeric(f, x, rng).items():
        assert dx.reshape(-1)[i] == pytest.approx(num, rel=TOL, abs=TOL), f"input[{i}]"
    for name, p in layer.params.items():
        g = layer.grads[name]
        assert g.shape == p.shape and g.dtype == np.float64
        for i, num in _numeric(f, p, rng).items():
            assert g.reshape(-1)[i] == pytest.approx(num, rel=TOL, abs=TOL), f"{name}[{i}]"


def _random_window(rng, max_kernel=4):
    k = tuple(int(v) for v in rng.integers(1, max_kernel + 1, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    return k, s, p


def _random_input(rng, k, s, p, channels):
    # Heights and widths that give at least one output position.
    h = int(rng.integers(max(1, k[0] - 2 * p[0]), 10))
    w = int(rng.integers(max(1, k[1] - 2 * p[1]), 10))
    assert output_size(h, k[0], s[0], p[0]) >= 1 and output_size(w, k[1], s[1], p[1]) >= 1
    return rng.standard_normal((int(rng.integers(1, 4)), channels, h, w))


@pytest.mark.parametrize("seed", range(8))
def test_conv2d(seed):
    rng = np.random.default_rng(100 + seed)
    k, s, p = _random_window(rng)
    c = int(rng.integers(1, 4))
    x = _random_input(rng, k, s, p, c)
    check_layer(Conv2D(c, int(rng.integers(1, 5)), k, s, p, bias=seed % 3 != 0), x, seed=seed)


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_with_row_patches(seed):
    # From ROW_PATCHES_FROM_CHANNELS input channels on, Conv2D builds (kh, kw, c) row patches.
    rng = np.random.default_rng(150 + seed)
    k, s, p = _random_window(rng)
    c = conv_layer.ROW_PATCHES_FROM_CHANNELS + int(rng.integers(0, 3))
    x = _random_input(rng, k, s, p, c)
    check_layer(Conv2D(c, int(rng.integers(1, 5)), k, s, p, bias=seed % 2 == 0), x, seed=seed)


@pytest.mark.parametrize("channels", [1, conv_layer.ROW_PATCHES_FROM_CHANNELS + 1])
@pytest.mark.parametrize(
    ("relu", "pool"), [(True, None), (False, ((2, 2), (2, 2))), (True, ((3, 2), (2, 1)))]
)
def test_conv2d_fused_epilogue_equals_the_separate_layers(channels, relu, pool, monkeypatch):
    # Small groups and no parallel threshold: several groups per thread, both threads busy.
    monkeypatch.setattr(conv_layer, "COLUMN_BYTES", 4096)
    monkeypatch.setattr(conv_layer, "PARALLEL_MACS", 0)
    rng = np.random.default_rng(17)
    conv = Conv2D(channels, 5, (3, 3), (1, 1), (1, 1))
    for v in conv.params.values():
        v[...] = rng.standard_normal(v.shape)
    rest = ([ReLU()] if relu else []) + ([MaxPool2D(*pool)] if pool else [])
    x = rng.standard_normal((7, channels, 9, 8)).astype(np.float32)
    x[0, 0, :2] = 0.0  # ties inside pooling windows
    fused = conv.forward(x, record=True, relu=relu, pool=pool)
    h = Conv2D.forward(conv, x, record=False)
    for layer in rest:
        h = layer.forward(h, record=True)
    np.testing.assert_array_equal(fused.view(np.int32), h.view(np.int32))  # bit for bit
    dy = rng.standard_normal(h.shape).astype(np.float32)
    dx_fused = conv.backward(dy)
    grads_fused = dict(conv.grads)
    g = dy
    for layer in reversed(rest):
        g = layer.backward(g)
    conv.forward(x, record=True)
    dx = conv.backward(g)
    np.testing.assert_allclose(dx_fused, dx, rtol=1e-5, atol=1e-5)
    for name, value in conv.grads.items():
        np.testing.assert_allclose(grads_fused[name], value, rtol=1e-4, atol=1e-4)


def test_dense_split_over_threads_matches_numpy(monkeypatch):
    monkeypatch.setattr(dense_layer, "PARALLEL_MACS", 0)
    rng = np.random.default_rng(18)
    layer = Dense(40, 70)
    for v in layer.params.values():
        v[...] = rng.standard_normal(v.shape)
    x = rng.standard_normal((6, 40)).astype(np.float32)
    w, b = layer.params["weight"], layer.params["bias"]
    np.testing.assert_allclose(layer.forward(x, record=True), x @ w.T + b, rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal((6, 70)).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dy), dy @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.grads["weight"], dy.T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.grads["bias"], dy.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_dense_results_do_not_depend_on_its_tuners_choice(monkeypatch):
    # The tuner alternates the worker threads and the calling thread for its first calls;
    # both compute the same bands, so every call gives the same bits (BLAS sums a product of
    # another shape, one band instead of two, in another order).
    monkeypatch.setattr(dense_layer, "THREADS", 2)  # two bands on any machine
    rng = np.random.default_rng(19)
    layer = Dense(3136, 1024)
    for v in layer.params.values():
        v[...] = rng.standard_normal(v.shape)
    x = rng.standard_normal((9, 3136)).astype(np.float32)
    dy = rng.standard_normal((9, 1024)).astype(np.float32)
    runs = []
    for _ in range(6):
        y = layer.forward(x, record=True).copy()
        dx = layer.backward(dy).copy()
        runs.append((y, dx, layer.grads["weight"].copy()))
    assert {t._calls for t in layer._tuners.values()} == {6}
    for y, dx, dw in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        np.testing.assert_array_equal(dx, runs[0][1])
        np.testing.assert_array_equal(dw, runs[0][2])


@pytest.mark.parametrize("seed", range(6))
def test_max_pool2d(seed):
    rng = np.random.default_rng(200 + seed)
    k, s, p = _random_window(rng)
    x = _random_input(rng, k, s, p, int(rng.integers(1, 4)))
    check_layer(MaxPool2D(k, s, p), x, seed=seed)


@pytest.mark.parametrize("seed", range(6))
def test_avg_pool2d(seed):
    rng = np.random.default_rng(300 + seed)
    k, s, p = _random_window(rng)
    x = _random_input(rng, k, s, p, int(rng.integers(1, 4)))
    check_layer(AvgPool2D(k, s, p), x, seed=seed)


@pytest.mark.parametrize(
    "layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh()], ids=lambda v: type(v).__name__
)
def test_activations(layer):
    x = np.random.default_rng(4).standard_normal((3, 2, 4, 5)) * 3
    check_layer(layer, x)


def test_global_avg_pool():
    check_layer(GlobalAvgPool(), np.random.default_rng(5).standard_normal((2, 3, 4, 5)))


def test_flatten():
    check_layer(Flatten(), np.random.default_rng(6).standard_normal((2, 3, 4, 5)))


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 2, 2)])
def test_dense(shape):
    x = np.random.default_rng(7).standard_normal(shape)
    check_layer(Dense(int(np.prod(shape[1:])), 5), x)


def test_dense_without_bias():
    check_layer(Dense(6, 3, bias=False), np.random.default_rng(8).standard_normal((4, 6)))


@pytest.mark.parametrize("train", [True, False])
def test_dropout(train):
    gen = np.random.default_rng(9)
    state = gen.bit_generator.state

    def same_mask():
        gen.bit_generator.state = state

    x = np.random.default_rng(10).standard_normal((4, 3, 3, 3))
    check_layer(Dropout(0.4, gen), x, train=train, before_forward=same_mask)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(5, 3, 2, 3), (6, 4)])
def test_batch_norm(shape, train):
    layer = BatchNorm(shape[1])
    rng = np.random.default_rng(11)
    layer.buffers["running_mean"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, shape[1])
    check_layer(layer, rng.standard_normal(shape) * 2 + 1, train=train)


@pytest.mark.parametrize("loss", [cross_entropy, total_error], ids=["cross_entropy", "total_error"])
@pytest.mark.parametrize("soft", [False, True])
def test_losses(loss, soft):
    rng = np.random.default_rng(12)
    z = rng.standard_normal((5, 4)) * 3
    y = rng.integers(0, 4, 5)
    if soft:
        y = rng.dirichlet(np.ones(4), 5)
    value, dz = loss(z, y)
    assert isinstance(value, float) and dz.shape == z.shape and dz.dtype == np.float64
    for i, num in _numeric(lambda: loss(z, y)[0], z, rng).items():
        assert dz.reshape(-1)[i] == pytest.approx(num, rel=TOL, abs=TOL), f"logits[{i}]"


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    value, dz = cross_entropy(z, np.array([1]))
    assert value == pytest.approx(1000.0) and np.all(np.isfinite(dz))


def test_total_error_value():
    z = np.log(np.array([[0.2, 0.8]]))  # softmax gives exactly these probabilities
    value, _ = total_error(z, np.array([1]))
    assert value == pytest.approx(0.5 * (0.2**2 + 0.2**2))
