"""The predicted epoch time of a network on this machine: a few real training steps, timed.

    est = estimate_epoch(spec, batch_size=64, num_train=54_000, num_val=6_000)
    est.epoch_s        # seconds for one epoch's training steps and its validation pass

"Predicted" means measured here, with this network and batch size: the network is built,
``loss_and_grads`` (a forward and a backward pass) is timed on random float32 images of the
spec's input shape for about ``budget_s`` seconds, one evaluation forward pass is timed, and
``epoch_seconds`` scales the two to the data set's size. Pure engine code (no Qt); the GUI
runs it off its thread (``workbench.workers.warmup``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.spec import NetworkSpec

__all__ = ["EpochEstimate", "epoch_seconds", "estimate_epoch"]

#: Timed steps at most, however fast the network (the budget ends the loop first on big ones).
MAX_STEPS = 50


@dataclass(frozen=True)
class EpochEstimate:
    """``batch_s``: seconds per training batch of ``batch_size`` images; ``images_per_s``:
    training throughput; ``epoch_s``: one epoch over the training images plus a forward pass
    over the validation images; ``steps``: how many training steps were timed."""

    batch_size: int
    batch_s: float
    images_per_s: float
    epoch_s: float
    steps: int = 0


def epoch_seconds(
    batch_s: float, forward_s: float, batch_size: int, num_train: int, num_val: int
) -> float:
    """Seconds of one epoch: ``ceil(num_train / batch_size)`` training steps of ``batch_s``
    each (at least one step, an empty training split still runs one) and
    ``ceil(num_val / batch_size)`` evaluation passes of ``forward_s``. Raises ValueError for
    a batch size below 1 or a negative count or time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if min(num_train, num_val) < 0 or min(batch_s, forward_s) < 0:
        raise ValueError(
            f"counts and times must not be negative (num_train={num_train}, "
            f"num_val={num_val}, batch_s={batch_s}, forward_s={forward_s})"
        )
    steps = math.ceil(max(num_train, 1) / batch_size)
    return steps * batch_s + math.ceil(num_val / batch_size) * forward_s


def estimate_epoch(
    spec: NetworkSpec,
    batch_size: int,
    num_train: int,
    num_val: int,
    budget_s: float = 0.6,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> EpochEstimate:
    """Time training steps of ``spec`` at ``batch_size`` (at least 1) for about ``budget_s``
    seconds (at least 2 steps, at most ``MAX_STEPS``) and scale the median to one epoch.

    The first step is not timed (it allocates, and compiles new shapes). ``clock``: seconds,
    monotonic (a test may pass its own). Raises the engine's SpecError for a network that
    cannot be built.
    """
    from engine.network import build, warm_up

    warm_up()
    net = build(spec, seed=seed)
    rng = np.random.default_rng(seed)
    b = max(1, int(batch_size))
    x = rng.standard_normal((b, *spec.input.shape)).astype(np.float32)
    y = rng.integers(0, max(1, net.num_classes), size=b)
    net.loss_and_grads(x, y)
    times: list[float] = []
    begin = clock()
    while len(times) < 2 or (clock() - begin < budget_s and len(times) < MAX_STEPS):
        t0 = clock()
        net.loss_and_grads(x, y)
        times.append(clock() - t0)
    batch_s = float(np.median(times))
    t0 = clock()
    net.forward(x, train=False)
    forward_s = clock() - t0
    epoch_s = epoch_seconds(batch_s, forward_s, b, num_train, num_val)
    rate = b / batch_s if batch_s > 0 else float("inf")
    return EpochEstimate(b, batch_s, rate, epoch_s, len(times))
