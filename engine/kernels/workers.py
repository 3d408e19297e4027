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

Nested calls (``work`` calling :func:`run`) run serially in the calling thread, so a worker
never waits on its own pool.
"""

from __future__ import annotations

import ctypes
import glob
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


def run(chunks, work):
    """Call ``work(index, lo, hi)`` for every ``(lo, hi)`` in ``chunks``, the first in the
    calling thread and the others on the pool; return their results in order.

    An exception in any chunk is raised here after all chunks have finished.
    """
    chunks = list(chunks)
    if len(chunks) <= 1 or getattr(_local, "worker", False) or getattr(_local, "busy", False):
        return [work(i, lo, hi) for i, (lo, hi) in enumerate(chunks)]
    pool = _executor()
    futures = [pool.submit(work, i, lo, hi) for i, (lo, hi) in enumerate(chunks[1:], 1)]
    _local.busy = True
    try:
        first = work(0, *chunks[0])
    finally:
        _local.busy = False
        rest = [f.exception() for f in futures]
    for error in rest:
        if error is not None:
            raise error
    return [first, *(f.result() for f in futures)]


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
