"""One function call in a QThread, its result or error delivered back as a queued signal.

For short jobs that are not generators (loading a dataset, timing the engine, predictions):
the function receives only plain, frozen arguments, so it cannot touch a widget.

Why this and not superqt's ``thread_worker``/``create_worker`` (tried in place of
``BackgroundCall``, issue 10; kept ours for these reasons):

- superqt's ``WorkerBase.run`` wraps each job in ``warnings.catch_warnings()`` and replaces
  the process-wide ``warnings.showwarning`` from the worker thread. Two jobs that overlap
  (a training run and a prediction, a data load and an epoch estimate) restore it in the
  wrong order and leave it pointing at a finished worker's signal: from then on every
  warning of the process (the engine's ZeroInitWarning, numba's) is swallowed. Seen with two
  overlapping ``create_worker`` jobs on superqt 0.9.0.
- Its jobs run on ``QThreadPool.globalInstance()``, sized to the core count (2 on small
  machines): a dead-unit count and an epoch-time measurement fill it, and a dropped image's
  prediction or a data load waits behind them. Here every call gets its own thread.
- An error goes to ``errored``, which re-raises in the GUI thread unless each caller
  connects a handler; a job cannot be joined on its own (only the whole pool), which
  ``wait()`` (shutdown, tests) and the quit path need.
- Lifetimes: ``_Registry`` keeps each unparented QThread and its QObject until the thread
  has finished and releases them from the GUI thread's event loop, so no GUI-side object
  is freed on a worker thread (``workbench.gc_guard`` explains the segfault that causes);
  ``join_stoppable`` stops and joins only the threads holding the person's work at quit.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

__all__ = [
    "GIL_SWITCH_S",
    "BackgroundCall",
    "join_all",
    "join_stoppable",
    "keep_until_finished",
    "running",
]

#: The interpreter's GIL switch interval while any worker thread of the registry lives (a
#: training run, a dead-unit count, a prediction, a data load); the interval it had comes
#: back when the last one has finished. Every call from Qt into a Python slot or paint method
#: takes the GIL again, and while a worker runs Python code each take waits up to this long:
#: a curves redraw of 2.7 ms took 16 ms at 1 ms, 6 ms at 0.5 ms and 4.4 ms at 0.2 ms beside a
#: busy Python thread. Yet in the whole window (benchmarks/bench_gui.py, mnist-2conv, 4
#: interleaved runs each, load 1.3-2) 1 ms did better than 0.2 ms on both counts: worst
#: event-loop stall 26-31 ms against 27-53 ms, GUI/headless throughput 0.85-0.92 (mean 0.89)
#: against 0.84-0.91 (0.87), CPU per image 1.12x headless against 1.15x; resnet20 0.867
#: against 0.842, stall 58 against 71 ms. Every forced switch also interrupts the engine's
#: own threads and the data loader. With no worker, the GUI waits for nobody and the default
#: stays. It once followed the training run alone: the dead-unit count on a run's final
#: weights then ran at the default 5 ms, and the paints around the run's end waited for it
#: (a curves paint of 26 ms, the run's worst stall, 48 ms).
GIL_SWITCH_S = 0.001


class _Registry(QObject):
    """Keeps every started thread alive until it has finished, whatever happens to the object
    that started it. A QThread destroyed while running aborts the process ("QThread:
    Destroyed while thread is still running"): that happened when a window closed while it was
    still timing the engine. Lives in the GUI thread, so its slot runs there."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[QThread, tuple[QObject, ...]] = {}
        self.stops: dict[QThread, Callable[[], None]] = {}
        self._idle_interval: float | None = None  # the switch interval without workers

    def add(self, thread: QThread, *objects: QObject, stop: Callable[[], None] | None = None):
        if not self.live:
            self._idle_interval = sys.getswitchinterval()
            sys.setswitchinterval(GIL_SWITCH_S)
        self.live[thread] = objects
        if stop is not None:
            self.stops[thread] = stop
        thread.finished.connect(self.reap)

    @Slot()
    def reap(self) -> None:
        for thread in [t for t in self.live if t.isFinished()]:
            thread.wait()  # returns at once: the thread has left run()
            del self.live[thread]
            self.stops.pop(thread, None)
        if not self.live and self._idle_interval is not None:
            sys.setswitchinterval(self._idle_interval)
            self._idle_interval = None


_REGISTRY: _Registry | None = None


def _registry() -> _Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _Registry()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(join_stoppable)
    return _REGISTRY


def keep_until_finished(
    thread: QThread, *objects: QObject, stop: Callable[[], None] | None = None
) -> None:
    """Keep the unparented ``thread`` (and the ``objects`` living in it) referenced until it
    has finished, then release them. ``join_all`` waits for it at quit, after calling
    ``stop`` (a thread-safe request to end early, e.g. a training run's). Call before
    ``thread.start()``."""
    _registry().add(thread, *objects, stop=stop)


def join_all(timeout_ms: int = 60000) -> bool:
    """Wait for every background thread still running (at quit, and for tests)."""
    if _REGISTRY is None:
        return True
    for stop in list(_REGISTRY.stops.values()):
        stop()
    ok = all(thread.wait(timeout_ms) for thread in list(_REGISTRY.live))
    _REGISTRY.reap()
    return ok


def join_stoppable(timeout_ms: int = 60000) -> bool:
    """At quit: stop and wait for the threads that hold the person's work (a training run
    writing its checkpoint). Warm-ups, estimates and predictions are not waited for: a
    numba compile cannot be interrupted and kept the closed window's process alive for
    seconds; ``workbench.app.main`` ends the process without them (see ``running``)."""
    if _REGISTRY is None:
        return True
    stoppable = [t for t in _REGISTRY.live if t in _REGISTRY.stops]
    for thread in stoppable:
        _REGISTRY.stops[thread]()
    ok = all(thread.wait(timeout_ms) for thread in stoppable)
    _REGISTRY.reap()
    return ok


def running() -> bool:
    """Whether any background thread is still running."""
    return _REGISTRY is not None and any(t.isRunning() for t in _REGISTRY.live)


class _Call(QObject):
    result = Signal(int, object)
    error = Signal(int, str)
    done = Signal()

    def __init__(
        self, gen: int, fn: Callable[[], object], describe: Callable[[BaseException], str]
    ) -> None:
        super().__init__()
        self._gen = gen
        self._fn = fn
        self._describe = describe

    @Slot()
    def run(self) -> None:
        try:
            value = self._fn()
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self.error.emit(self._gen, self._describe(exc))
        else:
            self.result.emit(self._gen, value)
        finally:
            self.done.emit()


class BackgroundCall(QObject):
    """Runs ``fn()`` in its own QThread; emits ``result(value)`` or ``error(message)``.

    Only the latest call's answer is delivered: a call started while one is running makes the
    earlier answer stale (it is dropped), which is what a form that recomputes on every edit
    wants. ``wait()`` joins any thread still running (for shutdown and tests).
    """

    result = Signal(object)
    error = Signal(str)
    busyChanged = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        describe: Callable[[BaseException], str] = lambda e: f"{type(e).__name__}: {e}",
    ) -> None:
        super().__init__(parent)
        self._describe = describe
        self._generation = 0
        self._running: dict[int, tuple[QThread, _Call]] = {}

    def is_busy(self) -> bool:
        return bool(self._running)

    def start(self, fn: Callable[[], object]) -> None:
        self._generation += 1
        gen = self._generation
        thread = QThread()  # no parent: the registry, not this object, decides its lifetime
        call = _Call(gen, fn, self._describe)
        call.moveToThread(thread)
        thread.started.connect(call.run)
        call.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        # Bound slots of this GUI-thread object: queued, so they run in the GUI thread.
        call.result.connect(self._on_result)
        call.error.connect(self._on_error)
        thread.finished.connect(self._reap)
        _registry().add(thread, call)
        self._running[gen] = (thread, call)
        if len(self._running) == 1:
            self.busyChanged.emit(True)
        thread.start()

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Join every running thread, then deliver their queued answers."""
        ok = all(thread.wait(timeout_ms) for thread, _ in list(self._running.values()))
        QCoreApplication.sendPostedEvents()
        return ok

    @Slot(int, object)
    def _on_result(self, gen: int, value: object) -> None:
        if gen == self._generation:  # else a newer call superseded this one
            self.result.emit(value)

    @Slot(int, str)
    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.error.emit(message)

    @Slot()
    def _reap(self) -> None:
        for gen, (thread, _call) in list(self._running.items()):
            if thread.isFinished():
                del self._running[gen]
        if not self._running:
            self.busyChanged.emit(False)
