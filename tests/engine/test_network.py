"""The Network contract: PyTorch names, state dicts, determinism, agreement with a naive
numpy reference network, and a short training run that must learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
from engine.init import ZeroInitWarning
from engine.network import StateDictError, warm_up
from engine.optim import SGD, Adam

LENET5_SHAPES = {
    "0.weight": (6, 1, 5, 5),
    "0.bias": (6,),
    "3.weight": (16, 6, 5, 5),
    "3.bias": (16,),
    "7.weight": (120, 400),
    "7.bias": (120,),
    "9.weight": (84, 120),
    "9.bias": (84,),
    "11.weight": (10, 84),
    "11.bias": (10,),
}


def _spec(layers, channels=1, size=8):
    return engine.load_spec(
        {
            "format": "cnn-workbench/network",
            "version": 1,
            "input": {"channels": channels, "height": size, "width": size},
            "layers": layers,
        }
    )


BN_SPEC = [
    {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1},
    {"type": "batch_norm"},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "dense", "units": 4},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": 2},
]


@pytest.fixture(scope="module")
def lenet():
    return engine.build(engine.load_spec("lenet5"), seed=0)


def test_lenet5_state_dict_uses_pytorch_names_and_shapes(lenet):
    sd = lenet.state_dict()
    assert {k: v.shape for k, v in sd.items()} == LENET5_SHAPES
    assert list(sd) == list(LENET5_SHAPES)  # PyTorch's order
    assert all(v.dtype == np.float32 for v in sd.values())
    assert lenet.num_classes == 10
    # "auto" is PyTorch's default: biases uniform within ±1/sqrt(fan_in), like the weights.
    for i, layer in enumerate(lenet.layers):
        if "bias" in layer.params:
            bound = 1 / np.sqrt(layer.fan_in)
            b, w = sd[f"{i}.bias"], sd[f"{i}.weight"]
            assert 0 < np.abs(b).max() <= bound and 0 < np.abs(w).max() <= bound
    sd["0.weight"][...] = 7  # a copy, not the live array
    assert not np.any(lenet.parameters()["0.weight"] == 7)


def test_batch_norm_state_dict_and_num_batches_tracked():
    net = engine.build(_spec(BN_SPEC), seed=0)
    sd = net.state_dict()
    assert list(sd)[:6] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
    ]
    assert set(net.parameters()) == set(sd) - {"1.running_mean", "1.running_var"}
    sd["1.num_batches_tracked"] = np.array(3)
    net.load_state_dict(sd)


def test_load_state_dict_round_trip(lenet):
    other = engine.build(engine.load_spec("lenet5"), seed=1)
    x = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    assert not np.allclose(other.forward(x), lenet.forward(x))
    live = other.parameters()["0.weight"]
    other.load_state_dict(lenet.state_dict())
    np.testing.assert_array_equal(other.forward(x), lenet.forward(x))
    assert other.parameters()["0.weight"] is live  # updated in place


def test_load_state_dict_names_bad_keys(lenet):
    sd = lenet.state_dict()
    del sd["3.bias"]
    sd["12.weight"] = np.zeros(3, np.float32)
    sd["7.weight"] = np.zeros((120, 399), np.float32)
    with pytest.raises(StateDictError) as info:
        lenet.load_state_dict(sd)
    message = str(info.value)
    assert "missing keys: 3.bias" in message
    assert "unexpected keys: 12.weight" in message
    assert "7.weight: shape (120, 399) in the state dict, (120, 400) in the network" in message
    assert lenet.parameters()["7.weight"].any()  # nothing was half-loaded


def test_build_is_deterministic_per_seed():
    spec = engine.load_spec("lenet5")
    a, b, c = (engine.build(spec, seed=s).state_dict() for s in (3, 3, 4))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_build_reports_shape_problems():
    spec = _spec([{"type": "conv2d", "filters": 2, "kernel": 9}, {"type": "flatten"}])
    with pytest.raises(engine.SpecError) as info:
        engine.build(spec)
    assert info.value.problems


def test_zero_init_warns_naming_the_layer():
    spec = _spec([{"type": "flatten"}, {"type": "dense", "units": 3, "init": "zeros"}])
    with pytest.warns(ZeroInitWarning, match=r"layers\[1\]"):
        net = engine.build(spec)
    assert not net.parameters()["1.weight"].any()


def test_build_from_weights_matches_loading_them_and_draws_nothing():
    layers = [*BN_SPEC, {"type": "dense", "units": 3, "init": "zeros"}]
    spec = _spec(layers)
    with pytest.warns(ZeroInitWarning):
        trained = engine.build(spec, seed=3)
    state = {k: v + 0.25 for k, v in trained.state_dict().items()}
    with pytest.warns(ZeroInitWarning):
        reference = engine.build(spec, seed=9)
    reference.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing drawn: no zero-init warning either
        net = engine.build(spec, weights=state)
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    for k, v in reference.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k], v)
    np.testing.assert_array_equal(net.forward(x), reference.forward(x))
    state.pop(next(iter(state)))
    with pytest.raises(StateDictError, match="missing keys"):
        engine.build(spec, weights=state)


def test_forward_activations_and_probabilities(lenet):
    x = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)
    outs = lenet.forward_activations(x)
    assert [o.shape[1:] for o in outs][:3] == [(6, 28, 28), (6, 28, 28), (6, 14, 14)]
    np.testing.assert_array_equal(outs[-1], lenet.forward(x))
    p = lenet.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        lenet.forward(np.zeros((2, 3, 32, 32), np.float32))


def test_dropout_rng_state_resumes_bit_for_bit():
    net = engine.build(_spec(BN_SPEC), seed=0)
    x = np.random.default_rng(2).standard_normal((4, 1, 8, 8)).astype(np.float32)
    state = net.rng_state()
    first = net.forward(x, train=True)
    assert not np.array_equal(first, net.forward(x, train=True))  # fresh masks
    net.set_rng_state(state)
    np.testing.assert_array_equal(first, net.forward(x, train=True))


# --------------------------------------------------------------- naive reference network


def _naive_lenet(sd, x):
    """LeNet-5 in float64 with direct loops over kernel offsets (no im2col, no numba)."""

    def conv(x, w, b):
        n, _, h, wd = x.shape
        k, _, f, _ = w.shape
        out = np.zeros((n, k, h - f + 1, wd - f + 1))
        for i in range(f):
            for j in range(f):
                patch = x[:, :, i : i + h - f + 1, j : j + wd - f + 1]
                out += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j])
        return out + b[None, :, None, None]

    def pool(x):
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    h = pool(relu(conv(x.astype(np.float64), sd["0.weight"], sd["0.bias"])))
    h = pool(relu(conv(h, sd["3.weight"], sd["3.bias"]))).reshape(len(x), -1)
    h = relu(h @ sd["7.weight"].T + sd["7.bias"])
    h = relu(h @ sd["9.weight"].T + sd["9.bias"])
    return h @ sd["11.weight"].T + sd["11.bias"]


def _naive_ce(z, y):
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def test_lenet5_matches_a_naive_reference_network(lenet):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 32, 32)).astype(np.float32)
    y = np.array([1, 7, 3, 0])
    sd = lenet.state_dict()
    np.testing.assert_allclose(lenet.forward(x), _naive_lenet(sd, x), rtol=1e-4, atol=1e-4)
    loss, grads = lenet.loss_and_grads(x, y)
    assert loss == pytest.approx(_naive_ce(_naive_lenet(sd, x), y), rel=1e-5)
    assert set(grads) == set(LENET5_SHAPES)
    wide = {k: v.astype(np.float64) for k, v in sd.items()}
    h = 1e-6
    for name in LENET5_SHAPES:
        flat = wide[name].reshape(-1)
        for i in rng.choice(flat.size, size=3, replace=False):
            old = flat[i]
            flat[i] = old + h
            up = _naive_ce(_naive_lenet(wide, x), y)
            flat[i] = old - h
            down = _naive_ce(_naive_lenet(wide, x), y)
            flat[i] = old
            numeric = (up - down) / (2 * h)
            assert grads[name].reshape(-1)[i] == pytest.approx(numeric, rel=2e-3, abs=2e-5)


# --------------------------------------------------------------- learning


def _blobs(n, rng):
    """8x8 images with a bright blob in one of four quadrants (the class), plus noise."""
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    yy, xx = np.mgrid[0:8, 0:8]
    for i, label in enumerate(y):
        cy, cx = 2 + 4 * (label // 2), 2 + 4 * (label % 2)
        x[i, 0] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
    return x, y


@pytest.mark.parametrize("optimiser", ["sgd", "adam"])
def test_short_training_run_learns_separable_blobs(optimiser):
    spec = _spec(
        [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ]
    )
    net = engine.build(spec, seed=0)
    rng = np.random.default_rng(0)
    x, y = _blobs(512, rng)
    x_test, y_test = _blobs(256, rng)
    opt = SGD(0.1, momentum=0.9) if optimiser == "sgd" else Adam(0.01)
    for _ in range(4):
        for start in range(0, len(x), 32):
            _, grads = net.loss_and_grads(x[start : start + 32], y[start : start + 32])
            opt.step(net.parameters(), grads)
    accuracy = np.mean(net.forward(x_test).argmax(axis=1) == y_test)
    assert accuracy >= 0.95


def test_total_error_loss_and_eval_mode_gradients():
    net = engine.build(_spec(BN_SPEC), seed=0)
    x = np.random.default_rng(4).standard_normal((4, 1, 8, 8)).astype(np.float32)
    loss, grads = net.loss_and_grads(x, np.array([0, 1, 1, 0]), loss="total_error", train=False)
    assert 0 <= loss <= 1 and set(grads) == set(net.parameters())
    with pytest.raises(ValueError, match="unknown loss"):
        net.loss_and_grads(x, np.zeros(4, int), loss="hinge")


def test_warm_up_runs_every_kernel_once_per_process(monkeypatch):
    import threading

    import engine.network as network

    network._warm_up_kernels()  # the whole body runs (every kernel variant it reaches)
    calls = []
    monkeypatch.setattr(network, "_warmed", False)
    monkeypatch.setattr(network, "_warm_up_kernels", lambda: calls.append(1))
    threads = [threading.Thread(target=warm_up) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    warm_up()
    assert calls == [1]  # later and concurrent calls find the kernels ready


# --------------------------------------------------------------- fused and parallel paths


def _layer_by_layer(net, x, y):
    """Loss and gradients through the plain layer protocol, one layer at a time (no fusion)."""
    from engine.losses import cross_entropy

    h = x
    for layer in net.layers:
        h = layer.forward(h, train=True, record=True)
    value, grad = cross_entropy(h, y)
    grads = {}
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        grad = layer.backward(grad)
        grads.update({f"{i}.{k}": g for k, g in layer.grads.items()})
        layer.grads = {}
        if grad is None:
            break
    for layer in net.layers:
        layer.clear()
    return h, value, grads


@pytest.mark.parametrize("preset", ["lenet5", "mnist-2conv"])
def test_fused_stages_give_the_layer_by_layer_results(preset):
    net = engine.build(preset, seed=1)
    stages = net._stages()
    # conv + relu + pool fused
    assert any(stop - start == 3 and fused["act"] == "relu" for start, stop, fused in stages)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, *net.input_shape)).astype(np.float32)
    y = rng.integers(0, net.num_classes, 9)
    state = net.rng_state()
    _, value, grads = _layer_by_layer(net, x, y)
    net.set_rng_state(state)  # the same dropout masks
    fused_value, fused_grads = net.loss_and_grads(x, y)
    assert fused_value == pytest.approx(value, rel=1e-6)
    assert set(fused_grads) == set(grads) == set(net.parameters())
    for k, g in grads.items():
        np.testing.assert_allclose(fused_grads[k], g, rtol=1e-4, atol=1e-6, err_msg=k)
    # Evaluation: the fused forward equals the last of the per-layer activations, bit for bit.
    acts = net.forward_activations(x)
    assert len(acts) == len(net.layers)
    np.testing.assert_array_equal(net.forward(x), acts[-1])


def test_large_evaluation_batches_are_split_over_threads_with_the_same_result(lenet):
    x = np.random.default_rng(6).standard_normal((200, 1, 32, 32)).astype(np.float32)
    whole = lenet.forward(x)
    parts = np.concatenate([lenet.forward(x[i : i + 50]) for i in range(0, 200, 50)])
    np.testing.assert_allclose(whole, parts, rtol=1e-6, atol=1e-6)
    assert whole.dtype == np.float32 and whole.shape == (200, 10)


def test_build_refuses_parameters_the_machine_cannot_hold_before_allocating():
    import time

    from engine.spec import SpecError

    # Valid shapes; 196,608 inputs into 100,000 units: 79 GB of weights.
    spec = {"format": "cnn-workbench/network", "version": 1, "name": "huge",
            "input": {"channels": 3, "height": 256, "width": 256},
            "layers": [{"type": "flatten"}, {"type": "dense", "units": 100_000},
                       {"type": "dense", "units": 10}]}  # fmt: skip
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"huge: the network's parameters need 7\d\.\d GiB"):
        engine.build(spec)
    assert time.perf_counter() - start < 5


def test_a_graph_builder_input_is_checked_like_a_files():
    from engine.blocks import GraphBuilder
    from engine.graph import INPUT
    from engine.spec import SpecError

    g = GraphBuilder()
    f = g.layer("flatten", INPUT, "f")
    g.layer("dense", f, "out", units=2)
    with pytest.raises(SpecError, match="channels"):
        g.spec((0, 8, 8))
    assert g.spec((1, 8, 8)).input.shape == (1, 8, 8)
