"""engine.estimate: the predicted epoch time, its arithmetic and its measurement."""

from __future__ import annotations

import itertools
import math

import pytest

from engine.estimate import MAX_STEPS, EpochEstimate, epoch_seconds, estimate_epoch
from engine.spec import NetworkSpec, SpecError

TINY = {
    "format": "cnn-workbench/network",
    "version": 1,
    "input": {"channels": 1, "height": 8, "width": 8},
    "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 3},
    ],
}


def tiny(**changes) -> NetworkSpec:
    return NetworkSpec.from_dict({**TINY, **changes})


def test_epoch_seconds_counts_partial_batches_and_the_validation_pass():
    # 1000 images in batches of 64: 16 steps (the last one partial); 100 val images: 2 passes
    assert epoch_seconds(0.1, 0.05, 64, 1000, 100) == pytest.approx(16 * 0.1 + 2 * 0.05)
    assert epoch_seconds(0.1, 0.05, 64, 1024, 0) == pytest.approx(16 * 0.1)
    assert epoch_seconds(0.1, 0.05, 64, 0, 0) == pytest.approx(0.1)  # still one step


@pytest.mark.parametrize(
    ("args", "words"),
    [((0.1, 0.1, 0, 10, 10), "batch_size"), ((0.1, 0.1, 8, -1, 10), "num_train=-1"),
     ((-0.1, 0.1, 8, 10, 10), "batch_s=-0.1")],
)  # fmt: skip
def test_epoch_seconds_refuses_impossible_inputs_by_name(args, words):
    with pytest.raises(ValueError, match=words):
        epoch_seconds(*args)


def test_estimate_scales_the_timed_steps_to_one_epoch():
    """A clock that advances 1 s per reading: every step and the forward pass take exactly
    1 s, so the estimate is the arithmetic of the counts alone."""
    ticks = itertools.count()
    est = estimate_epoch(tiny(), 16, 100, 40, budget_s=0.5, clock=lambda: float(next(ticks)))
    assert isinstance(est, EpochEstimate)
    assert est.batch_size == 16 and est.batch_s == pytest.approx(1.0)
    assert est.steps == 2  # the budget is spent after the two steps always timed
    assert est.images_per_s == pytest.approx(16.0)
    assert est.epoch_s == pytest.approx(math.ceil(100 / 16) + math.ceil(40 / 16))


def test_estimate_stops_at_the_step_limit_on_a_fast_clock():
    ticks = itertools.count()
    est = estimate_epoch(tiny(), 4, 10, 0, budget_s=10.0, clock=lambda: next(ticks) * 1e-9)
    assert est.steps == MAX_STEPS


def test_estimate_on_the_real_clock_is_positive_and_finite():
    est = estimate_epoch(tiny(), 8, 64, 16, budget_s=0.05)
    assert 0 < est.batch_s < 10 and math.isfinite(est.epoch_s) and est.epoch_s >= est.batch_s
    assert est.images_per_s == pytest.approx(8 / est.batch_s)


def test_a_network_that_cannot_be_built_raises_the_spec_error():
    broken = tiny(layers=[{"type": "conv2d", "filters": 2, "kernel": 9}, *TINY["layers"][1:]])
    with pytest.raises(SpecError):
        estimate_epoch(broken, 8, 64, 16, budget_s=0.05)
