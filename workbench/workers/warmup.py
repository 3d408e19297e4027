"""Numba warm-up and the predicted epoch time, both off the GUI thread.

``estimate_epoch`` is a plain function: build the network, time a few real training steps
(forward, backward) on random data of the right shape, and scale to one epoch. It is what
"predicted epoch time, measured on this machine with this network" means. ``EpochTimeEstimator``
runs it (and the engine's one-off ``warm_up``) in a ``BackgroundCall`` thread, so neither the
compiler nor the timing can freeze the window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.spec import NetworkSpec
from workbench.workers.background import BackgroundCall

__all__ = ["EpochEstimate", "EpochTimeEstimator", "estimate_epoch"]


@dataclass(frozen=True)
class EpochEstimate:
    """``batch_s``: seconds per training batch; ``epoch_s``: one epoch over ``num_train``
    images plus a forward pass over ``num_val`` validation images."""

    batch_size: int
    batch_s: float
    images_per_s: float
    epoch_s: float


def estimate_epoch(
    spec: NetworkSpec,
    batch_size: int,
    num_train: int,
    num_val: int,
    budget_s: float = 0.6,
    seed: int = 0,
) -> EpochEstimate:
    """Time training steps of ``spec`` at ``batch_size`` for about ``budget_s`` seconds.

    The first step is not timed (it allocates, and compiles new shapes). Raises the engine's
    SpecError for a network that cannot be built.
    """
    from engine.network import build, warm_up

    warm_up()
    net = build(spec, seed=seed)
    rng = np.random.default_rng(seed)
    b = max(1, batch_size)
    x = rng.standard_normal((b, *spec.input.shape)).astype(np.float32)
    y = rng.integers(0, max(1, net.num_classes), size=b)
    net.loss_and_grads(x, y)
    times: list[float] = []
    begin = time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - begin < budget_s and len(times) < 50):
        t0 = time.perf_counter()
        net.loss_and_grads(x, y)
        times.append(time.perf_counter() - t0)
    batch_s = float(np.median(times))
    t0 = time.perf_counter()
    net.forward(x, train=False)
    forward_s = time.perf_counter() - t0
    batches = math.ceil(max(num_train, 1) / b)
    epoch_s = batches * batch_s + math.ceil(num_val / b) * forward_s
    return EpochEstimate(b, batch_s, b / batch_s if batch_s > 0 else float("inf"), epoch_s)


class EpochTimeEstimator(QObject):
    """Warms the engine up once, then answers ``request`` with ``estimated(EpochEstimate)``.

    Requests made while one is measuring replace it (only the latest answer is delivered).
    ``warmedUp`` fires once the kernels are compiled.
    """

    estimated = Signal(object)
    failed = Signal(str)
    warmedUp = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._warm = BackgroundCall(self)
        self._warm.result.connect(lambda _v: self.warmedUp.emit())
        self._warm.error.connect(self.failed)
        self._call = BackgroundCall(self)
        self._call.result.connect(self.estimated)
        self._call.error.connect(self.failed)
        self._call.busyChanged.connect(self._run_pending)
        self._pending: tuple | None = None

    def warm_up(self) -> None:
        from engine.network import warm_up

        self._warm.start(warm_up)

    def request(self, spec: NetworkSpec, batch_size: int, num_train: int, num_val: int) -> None:
        """Measure ``spec``; while a measurement runs, only the latest request waits for it
        (two timings at once would share the cores and both read slow)."""
        self._pending = (spec, batch_size, num_train, num_val)
        if not self._call.is_busy():
            self._run_pending(False)

    def _run_pending(self, busy: bool) -> None:
        if busy or self._pending is None:
            return
        spec, batch_size, num_train, num_val = self._pending
        self._pending = None
        self._call.start(lambda: estimate_epoch(spec, batch_size, num_train, num_val))

    def is_busy(self) -> bool:
        return self._warm.is_busy() or self._call.is_busy()

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Join the threads (pending requests are dropped): for shutdown and tests."""
        self._pending = None
        return self._warm.wait(timeout_ms) and self._call.wait(timeout_ms)
