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

import ctypes
import glob
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from engine.config import PARALLEL
from engine.config import THREADS as _CONFIG_THREADS

__all__ = ["THREADS", "run", "single_threaded_blas", "split"]

#: Threads that share a batch (1 when CNN_WORKBENCH_PARALLEL=0).
THREADS: int = _CONFIG_THREADS if PARALLEL else 1

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


def run(chunks, work):
    """Call ``work(index, lo, hi)`` for every ``(lo, hi)`` in ``chunks`` and return the results
    in order. The calling thread and up to THREADS - 1 pool threads take chunks from a shared
    counter until none is left, so a thread the OS has descheduled (on a machine shared with
    other work) delays only the chunk it holds, not a fixed share of the batch.

    An exception in any chunk is raised here after the running chunks have finished.
    """
    chunks = list(chunks)
    if len(chunks) <= 1 or getattr(_local, "worker", False) or getattr(_local, "busy", False):
        return [work(i, lo, hi) for i, (lo, hi) in enumerate(chunks)]
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
