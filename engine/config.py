"""Thread pools and compiler flags for the engine, set before numpy and numba load.

Import this module before numpy (``engine/__init__.py`` imports it first). It fills in
environment variables with ``os.environ.setdefault``, so anything the user exported wins.

Why: on a small machine numba's OpenMP pool and OpenBLAS's pthread pool each start one
thread per core, and idle threads of one pool spin-wait while the other pool works. A
prototype measured a 12x slowdown from that. The cure is to keep BLAS single-threaded (the
engine's own worker threads split the batches), to give the remaining pools one thread count,
and to make idle threads sleep instead of spinning:

- ``OMP_WAIT_POLICY=PASSIVE`` and ``GOMP_SPINCOUNT=0``: numba's "omp" threading layer (GNU
  OpenMP) parks idle workers at once.
- ``OPENBLAS_THREAD_TIMEOUT=4``: OpenBLAS's workers sleep after 2**4 spin cycles (the minimum).
- ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS``: one shared count, by
  default the number of cores this process may run on.
- ``OPENBLAS_NUM_THREADS=1``: the engine parallelises over chunks of the batch with its own
  threads (:mod:`engine.kernels.workers`), each calling single-threaded BLAS on its chunk;
  threaded products would meet at spin barriers inside every product and, with two callers,
  oversubscribe the cores (2-20x slower single products were measured on a busy 2-core
  machine). :mod:`engine.kernels.workers` also sets it through the library, for a process
  that imported numpy before this module.

Memory (glibc): the engine's layers allocate their outputs and gradients afresh at every
training step, megabytes each. glibc gives such blocks fresh pages (mmap, or the top of the
heap, which it trims back to the system when the step frees them), and the kernel faults in
and zeroes every page again on first touch: 7,900 page faults and ~40 ms of system time per
resnet20 step at batch 64 (10-25% of the step). So at import the engine asks glibc
(``mallopt``) to serve blocks up to 32 MiB from the heap and to keep up to 256 MiB of freed
heap for the next step: 0 page faults per step, resnet20 -10-13% and bn-cifar -23% per step.
The process's peak memory is unchanged; what it frees is kept, not returned at once.
The engine also asks for one arena (``M_ARENA_MAX=1``): glibc gives each further thread that
allocates an arena of its own, made of 64 MiB heaps, and unmaps every heap but the first as
soon as it is free, whatever the thresholds say. A step needs more than one heap, so a run in
a thread other than the main one (the window's training thread, every background
computation) faulted its memory in afresh at every step: 18,000-19,000 page faults per
2-epoch resnet20 run on the sample against ~100 on the main thread, and up to 0.8 s of system
time. With one arena every thread reuses the main heap; its lock is held for the
bookkeeping of a block, not for its use, and the engine makes a few dozen blocks a layer.
``CNN_WORKBENCH_MALLOC=0`` leaves glibc's defaults.

Engine flags (read once, at import):

- ``CNN_WORKBENCH_THREADS``: thread count for numba and the engine's workers (default: usable
  cores).
- ``CNN_WORKBENCH_FASTMATH``: "1" to let numba reorder float arithmetic (default "0", so the
  kernels match their naive references to float32 rounding).
- ``NUMBA_CACHE_DIR``: where compiled kernels are kept (default: a directory of
  ``~/.cache/cnn-workbench/numba`` named after the kernels' source, see
  :mod:`engine.jit_cache`).
- ``CNN_WORKBENCH_DIRECT_CONV``: "0" to run convolutions on the GEMM route (patches + BLAS)
  instead of the generated direct kernels (:mod:`engine.kernels.direct_conv`).
- ``CNN_WORKBENCH_PARALLEL``: "0" to compile the kernels without ``prange`` threads and run
  the layers on one thread (default "1").
"""

from __future__ import annotations

import os
import sys

# If numpy was imported before this module, OpenBLAS has already sized its pool and the
# defaults below come too late for it; settings() says so rather than pretending.
_NUMPY_WAS_LOADED = "numpy" in sys.modules

__all__ = ["FASTMATH", "JIT", "JIT_PARALLEL", "MALLOC_TUNED", "PARALLEL", "THREADS", "settings"]


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name}={raw!r}: expected 0/1, true/false, yes/no")


def _threads() -> int:
    raw = os.environ.get("CNN_WORKBENCH_THREADS", "").strip()
    if not raw:
        return _usable_cores()
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"environment variable CNN_WORKBENCH_THREADS={raw!r}: expected a positive integer"
        )
    return count


THREADS: int = _threads()
FASTMATH: bool = _flag("CNN_WORKBENCH_FASTMATH", False)
PARALLEL: bool = _flag("CNN_WORKBENCH_PARALLEL", True)

#: Largest block glibc serves from the heap (its maximum), and freed heap it keeps.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024


def _keep_freed_memory() -> bool:
    """glibc's ``mallopt`` as the module docstring says; False where there is no glibc
    (macOS, Windows, musl) or the flag is off."""
    if not _flag("CNN_WORKBENCH_MALLOC", True) or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # <malloc.h>
    return all(
        mallopt(option, value)
        for option, value in (
            (m_mmap_threshold, MMAP_THRESHOLD),
            (m_trim_threshold, TRIM_THRESHOLD),
            (m_arena_max, 1),  # threads started later share the main arena
        )
    )


MALLOC_TUNED: bool = _keep_freed_memory()

_ENV_DEFAULTS = {
    "OMP_NUM_THREADS": str(THREADS),
    # One BLAS thread: the engine splits batches over its own threads (engine.kernels.workers)
    # and calls BLAS from each of them; a threaded BLAS under that would oversubscribe.
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": str(THREADS),
    "NUMBA_NUM_THREADS": str(THREADS),
    "OMP_WAIT_POLICY": "PASSIVE",
    "GOMP_SPINCOUNT": "0",
    "OPENBLAS_THREAD_TIMEOUT": "4",
}
for _key, _value in _ENV_DEFAULTS.items():
    os.environ.setdefault(_key, _value)

# numba's cache keyed by the kernels' source, so an edited kernel never runs stale inside
# another file's kernel (engine/jit_cache.py says why).
from engine.jit_cache import use_keyed_cache  # noqa: E402  (stdlib only; before numba)

NUMBA_CACHE: str | None = use_keyed_cache()

#: Options for serial kernels: compiled once to the on-disk cache, release the GIL.
#: ``error_model="numpy"``: a float division by zero gives inf/nan as numpy does instead of
#: a check that raises, which kept every loop with a division from being vectorised (a
#: rational tanh ran 6x slower with the check).
JIT: dict = {"cache": True, "nogil": True, "fastmath": FASTMATH, "error_model": "numpy"}
#: Options for kernels with a ``prange`` loop.
JIT_PARALLEL: dict = {**JIT, "parallel": PARALLEL}


def settings() -> dict[str, object]:
    """Report the thread and compiler settings in force, for logs and bug reports.

    Returns a dict of plain values: the engine flags, the environment variables above as the
    process sees them, and (when numba is already loaded) numba's thread count and threading
    layer. Calling it never imports numpy or numba itself.
    """
    report: dict[str, object] = {
        "threads": THREADS,
        "fastmath": FASTMATH,
        "parallel": PARALLEL,
        "malloc_tuned": MALLOC_TUNED,
        "usable_cores": _usable_cores(),
        "env": {key: os.environ.get(key) for key in _ENV_DEFAULTS},
        "numpy_loaded_before_config": _NUMPY_WAS_LOADED,
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
    }
    numba = sys.modules.get("numba")
    if numba is not None:
        report["numba_num_threads"] = numba.config.NUMBA_NUM_THREADS
        try:
            report["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet, so no layer is chosen
            report["numba_threading_layer"] = None
    return report
