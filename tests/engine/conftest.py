"""Shared by the engine tests: running a kernel test file again with the JIT disabled."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def rerun_without_jit():
    """``rerun_without_jit(__file__, "-k", ...)`` runs that test file in a subprocess with
    NUMBA_DISABLE_JIT=1 (the kernels as plain Python, checked against the same references)
    and fails with its output if anything fails. Inside that subprocess it does nothing."""

    def rerun(path: str, *args: str) -> None:
        if os.environ.get("NUMBA_DISABLE_JIT") == "1":
            return  # this is the subprocess run itself
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
        # -p no:cacheprovider: the child must not race the parent on .pytest_cache.
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", path, *args]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert " passed" in result.stdout

    return rerun
