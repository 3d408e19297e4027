"""Optimisers against PyTorch's formulas written out in numpy, state-dict resumption, and
learning-rate schedules."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from engine.optim import SGD, Adam, ConstantLR, CosineLR, Schedule, StepLR, make_optimizer

STEPS = 6


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "0.weight": rng.standard_normal((3, 2, 2, 2)).astype(np.float32),
        "0.bias": rng.standard_normal(3).astype(np.float32),
    }
    grads = [
        {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        for _ in range(STEPS)
    ]
    return params, grads


def _sgd_reference(params, grads, lr, momentum, wd, nesterov):
    """torch.optim.SGD's loop, in float64."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    buf = {}
    for g_step in grads:
        for k in p:
            g = g_step[k] + wd * p[k]
            if momentum:
                buf[k] = g.copy() if k not in buf else momentum * buf[k] + g
                g = g + momentum * buf[k] if nesterov else buf[k]
            p[k] = p[k] - lr * g
    return p


def _adam_reference(params, grads, lr, b1, b2, eps, wd):
    """torch.optim.Adam's loop, in float64."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, g_step in enumerate(grads, start=1):
        for k in p:
            g = g_step[k] + wd * p[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            denom = np.sqrt(v[k]) / math.sqrt(1 - b2**t) + eps
            p[k] = p[k] - lr / (1 - b1**t) * m[k] / denom
    return p


@pytest.mark.parametrize(
    ("momentum", "wd", "nesterov"), [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 1e-2, True)]
)
def test_sgd_matches_reference(momentum, wd, nesterov):
    params, grads = _problem()
    expected = _sgd_reference(params, grads, 0.05, momentum, wd, nesterov)
    opt = SGD(0.05, momentum=momentum, weight_decay=wd, nesterov=nesterov)
    for g in grads:
        opt.step(params, g)
    for k in params:
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_adam_matches_reference(wd):
    params, grads = _problem(1)
    expected = _adam_reference(params, grads, 0.01, 0.9, 0.999, 1e-8, wd)
    opt = Adam(0.01, weight_decay=wd)
    for g in grads:
        opt.step(params, g)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_dict_resume_is_bit_identical(kind, tmp_path):
    settings = {"lr": 0.01, "momentum": 0.9} if kind == "sgd" else {"lr": 0.01}
    params, grads = _problem(2)
    a = make_optimizer(kind, **settings)
    for g in grads[:3]:
        a.step(params, g)
    resumed = {k: v.copy() for k, v in params.items()}
    # Through an .npz file, as a checkpoint stores it.
    buffer = io.BytesIO()
    np.savez(buffer, **a.state_dict())
    buffer.seek(0)
    b = make_optimizer(kind, lr=1.0)
    b.load_state_dict(dict(np.load(buffer)))
    assert b.steps == 3 and b.lr == 0.01
    for g in grads[3:]:
        a.step(params, g)
        b.step(resumed, g)
    for k in params:
        np.testing.assert_array_equal(params[k], resumed[k])


def test_state_dict_refuses_another_optimiser():
    with pytest.raises(ValueError, match="cannot load a 'sgd'"):
        Adam().load_state_dict(SGD().state_dict())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="lr"):
        SGD(lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="unknown optimiser"):
        make_optimizer("rmsprop")


def test_schedules():
    assert [ConstantLR(0.1).lr_at(e) for e in (0, 5)] == [0.1, 0.1]
    step = StepLR(0.1, step_size=2, gamma=0.5)
    assert [step.lr_at(e) for e in range(5)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    cos = CosineLR(0.1, total_epochs=4, min_lr=0.01)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert [cos.lr_at(e) for e in range(5)] == pytest.approx(expected)
    assert cos.lr_at(0) == pytest.approx(0.1) and cos.lr_at(9) == pytest.approx(0.01)
    for s in (ConstantLR(0.1), step, cos):
        again = Schedule.from_dict(s.to_dict())
        assert type(again) is type(s) and again.to_dict() == s.to_dict()
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        Schedule.from_dict({"kind": "warmup"})
    with pytest.raises(ValueError, match="unknown fields"):
        Schedule.from_dict({"kind": "step", "lr": 0.1, "step_size": 2, "gama": 0.5})
