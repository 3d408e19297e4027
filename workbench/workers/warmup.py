"""Numba warm-up and the predicted epoch time, both off the GUI thread.

The measurement itself is the engine's (``engine.estimate.estimate_epoch``: a few real
training steps, timed, scaled to one epoch). ``EpochTimeEstimator`` runs it (and the
engine's one-off ``warm_up``) through one process-wide lane, a ``BackgroundCall`` thread
that takes one job at a time: neither the compiler nor the timing can freeze the window, and
no two timings ever run at once.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from shiboken6 import isValid

from engine.estimate import EpochEstimate, estimate_epoch
from engine.spec import NetworkSpec
from workbench.workers.background import BackgroundCall

__all__ = ["EpochEstimate", "EpochTimeEstimator", "engine_lane", "estimate_epoch"]


class _EngineLane(QObject):
    """Process-wide: at most one engine job (warm-up or a timing) runs at a time.

    Two timings at once would share the cores and both read slow, and many windows (tests
    make hundreds) must not pile up concurrent engine runs. Jobs wait in a queue, one per
    owner (a newer request of the same owner replaces its waiting one); the warm-up runs
    once per process, before any timing. The thread of a running job is kept alive by the
    background registry, so an owner may go away while its job runs: its answer is dropped.
    (A one-thread ``QThreadPool`` would serialise the jobs too, but not replace an owner's
    waiting request nor run the warm-up first; see ``workers.background`` on superqt.)
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
