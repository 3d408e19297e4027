"""A new run given --out of a folder that already holds a run. It used to replace that
run's checkpoint in silence (hours of training lost to a repeated command), and to leave
the old run's best/ beside the new checkpoint, so predict RUN answered with the weights of
another network. Now it is refused naming --resume; a resume into the same folder, or
into a new one, still works."""

from __future__ import annotations

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.checkpoint import load_checkpoint


@pytest.fixture
def job(tmp_path, monkeypatch, cli):
    start_in(tmp_path, monkeypatch, per_class=5)
    spec = write_spec(tmp_path / "net.json")
    first = _train(cli, spec, "--epochs", "2", "--keep-best", "--val-split", "0.2", "--out", "old")
    assert first.code == 0, first.err
    return spec


def _train(cli, spec, *extra):
    return train(cli, spec, "data", "--batch-size", "4", *extra)


def _snapshot(folder):
    return sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "extra",
    [("--epochs", "1", "--out", "old"), ("--epochs", "5", "--resume", "other", "--out", "old")],
)
def test_a_run_into_a_folder_holding_a_run_is_refused(job, cli, tmp_path, extra):
    other = _train(cli, job, "--epochs", "1", "--out", "other")
    assert other.code == 0, other.err
    before = _snapshot(tmp_path / "old")
    line = assert_refused(_train(cli, job, *extra), "old", "already holds", "--resume old")
    assert "new folder" in line
    assert _snapshot(tmp_path / "old") == before


def test_resuming_in_place_and_into_a_new_folder_still_work(job, cli, tmp_path):
    assert _train(cli, job, "--epochs", "3", "--resume", "old").code == 0
    assert load_checkpoint("old").epoch == 3
    assert _train(cli, job, "--epochs", "4", "--resume", "old", "--out", "old/").code == 0
    assert _train(cli, job, "--epochs", "5", "--resume", "old", "--out", "copy").code == 0
    assert load_checkpoint("copy").epoch == 5 and load_checkpoint("old").epoch == 4
