"""Gradients of random graphs (residual adds, concatenations, an output shared by several
layers, branches of different depth) against central differences in float64, and graph
networks against PyTorch on the same weights."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.blocks import GraphBuilder
from engine.graph import INPUT
from engine.losses import LOSSES
from engine.network import build

H = 1e-6


def _branch(g: GraphBuilder, rng: random.Random, x: str, channels: int, depth: int, tag: str):
    """``depth`` same-size layers on ``x`` ending in ``channels`` channels."""
    for d in range(depth):
        kind = rng.choice(["conv", "conv", "tanh", "bn", "sigmoid", "lp"])
        last = d == depth - 1
        if kind == "conv" or last:
            k = rng.choice([1, 3])
            x = g.layer("conv2d", x, f"{tag}c{d}", filters=channels if last else rng.randint(1, 3),
                        kernel=k, padding=k // 2)  # fmt: skip
        elif kind == "bn":
            x = g.layer("batch_norm", x, f"{tag}n{d}")
        elif kind == "lp":
            x = g.layer("lp_pool2d", x, f"{tag}l{d}", p=2.0, size=1)
        else:
            x = g.layer(kind, x, f"{tag}a{d}")
    return x


def random_graph(seed: int):
    rng = random.Random(seed)
    g = GraphBuilder()
    channels = rng.randint(2, 3)
    x = g.layer("conv2d", INPUT, "stem", filters=channels, kernel=3, padding=1)
    x = g.layer("tanh", x, "stem_act")
    for b in range(rng.randint(2, 3)):
        kind = rng.choice(["add", "concat", "shared"])
        tag = f"b{b}"
        if kind == "add":
            y = _branch(g, rng, x, channels, rng.randint(1, 3), tag + "m")
            x = g.layer("add", [y, x], tag + "add")
        elif kind == "concat":
            left = _branch(g, rng, x, rng.randint(1, 2), rng.randint(1, 2), tag + "l")
            right = _branch(g, rng, x, rng.randint(1, 2), rng.randint(2, 3), tag + "r")
            x = g.layer("concat", [left, x, right], tag + "cat")
            x = g.layer("conv2d", x, tag + "mix", filters=2, kernel=1)
            channels = 2
        else:  # one output read by three layers, summed
            a = _branch(g, rng, x, channels, 1, tag + "a")
            b2 = _branch(g, rng, x, channels, 2, tag + "b")
            x = g.layer("add", [a, b2, x], tag + "sum")
        if rng.random() < 0.5:
            pool = rng.choice(["max_pool2d", "avg_pool2d"])
            x = g.layer(pool, x, tag + "pool", size=2, stride=1)
    x = g.layer(rng.choice(["global_avg_pool", "flatten"]), x, "head")
    g.layer("dense", x, "fc", units=3)
    return g.spec((2, 6, 6), name=f"random graph {seed}")


@pytest.mark.parametrize("seed", range(8))
def test_random_graph_gradients_match_central_differences(seed):
    spec = random_graph(seed)
    net = build(spec, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed)
    for p in net.parameters().values():
        p[...] = rng.standard_normal(p.shape) * 0.5
    x = rng.standard_normal((4, 2, 6, 6))
    y = np.array([0, 1, 2, 1])

    def f():
        return float(LOSSES["cross_entropy"](net._run(net._check_input(x), True, False), y)[0])

    _, grads = net.loss_and_grads(x, y)
    assert set(grads) == set(net.parameters())
    checked = 0
    for name, param in net.parameters().items():
        flat = param.reshape(-1)
        for i in rng.choice(flat.size, size=min(flat.size, 6), replace=False):
            old = flat[i]
            flat[i] = old + H
            up = f()
            flat[i] = old - H
            down = f()
            flat[i] = old
            numeric = (up - down) / (2 * H)
            assert grads[name].reshape(-1)[i] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (
                spec.to_dict(), name, int(i),
            )  # fmt: skip
            checked += 1
    assert checked > 20


def test_graph_branches_have_their_parameters_named_by_position():
    spec = random_graph(3)
    net = build(spec)
    positions = {int(k.split(".")[0]) for k in net.parameters()}
    assert positions == {i for i, layer in enumerate(net.layers) if layer.params}
    assert any(spec.layers[i].type == "conv2d" and i > 2 for i in positions)


@pytest.mark.parametrize("preset", ["resnet20", "inception-cifar", "densenet-cifar", "lenet5"])
def test_graph_presets_match_pytorch_forward_and_gradients(preset):
    import torch

    from engine.interop.torch_module import torch_module

    net = build(preset, seed=1).astype(np.float64)
    rng = np.random.default_rng(0)
    for k, v in net.state_dict().items():  # non-trivial batch norm statistics
        if k.endswith("running_var"):
            net._state_arrays()[k][...] = rng.uniform(0.5, 2.0, v.shape)
        elif k.endswith("running_mean") or k.endswith(".bias"):
            net._state_arrays()[k][...] = rng.standard_normal(v.shape) * 0.1
    model = torch_module(net, torch.float64)
    x = rng.standard_normal((4, *net.input_shape))
    model.eval()
    want = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-6, atol=1e-8)
    model.train()
    y = np.array([0, 3, 5, 9])
    out = model(torch.from_numpy(x))
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    _, grads = net.loss_and_grads(x, y)
    params = dict(model.named_parameters())
    assert set(grads) == set(params)
    for k, g in grads.items():
        np.testing.assert_allclose(g, params[k].grad.numpy(), rtol=1e-5, atol=1e-8, err_msg=k)


def _grads_both_ways(spec, monkeypatch, n=4):
    """Gradients of ``spec`` (float32) with each conv adding its input gradient into the
    pending one (``into``) and with the sum taken afterwards; and the calls that got ``into``."""
    import engine.network as network
    from engine.layers import Conv2D

    net = build(spec, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *net.input_shape)).astype(np.float32)
    y = rng.integers(0, net.num_classes, n)
    calls = []
    backward = Conv2D.backward

    def spy(self, dy, into=None):
        calls.append(into is not None)
        return backward(self, dy, into=into) if into is not None else backward(self, dy)

    monkeypatch.setattr(Conv2D, "backward", spy)
    _, fused = net.loss_and_grads(x, y)
    fused = {k: v.copy() for k, v in fused.items()}
    with monkeypatch.context() as m:
        m.setattr(network, "_into", lambda *a: None)
        _, plain = net.loss_and_grads(x, y)
    return fused, plain, calls


def test_a_conv_adds_its_input_gradient_into_the_shortcut_gradient_bit_for_bit(monkeypatch):
    fused, plain, calls = _grads_both_ways("resnet20", monkeypatch)
    assert sum(calls[: len(calls) // 2]) == 9  # every block input of resnet20, in one pass
    assert fused.keys() == plain.keys()
    for k in plain:
        np.testing.assert_array_equal(fused[k], plain[k], err_msg=k)


def test_a_gradient_the_conv_is_handed_is_never_its_into(monkeypatch):
    # add(a, conv(a)): the add hands one array to both of its inputs, so the gradient waiting
    # for ``a`` is the very array the conv reads; adding into it would corrupt what it reads.
    g = GraphBuilder()
    a = g.layer("conv2d", INPUT, "a", filters=3, kernel=3, padding=1)
    b = g.layer("conv2d", a, "b", filters=3, kernel=3, padding=1)
    s = g.layer("add", [a, b], "s")
    f = g.layer("flatten", s, "f")
    g.layer("dense", f, "out", units=4)
    spec = g.spec((2, 6, 6))
    fused, plain, calls = _grads_both_ways(spec, monkeypatch)
    assert not any(calls)
    for k in plain:
        np.testing.assert_array_equal(fused[k], plain[k], err_msg=k)
