"""The hostile-input suite's tools (the ``cli`` fixture is in conftest.py): run the CLI
(in-process or as a child with limits) and check what a trustworthy tool answers: one clear
line naming the file or field, exit 1 or 2, bounded time and memory, nothing written that
should not be.

In-process runs are cheap and let a case patch the file system (a full disk); a child
process is used where the failure mode is a hang or a blown memory (a FIFO, /dev/zero, a
bomb): it runs under an address-space limit and a timeout, and its peak memory is read back
from ``wait4``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_V1 = {
    "format": "cnn-workbench/network",
    "version": 1,
    "input": {"channels": 1, "height": 8, "width": 8},
    "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 2},
    ],
}


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def assert_refused(result: Outcome, *names: str, codes=(1, 2)) -> str:
    """Exit 1 or 2, no traceback, exactly one line on stderr that names each of ``names``
    and is short enough to read. Returns that line."""
    assert result.code in codes, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = result.lines()
    assert len(lines) == 1, lines[:5]
    line = lines[0]
    assert len(line) < 600, line[:600]
    for name in names:
        assert name in line, (name, line)
    return line


@contextlib.contextmanager
def bounded(seconds: float = 20.0, megabytes: float | None = 300.0):
    """Fail the case if the block runs longer than ``seconds`` or allocates more than
    ``megabytes`` at its peak (Python and numpy allocations, via tracemalloc; None: time
    only, for a training run whose JIT compile tracemalloc would slow tenfold)."""

    def timeout(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    if megabytes is not None:
        tracemalloc.start()
    try:
        yield
        if megabytes is not None:
            _, peak = tracemalloc.get_traced_memory()
            assert peak < megabytes * 2**20, f"peak {peak / 2**20:.0f} MiB"
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def child(*argv: str, timeout: float = 20.0, memory_mb: int = 2048, cwd=None, env=None):
    """Run ``python -m engine.commands.main ARGV`` as a child under an address-space limit
    (RLIMIT_AS: a blow-up becomes a MemoryError traceback, which ``assert_refused`` fails)
    and a timeout (a hang fails the case)."""

    def limit() -> None:
        size = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "engine.commands.main", *map(str, argv)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            cwd=cwd or ROOT,
            env=environment,
            preexec_fn=limit,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv} still running after {timeout} s")
    return Outcome(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        time.perf_counter() - start,
    )


def engine_command(tmp_path: Path, *argv) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of ``python -m engine.commands.main ARGV`` for a child the test drives
    itself (Popen: signals, two at once), with a bare PATH and the data cache in tmp_path."""
    env = {
        "PYTHONPATH": str(ROOT),
        "CNN_WORKBENCH_CACHE": str(tmp_path / "cache"),
        "PATH": "/usr/bin:/bin",
    }
    return [sys.executable, "-m", "engine.commands.main", *map(str, argv)], env


def write_spec(path: Path, spec: dict | None = None) -> Path:
    import json

    path.write_text(json.dumps(spec or SPEC_V1))
    return path
