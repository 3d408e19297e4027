"""Hostile training runs: nonsense epochs, a resume that would train nothing, --out that is a
file or unwritable, a full disk, two processes on one run folder, networks that need more
memory than the machine has. Each: one line naming the option or path, exit 1 or 2, the
previous checkpoint intact, nothing allocated or written that the refusal should prevent."""

from __future__ import annotations

import errno
import json
import subprocess
import time

import numpy as np
import pytest
from hostile_tools import SPEC_V1, assert_refused, engine_command, write_spec
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.run_lock import RunLock


@pytest.fixture
def job(tmp_path, monkeypatch):
    """(spec path, data folder): a two-class 8x8 folder and a tiny spec, cache in tmp."""
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "data" / name / f"{i}.png")
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def _train(cli, spec, data, *extra, seconds=60):
    return cli(
        "train",
        spec,
        "--data",
        data,
        "--batch-size",
        "4",
        "--val-split",
        "0",
        *extra,
        seconds=seconds,
        megabytes=None,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("--epochs", "0"), ("--epochs", "-3"), ("--batch-size", "0"), ("--batch-size", "-1")],
)
def test_nonsense_counts_are_refused(job, cli, option, value):
    spec, data = job
    result = cli("train", spec, "--data", data, option, value, "--out", "r")
    assert_refused(result, f"{option} {value}")


@pytest.fixture
def two_epochs(job, cli):
    spec, data = job
    assert _train(cli, spec, data, "--epochs", "2", "--out", "run").code == 0
    return spec, data


@pytest.mark.parametrize("epochs", ["1", "2"])
def test_a_resume_that_would_train_nothing_is_refused(two_epochs, cli, epochs):
    spec, data = two_epochs
    result = _train(cli, spec, data, "--resume", "run", "--epochs", epochs)
    assert "already completed 2 epochs" in assert_refused(result, f"--epochs {epochs}")
    assert load_checkpoint("run").epoch == 2


def test_out_that_is_a_file_is_named(job, cli, tmp_path):
    spec, data = job
    (tmp_path / "taken").write_text("keep me")
    line = assert_refused(_train(cli, spec, data, "--epochs", "1", "--out", "taken"), "taken")
    assert "is a file" in line and (tmp_path / "taken").read_text() == "keep me"


def test_out_below_a_file_is_named(job, cli, tmp_path):
    spec, data = job
    (tmp_path / "taken").write_text("keep me")
    result = _train(cli, spec, data, "--epochs", "1", "--out", "taken/run")
    assert "is a file" in assert_refused(result, "taken")


def test_out_we_may_not_write_is_named(job, cli, monkeypatch):
    # Root may write anywhere, so the refusal the kernel would give is given here.
    spec, data = job

    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self.folder))

    monkeypatch.setattr(RunLock, "acquire", denied)
    result = _train(cli, spec, data, "--epochs", "1", "--out", "locked")
    assert "cannot write here" in assert_refused(result, "locked")


def test_a_full_disk_keeps_the_previous_checkpoint(two_epochs, cli, monkeypatch):
    import engine.checkpoint as checkpoint

    spec, data = two_epochs

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "_write", full)
    result = _train(cli, spec, data, "--resume", "run", "--epochs", "3")
    line = assert_refused(result, "No space left", "--resume run")
    assert "previous checkpoint" in line
    assert load_checkpoint("run").epoch == 2


def test_a_full_disk_for_the_data_cache_is_named(job, cli, monkeypatch, tmp_path):
    import shutil

    import engine.data.cache as cache

    spec, data = job
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda p: usage._replace(free=10))
    result = _train(cli, spec, data, "--epochs", "1", "--out", "r")
    assert "data cache" in assert_refused(result, "CNN_WORKBENCH_CACHE")


def test_a_second_process_on_the_same_folder_names_the_first(job, cli, tmp_path):
    import os

    spec, data = job
    with RunLock(tmp_path / "shared"):
        result = _train(cli, spec, data, "--epochs", "1", "--out", "shared")
    assert f"process {os.getpid()}" in assert_refused(result, "shared")
    assert not (tmp_path / "shared" / "checkpoint").exists()


def test_two_train_processes_at_once_one_is_refused(job, tmp_path):
    spec, data = job
    argv, env = engine_command(tmp_path, "train", spec, "--data", data, "--epochs", "40",
                               "--batch-size", "4", "--val-split", "0",
                               "--out", tmp_path / "both")  # fmt: skip
    first = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        lock = tmp_path / "both" / ".lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=60)
    finally:
        first.kill()
        first.communicate()
    err = second.stderr.decode()
    assert second.returncode == 1 and f"process {first.pid}" in err, err
    assert len(err.strip().splitlines()) == 1


HUGE = [
    (
        "dense-million-on-megapixels",
        {"channels": 3, "height": 1024, "width": 1024},
        [{"type": "flatten"}, {"type": "dense", "units": 1_000_000}],
        "TiB of parameters",
    ),
    (
        "65536-filters",
        {"channels": 3, "height": 64, "width": 64},
        [
            {"type": "conv2d", "filters": 65536, "kernel": 3},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
        ],
        "this machine has",
    ),
    (
        "65536-square-input",
        {"channels": 3, "height": 65536, "width": 65536},
        [
            {"type": "conv2d", "filters": 2, "kernel": 3},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
        ],
        "this machine has",
    ),
    (
        "batch-too-big",
        {"channels": 3, "height": 512, "width": 512},
        [
            {"type": "conv2d", "filters": 64, "kernel": 3, "padding": 1},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
        ],
        "batch size of at most",
    ),
]


@pytest.mark.parametrize(("name", "shape", "layers", "word"), HUGE, ids=[h[0] for h in HUGE])
def test_a_network_that_cannot_fit_is_refused_before_anything_is_read(
    job, cli, tmp_path, name, shape, layers, word
):
    _, data = job
    spec = write_spec(tmp_path / f"{name}.json", {**SPEC_V1, "input": shape, "layers": layers})
    extra = ("--batch-size", "4096") if name == "batch-too-big" else ()
    result = cli(
        "train",
        spec,
        "--data",
        data,
        "--epochs",
        "1",
        "--out",
        "r",
        *extra,
        seconds=10,
        megabytes=50,
    )
    assert word in assert_refused(result, "needs")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_summary_warns_about_the_terabyte_network(cli, tmp_path):
    layers = [{"type": "flatten"}, {"type": "dense", "units": 1_000_000}]
    spec = write_spec(
        tmp_path / "tb.json",
        {**SPEC_V1, "input": {"channels": 3, "height": 1024, "width": 1024}, "layers": layers},
    )
    result = cli("summary", spec, "--json")
    assert "11.4 TiB of parameters" in json.loads(result.out)["memory_warning"]


def test_memory_budget_figures(tmp_path):
    from engine.memory_budget import MemoryBudgetError, check_network_fits
    from engine.spec import NetworkSpec

    spec = NetworkSpec.from_dict(SPEC_V1)
    need = check_network_fits(spec, 64)
    assert need.parameters == 4 * (2 * 9 + 2 + 2 * 6 * 6 * 2 + 2)
    with pytest.raises(MemoryBudgetError, match="batch size of at most"):
        check_network_fits(spec, 10**6, budget=need.training)
