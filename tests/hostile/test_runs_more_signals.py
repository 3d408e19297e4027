"""A training process told to end by SIGTERM (``kill PID``, ``docker stop``, a scheduler's
preemption) used to die at once with the default action: exit -15, the epoch in progress
lost, no word on how to continue. It now stops as Ctrl-C does: after the current batch, a
checkpoint written, "continue with --resume DIR", exit 130, and the resume finishes."""

from __future__ import annotations

import signal
import subprocess
import time

import numpy as np
from hostile_tools import engine_command, write_spec
from runs_more_tools import write_classes

from engine.checkpoint import load_checkpoint


def test_sigterm_stops_after_the_batch_and_keeps_a_checkpoint(tmp_path):
    write_classes(tmp_path / "data", 40, np.random.default_rng(0))
    spec = write_spec(tmp_path / "net.json")
    argv, env = engine_command(tmp_path, "train", spec, "--data", tmp_path / "data",
                               "--batch-size", "1", "--val-split", "0",
                               "--out", tmp_path / "run")  # fmt: skip
    child = subprocess.Popen(
        [*argv, "--epochs", "100000"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for line in child.stdout:  # the run has started once it says where it writes
            if line.startswith("training ") or time.monotonic() > deadline:
                break
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        rest, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, (child.returncode, rest[-1500:])
    assert "Traceback" not in rest
    assert "a second SIGTERM aborts" in rest
    assert f"continue with --resume {tmp_path / 'run'}" in rest
    stopped = load_checkpoint(tmp_path / "run")
    done = stopped.epoch + (1 if stopped.batch else 0)
    resumed = subprocess.run(
        [*argv[:-2], "--resume", str(tmp_path / "run"), "--epochs", str(done + 1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert load_checkpoint(tmp_path / "run").epoch == done + 1
