"""Every fused stage of engine.network against the same layers run one by one.

A convolution followed by an activation and/or a pool (and, in evaluation, a batch norm folded
into it) runs as one stage; its outputs, loss and gradients must be those of the separate
layers (to float32 rounding). Also run with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine

ACTIVATIONS = [
    None,
    {"type": "relu"},
    {"type": "leaky_relu", "slope": 0.1},
    {"type": "tanh"},
    {"type": "sigmoid"},
]
POOLS = [
    None,
    {"type": "max_pool2d", "size": 2},
    {"type": "max_pool2d", "size": 3, "stride": 2},  # overlapping windows
    {"type": "avg_pool2d", "size": 2},
    {"type": "avg_pool2d", "size": 3, "stride": 2},
    {"type": "global_avg_pool"},
]


def _spec(act, pool, bn, channels=3):
    layers = [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "bias": not bn}]
    if bn:
        layers.append({"type": "batch_norm"})
    if act:
        layers.append(dict(act))
    if pool:
        layers.append(dict(pool))
    if not pool or pool["type"] != "global_avg_pool":
        layers.append({"type": "flatten"})
    layers.append({"type": "dense", "units": 3})
    return {"format": "cnn-workbench/network", "version": 1, "rounding": "floor",
            "input": {"channels": channels, "height": 9, "width": 9}, "layers": layers}  # fmt: skip


def _unfused(net):
    """Make ``net`` run every layer as a stage of its own."""
    net._stages = lambda fold=False: [(i, i + 1, {}) for i in range(len(net.layers))]


def _data(net, n=6):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, *net.input_shape)).astype(np.float32) * 2
    return x, np.arange(n) % net.num_classes


def _fused_layers(net, fold):
    return sum(stop - start - 1 for start, stop, _ in net._stages(fold=fold))


def _assert_same(fused, plain, x, y, evaluate=True):
    """Loss, gradients (same keys) and, with ``evaluate``, evaluation outputs of ``fused``
    equal those of ``plain`` (the same network run layer by layer) to float32 rounding."""
    loss, grads = fused.loss_and_grads(x, y)
    loss_ref, grads_ref = plain.loss_and_grads(x, y)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6)
    assert grads.keys() == grads_ref.keys()
    for key in grads:
        np.testing.assert_allclose(grads[key], grads_ref[key], rtol=1e-4, atol=1e-6, err_msg=key)
    if evaluate:
        np.testing.assert_allclose(fused.forward(x), plain.forward(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize(
    "pool", POOLS, ids=lambda p: p["type"] + str(p.get("size", "")) if p else "none"
)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: a["type"] if a else "none")
def test_fused_stage_trains_and_evaluates_like_the_separate_layers(act, pool, bn):
    spec = _spec(act, pool, bn, channels=1 if pool and pool["type"] == "avg_pool2d" else 3)
    fused, plain = engine.build(spec, seed=3), engine.build(spec, seed=3)
    _unfused(plain)
    x, y = _data(fused)
    # What follows the conv fuses; in training a batch norm between stops that (its batch
    # statistics need the whole batch) and takes the activation itself; in evaluation it
    # folds into the conv.
    after = (act is not None) + (pool is not None)
    assert _fused_layers(fused, fold=False) == (act is not None if bn else after)
    assert _fused_layers(fused, fold=True) == after + bn
    # Evaluation too: batch norm (running statistics, moved by the step) folds in.
    _assert_same(fused, plain, x, y)


def test_fusion_inside_a_residual_branch_matches_the_separate_layers():
    spec = {"format": "cnn-workbench/network", "version": 2,
            "input": {"channels": 3, "height": 8, "width": 8}, "layers": [
                {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "id": "a"},
                {"type": "tanh", "id": "t"},
                {"type": "conv2d", "filters": 4, "kernel": 1},
                {"type": "sigmoid", "id": "s"},
                {"type": "add", "inputs": ["t", "s"]},
                {"type": "avg_pool2d", "size": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 2}]}  # fmt: skip
    fused, plain = engine.build(spec, seed=0), engine.build(spec, seed=0)
    _unfused(plain)
    # conv+tanh fuse; conv+sigmoid fuse; the pool after the add does not (add is no conv).
    assert _fused_layers(fused, fold=False) == 2
    x, y = _data(fused)
    _assert_same(fused, plain, x, y, evaluate=False)


@pytest.mark.parametrize("act", ACTIVATIONS[1:], ids=lambda a: a["type"])
@pytest.mark.parametrize("frozen", [False, True])
def test_batch_norm_after_a_dense_layer_takes_the_activation_like_the_separate_layers(act, frozen):
    layers = [{"type": "conv2d", "filters": 3, "kernel": 3}, {"type": "flatten"},
              {"type": "dense", "units": 6}, {"type": "batch_norm"}, dict(act),
              {"type": "dense", "units": 3}]  # fmt: skip
    if frozen:  # frozen batch norm: running statistics in training too (the affine kernels)
        layers[3]["trainable"] = False
    spec = {"format": "cnn-workbench/network", "version": 1,
            "input": {"channels": 2, "height": 5, "width": 5}, "layers": layers}  # fmt: skip
    fused, plain = engine.build(spec, seed=2), engine.build(spec, seed=2)
    _unfused(plain)
    assert (3, 5, {"act": act["type"], "slope": act.get("slope", 0.0)}) in fused._stages()
    x, y = _data(fused, 8)
    _assert_same(fused, plain, x, y)


@pytest.mark.parametrize("act", ACTIVATIONS[1:], ids=lambda a: a["type"])
def test_a_residual_add_takes_the_activation_after_it_like_the_separate_layers(act):
    spec = {"format": "cnn-workbench/network", "version": 2,
            "input": {"channels": 4, "height": 6, "width": 6}, "layers": [
                {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "id": "a"},
                {"type": "batch_norm", "id": "b"},
                {"type": "add", "inputs": ["b", "input"]},
                dict(act, id="l3"),
                {"type": "add", "inputs": ["a", "b", "l3"], "id": "l4"},  # three inputs
                dict(act),
                {"type": "flatten"},
                {"type": "dense", "units": 3}]}  # fmt: skip
    fused, plain = engine.build(spec, seed=4), engine.build(spec, seed=4)
    _unfused(plain)
    stages = fused._stages()
    assert (2, 4, {"act": act["type"], "slope": act.get("slope", 0.0)}) in stages
    assert (4, 6, {"act": act["type"], "slope": act.get("slope", 0.0)}) in stages
    x, y = _data(fused)
    _assert_same(fused, plain, x, y)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_add_act_kernels_match_references(act):
    from engine.kernels import merge

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 4, 5, 7)).astype(np.float32) for _ in range(3)]
    for inputs in (xs[:2], xs):
        y = merge.add_act_forward(inputs, act, 0.1)
        np.testing.assert_allclose(y, merge.add_act_forward_naive(inputs, act, 0.1), 1e-5, 1e-6)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        np.testing.assert_allclose(
            merge.add_act_backward(dy, y, act, 0.1),
            merge.add_act_backward_naive(dy, y, act, 0.1),
            1e-6,
            1e-7,
        )


def test_a_negative_leaky_slope_is_not_fused():
    from engine.layers import LeakyReLU
    from engine.network import _fusable_activation

    assert _fusable_activation(LeakyReLU(0.2)) == ("leaky_relu", 0.2)
    assert _fusable_activation(LeakyReLU(-0.2)) is None


def test_fusion_with_the_jit_disabled(rerun_without_jit):
    rerun_without_jit(__file__, "-k", "residual or kernels or (tanh and avg_pool2d2)")
