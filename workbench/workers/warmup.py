"""Numba warm-up and the predicted epoch time, both off the GUI thread.

``estimate_epoch`` is a plain function: build the network, time a few real training steps
(forward, backward) on random data of the right shape, and scale to one epoch. It is what
"predicted epoch time, measured on this machine with this network" means. ``EpochTimeEstimator``
runs it (and the engine's one-off ``warm_up``) through one process-wide lane, a
``BackgroundCall`` thread that takes one job at a time: neither the compiler nor the timing
can freeze the window, and no two timings ever run at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from shiboken6 import isValid

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


class _EngineLane(QObject):
    """Process-wide: at most one engine job (warm-up or a timing) runs at a time.

    Two timings at once would share the cores and both read slow, and many windows (tests
    make hundreds) must not pile up concurrent engine runs. Jobs wait in a queue, one per
    owner (a newer request of the same owner replaces its waiting one); the warm-up runs
    once per process, before any timing. The thread of a running job is kept alive by the
    background registry, so an owner may go away while its job runs: its answer is dropped.
    """

    def __init__(self) -> None:
        super().__init__()
        self._call = BackgroundCall(None)
        self._call.result.connect(self._on_result)
        self._call.error.connect(self._on_error)
        self._call.busyChanged.connect(lambda busy: None if busy else self._next())
        self._queue: dict[int, tuple[QObject, Callable[[], object]]] = {}
        self._current: QObject | None = None
        self.warm = False
        self._warming = False

    def submit(self, owner: QObject, fn: Callable[[], object]) -> None:
        self._queue.pop(id(owner), None)
        self._queue[id(owner)] = (owner, fn)
        self._next()

    def warm_up(self) -> None:
        """Compile the engine's kernels (once per process), ahead of any queued timing."""
        if self.warm or self._warming:
            return
        self._warming = True
        self._queue = {0: (self, _warm_up), **self._queue}
        self._next()

    def cancel(self, owner: QObject) -> None:
        self._queue.pop(id(owner), None)

    def is_busy(self, owner: QObject | None = None) -> bool:
        if owner is None:
            return self._call.is_busy() or bool(self._queue)
        return id(owner) in self._queue or (self._call.is_busy() and self._current is owner)

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Run the queue to its end, joining each job (for shutdown and tests)."""
        while self._call.is_busy() or self._queue:
            if not self._call.is_busy():
                self._next()
            if not self._call.wait(timeout_ms):
                return False
            self._call._reap()  # deliver now rather than when the event loop runs
        return True

    def _next(self) -> None:
        if self._call.is_busy() or not self._queue:
            return
        key = next(iter(self._queue))
        owner, fn = self._queue.pop(key)
        self._current = owner
        self._call.start(fn)

    def _deliver(self, name: str, value: object) -> None:
        owner, self._current = self._current, None
        if owner is self:  # the warm-up: done (or failed; the timings will say why)
            self.warm, self._warming = True, False
        elif owner is not None and isValid(owner):
            getattr(owner, name).emit(value)

    def _on_result(self, value: object) -> None:
        self._deliver("estimated", value)

    def _on_error(self, message: str) -> None:
        self._deliver("failed", message)


def _warm_up() -> None:
    from engine.network import warm_up

    warm_up()


_LANE: _EngineLane | None = None


def engine_lane() -> _EngineLane:
    """The process's one engine lane (created on first use, in the GUI thread)."""
    global _LANE
    if _LANE is None:
        _LANE = _EngineLane()
    return _LANE


class EpochTimeEstimator(QObject):
    """Answers ``request`` with ``estimated(EpochEstimate)`` or ``failed(message)``.

    Measurements go through the process-wide engine lane: never two at once, in any window;
    a request made while this estimator's previous one waits replaces it. ``warm_up`` asks
    the lane to compile the kernels (once per process). Nothing runs until asked.
    """

    estimated = Signal(object)
    failed = Signal(str)

    def warm_up(self) -> None:
        engine_lane().warm_up()

    def request(self, spec: NetworkSpec, batch_size: int, num_train: int, num_val: int) -> None:
        """Measure ``spec`` when the lane is free; only the latest request waits."""
        engine_lane().submit(self, lambda: estimate_epoch(spec, batch_size, num_train, num_val))

    def cancel(self) -> None:
        """Drop a waiting request (a running measurement ends on its own; its answer is
        still delivered if this estimator lives)."""
        engine_lane().cancel(self)

    def is_busy(self) -> bool:
        return engine_lane().is_busy(self)

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Join the lane's work, this estimator's included: for shutdown and tests."""
        return engine_lane().wait(timeout_ms)
