"""Training threads run at a lower scheduling priority than the GUI thread (Linux).

While a network trains, the training thread and the engine's pools (numba's, the batch
splitter's, OpenBLAS's) keep every core busy. The GUI thread then competes with them as an
equal: a plot's paint that computes for 5 ms waited its turn between their time slices and
took 30-45 ms of wall time (benchmarks/bench_gui.py on resnet20, each Paint event's thread
CPU time against its wall time), the worst stalls of a run. With every thread but the GUI
thread at ``nice`` +8, the scheduler runs the GUI thread as soon as it has work; it needs a
few percent of one core, so training loses little of what it had. Measured in five
interleaved pairs of bench_gui resnet20 runs (3 rounds each, a noisy 2-core host;
``CNN_WORKBENCH_TRAIN_NICE=0`` against the default): the worst stall 31-64 ms against
45-148 ms, the 99th percentile 9-14 ms against 12-21 ms; throughput within the host's noise.

What a nice value weighs against: with the scheduler's autogroups or a cgroup per
application (how most Linux desktops start programs), only threads of the same group, so
here the GUI thread; started from a terminal in which other work runs, training also yields
to that work (a test suite run beside another at nice 0 saw its runs slowed severalfold).

Linux only: there ``setpriority(PRIO_PROCESS, tid)`` sets one thread's nice value, and a
thread starts with its creator's, so threads the training thread starts later inherit it and
those started before are swept by :func:`lower_background_threads`. Elsewhere it would set
the whole process's, the GUI thread's with it, so nothing is done. Raising a nice value
back needs a privilege an application does not have: the threads stay lower after the run,
when nothing competes with them. ``CNN_WORKBENCH_TRAIN_NICE`` sets the value ("0": off).
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["TRAIN_NICE", "lower_background_threads"]


def _configured() -> int:
    raw = os.environ.get("CNN_WORKBENCH_TRAIN_NICE", "8").strip()
    try:
        return max(0, min(19, int(raw)))
    except ValueError:
        print(f"CNN_WORKBENCH_TRAIN_NICE={raw!r} is not a whole number; using 8", file=sys.stderr)
        return 8


#: The nice value of every thread but the GUI (main) thread while training.
TRAIN_NICE: int = _configured()


def lower_background_threads(nice: int | None = None) -> int:
    """Give every thread of this process except the main one at least ``nice`` (default
    :data:`TRAIN_NICE`); returns how many threads were lowered now. Cheap (one directory
    listing and a system call per thread), so it is safe to call at every run's start."""
    nice = TRAIN_NICE if nice is None else nice
    if nice <= 0 or not sys.platform.startswith("linux"):
        return 0
    main = threading.main_thread().native_id
    lowered = 0
    try:
        tids = [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return 0
    for tid in tids:
        if tid == main:
            continue
        try:  # a thread may end between the listing and the call
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                lowered += 1
        except OSError:
            pass
    return lowered
