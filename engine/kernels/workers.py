"""The engine's own worker threads: split a batch into contiguous chunks, one per thread.

Why not BLAS threads: OpenBLAS splits one matrix product over its threads, which then meet at
spin barriers many times inside that product. On a small machine shared with other work, one
descheduled thread stalls them all (a measured 2-20x slowdown of single products on a busy
2-core machine), and two callers at once fight over one pool. Instead BLAS runs with one thread
(:func:`single_threaded_blas`) and the layers hand whole chunks of images to these threads:
every thread runs im2col, its products and col2im on its own images, in cache, and the threads
meet once per layer. Numba kernels and numpy's BLAS release the GIL, so the threads run truly
in parallel.

    chunks = split(n_items, min_items=4)          # [(0, 32), (32, 64)] with 2 threads
    results = run(chunks, work)                   # work(index, lo, hi) on every chunk

More chunks than threads are fine (threads take the next chunk when done with one).

Nested calls (``work`` calling :func:`run`) run serially in the calling thread, so a worker
never waits on its own pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from engine.config import PARALLEL
from engine.config import THREADS as _CONFIG_THREADS

__all__ = [
    "SERIAL_ELEMENTS",
    "THREADS",
    "Tuner",
    "alone",
    "kernel_threads",
    "run",
    "single_threaded_blas",
    "split",
]

#: Threads that share a batch (1 when CNN_WORKBENCH_PARALLEL=0).
THREADS: int = _CONFIG_THREADS if PARALLEL else 1

#: Below this many elements a numba ``prange`` kernel runs on the calling thread alone.
#: Each parallel launch wakes numba's sleeping OpenMP threads (passive waiting, so they
#: never take a core from the engine's own threads): on a 2-core VM that costs 60 µs, a batch
#: norm of 64x16x16 values 40 µs on one thread and 86 µs on two. Measured crossover: batch
#: norm forward and backward at about 250,000 values, relu at about 500,000.
SERIAL_ELEMENTS = 200_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def split(n_items: int, min_items: int = 1, threads: int | None = None) -> list[tuple[int, int]]:
    """Contiguous ``(lo, hi)`` ranges covering ``range(n_items)``, one per thread, each with at
    least ``min_items`` items (fewer ranges when there is not enough work); empty for 0 items."""
    threads = THREADS if threads is None else threads
    if n_items <= 0:
        return []
    count = max(1, min(threads, n_items // max(1, min_items)))
    base, extra = divmod(n_items, count)
    out, lo = [], 0
    for i in range(count):
        hi = lo + base + (1 if i < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max(1, THREADS - 1), "cnn-workbench-engine", initializer=_mark_worker
                )
    return _pool


def _mark_worker() -> None:
    _local.worker = True


def _forget_pool_after_fork() -> None:
    # A forked child inherits the pool object but not its threads: start a fresh one there.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


class Tuner:
    """Whether one kind of call (a layer's forward on one input shape, say) runs faster on the
    worker threads or on the calling thread alone, found by timing it both ways.

    Handing chunks to a worker costs a thread wake-up, 30-60 µs on a virtual machine, and the
    threads then trade the interpreter lock between their kernel calls; a layer of LeNet-5
    (15 M multiply-adds, 0.6 ms) ran slower on two threads than on one, while a layer of
    MNIST's first convolution with as many multiply-adds but 3 ms of work gained a third. The
    work's size does not tell them apart, so the first ``2 * PROBES`` calls alternate the two
    ways, and from then on the faster by its best recent time runs, the other once every
    ``REPROBE`` calls so that a change (another process taking a core) is noticed. Results do
    not depend on the choice beyond float rounding of sums over chunks.
    """

    PROBES = 3
    REPROBE = 64
    __slots__ = ("_calls", "_times")

    def __init__(self):
        self._calls = 0
        self._times: dict[bool, list[float]] = {True: [], False: []}

    def parallel(self) -> bool:
        """Whether the next call should use the worker threads."""
        times = self._times
        if len(times[True]) < self.PROBES or len(times[False]) < self.PROBES:
            return self._calls % 2 == 0
        best = min(times[True]) <= min(times[False])
        return best != (self._calls % self.REPROBE == self.REPROBE - 1)

    def record(self, parallel: bool, seconds: float) -> None:
        """The wall time a call took the way it ran; the last PROBES times per way count."""
        self._calls += 1
        times = self._times[parallel]
        times.append(seconds)
        if len(times) > self.PROBES:
            times.pop(0)


def run(chunks, work, tuner: Tuner | None = None):
    """Call ``work(index, lo, hi)`` for every ``(lo, hi)`` in ``chunks`` and return the results
    in order. The calling thread and up to THREADS - 1 pool threads take chunks from a shared
    counter until none is left, so a thread the OS has descheduled (on a machine shared with
    other work) delays only the chunk it holds, not a fixed share of the batch. With a
    ``tuner``, the chunks may instead run one after another on the calling thread, as the
    tuner finds faster for this kind of call.

    An exception in any chunk is raised here after the running chunks have finished.
    """
    chunks = list(chunks)
    if len(chunks) <= 1 or getattr(_local, "worker", False) or getattr(_local, "busy", False):
        return [work(i, lo, hi) for i, (lo, hi) in enumerate(chunks)]
    if tuner is not None:
        parallel = tuner.parallel()
        start = time.perf_counter()
        if parallel:
            results = _run_parallel(chunks, work)
        else:
            results = _run_alone(chunks, work)
        tuner.record(parallel, time.perf_counter() - start)
        return results
    return _run_parallel(chunks, work)


def _run_alone(chunks, work):
    # The calling thread alone, nested calls included: the tuner's other way must be what
    # one thread does, not a mix (an evaluation's chunks one after another, each layer on
    # them handing its own chunks to the workers, was neither).
    busy = getattr(_local, "busy", False)
    _local.busy = True
    try:
        return [work(i, lo, hi) for i, (lo, hi) in enumerate(chunks)]
    finally:
        _local.busy = busy


def _run_parallel(chunks, work):
    results = [None] * len(chunks)
    errors: list[BaseException] = []
    counter = itertools.count()  # next() on a count is atomic under the GIL

    def drain():
        while not errors:
            i = next(counter)
            if i >= len(chunks):
                return
            try:
                results[i] = work(i, *chunks[i])
            except BaseException as error:  # re-raised in the calling thread
                errors.append(error)

    pool = _executor()
    helpers = [pool.submit(drain) for _ in range(min(THREADS, len(chunks)) - 1)]
    _local.busy = True
    try:
        drain()
    finally:
        _local.busy = False
        for helper in helpers:
            helper.result()
    if errors:
        raise errors[0]
    return results


def kernel_threads(elements: int) -> None:
    """Sets how many threads the calling thread's numba ``prange`` kernels use for work on
    ``elements`` values: one below :data:`SERIAL_ELEMENTS`, else all (numba's setting is per
    calling thread; a call costs about a microsecond); one inside :func:`alone`."""
    if THREADS > 1:
        import numba

        few = elements < SERIAL_ELEMENTS or getattr(_local, "alone", False)
        numba.set_num_threads(1 if few else THREADS)


@contextlib.contextmanager
def alone():
    """Engine work inside this block runs on the calling thread only: no chunks handed to the
    worker pool and one thread for numba's kernels. For work beside a training run (the
    window's live dead-unit count, in a background thread): it then takes one core's time
    at most and never holds a pool thread, or starts kernel threads, that the training's
    threads wait for."""
    saved = getattr(_local, "busy", False), getattr(_local, "alone", False)
    _local.busy = _local.alone = True
    if THREADS > 1:
        import numba

        before = numba.get_num_threads()
        numba.set_num_threads(1)
    try:
        yield
    finally:
        _local.busy, _local.alone = saved
        if THREADS > 1:
            numba.set_num_threads(before)


def single_threaded_blas() -> bool:
    """Make numpy's OpenBLAS run each product on one thread (this module supplies the
    parallelism). ``engine.config`` already asks for that through OPENBLAS_NUM_THREADS before
    numpy loads; this call also covers a process that imported numpy first. Returns True when
    the setting was applied through the library, False when no OpenBLAS was found."""
    import numpy as np

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter(1)
                return True
    return False


single_threaded_blas()
