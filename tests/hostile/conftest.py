"""The ``cli`` fixture of the hostile suite; the helpers are in hostile_tools.py (a plain
module: every test folder has its own conftest, so none is imported by name)."""

from __future__ import annotations

import time

import pytest
from hostile_tools import Outcome, bounded

from engine.commands.main import main


@pytest.fixture
def cli(capsys):
    """``cli(*argv)`` runs ``cnn-workbench`` in this process, bounded; returns Outcome."""

    def run(*argv: str, seconds: float = 30.0, megabytes: float | None = 400.0) -> Outcome:
        capsys.readouterr()
        start = time.perf_counter()
        with bounded(seconds, megabytes):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as e:  # argparse
                code = int(e.code or 0)
        out, err = capsys.readouterr()
        return Outcome(code, out, err, time.perf_counter() - start)

    return run
