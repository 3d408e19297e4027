"""Resuming a run that early stopping ended. With the same patience it trained one more
epoch, past the point the stopping rule had already decided; it could not be given more
patience (the flag was ignored on resume); and the line said "not improved for P epochs"
with P the patience, not the epochs since the best. Now the resume is refused naming the
patience that would continue it, --early-stopping may change on resume, and the line
counts the epochs since the best one."""

from __future__ import annotations

import json

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.checkpoint import load_checkpoint


@pytest.fixture
def stopped(tmp_path, monkeypatch, cli):
    """A run that early stopping (patience 1) ended before its 30 epochs; its history."""
    start_in(tmp_path, monkeypatch, per_class=5)
    spec = write_spec(tmp_path / "net.json")
    result = _train(cli, spec, "--early-stopping", "1", "--lr", "0.5", "--out", "run")
    assert result.code == 0, result.err
    assert json.loads(result.out.splitlines()[-1])["early_stopped"]
    return spec, load_checkpoint("run")


def _train(cli, spec, *extra):
    return train(cli, spec, "data", "--epochs", "30", "--batch-size", "4", "--json", *extra)


def test_resuming_an_early_stopped_run_names_the_patience_that_continues_it(stopped, cli):
    spec, ckpt = stopped
    h = ckpt.history
    best = min((v, e) for v, e in zip(h["val_loss"], h["epoch"], strict=True))[1]
    line = assert_refused(_train(cli, spec, "--resume", "run"), "stopped early")
    assert f"--early-stopping {ckpt.epoch - best + 1} or more" in line
    assert load_checkpoint("run").epoch == ckpt.epoch


def test_more_patience_continues_it_and_the_count_is_right(stopped, cli):
    spec, ckpt = stopped
    result = _train(cli, spec, "--resume", "run", "--early-stopping", "3")
    assert result.code == 0, result.err
    resumed = load_checkpoint("run")
    assert resumed.epoch > ckpt.epoch and resumed.config.patience == 3
    h = resumed.history
    best = min((v, e) for v, e in zip(h["val_loss"], h["epoch"], strict=True))[1]
    if resumed.epoch < 30:  # stopped early again: the line counts from the best epoch
        n = resumed.epoch - best
        assert f"not improved for {n} epochs since epoch {best}" in result.err
