"""Diverging runs: a learning rate so high that the weights explode. The run must stop with
one line naming the learning rate and the fix, and never write a checkpoint of exploded
weights, whether the numbers become NaN (SGD at 1e30, whose last step of an epoch no later
batch checks) or stay finite and absurd (Adam at 1e9: a loss of 1e19, which used to end
with exit 0 and "val accuracy 0")."""

from __future__ import annotations

import numpy as np
import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.checkpoint import load_checkpoint


@pytest.fixture
def job(tmp_path, monkeypatch):
    """(spec path, data folder): two classes of six 8x8 images, cache in tmp."""
    start_in(tmp_path, monkeypatch, per_class=6)
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def _train(cli, spec, data, *extra):
    return train(cli, spec, data, "--val-split", "0.2", *extra)


@pytest.mark.parametrize(
    "flags",
    [
        ("--lr", "1e30"),  # one batch per epoch: the exploded step is the epoch's last
        ("--lr", "1e30", "--loss", "total_error"),
        ("--optimizer", "adam", "--lr", "1e9"),  # every number finite, the loss 1e19
    ],
)
def test_a_diverging_run_names_the_learning_rate_and_writes_no_exploded_checkpoint(job, cli, flags):
    spec, data = job
    result = _train(cli, spec, data, "--epochs", "3", "--out", "run", *flags)
    line = assert_refused(result, "diverged", "learning rate", "try 10× lower")
    assert "Out of range float" not in line
    # No epoch's checkpoint was written: the first epoch's step already exploded.
    assert not (data.parent / "run" / "checkpoint").exists()


def test_a_run_that_diverges_later_keeps_the_last_good_checkpoint(job):
    from engine.data import load_dataset
    from engine.spec import load_spec
    from engine.training import TrainConfig, TrainingError, default_preprocessing, fit

    spec_path, folder = job
    spec = load_spec(spec_path)
    data = load_dataset(folder, default_preprocessing(spec), val_fraction=0.2)
    run = folder.parent / "run"
    list(fit(spec, data, TrainConfig(epochs=1, val_split=0.2), out_dir=run))
    good = load_checkpoint(run)
    wild = TrainConfig(epochs=3, optimizer="adam", lr=1e9, val_split=0.2)
    with pytest.raises(TrainingError, match="diverged"):
        list(fit(spec, data, wild, out_dir=run))
    kept = load_checkpoint(run)
    assert kept.epoch == good.epoch == 1
    assert all(np.array_equal(kept.weights[k], good.weights[k]) for k in good.weights)


def test_a_stop_after_an_exploding_step_saves_nothing_exploded(job):
    """A stop request honoured right after the step that made the weights NaN: the stop's
    checkpoint would keep them, so the run says it diverged instead."""
    from engine.data import load_dataset
    from engine.spec import load_spec
    from engine.training import (
        BatchEnd,
        TrainConfig,
        TrainControl,
        TrainingError,
        default_preprocessing,
        fit,
    )

    spec_path, folder = job
    spec = load_spec(spec_path)
    data = load_dataset(folder, default_preprocessing(spec), val_fraction=0.0)
    control = TrainControl()
    # weight decay 1e30 times lr 1e30 overflows float32: the first step makes the weights inf
    cfg = TrainConfig(epochs=2, batch_size=4, lr=1e30, weight_decay=1e30, val_split=0.0)
    with pytest.raises(TrainingError, match="diverged"):
        for event in fit(spec, data, cfg, control=control, out_dir=folder.parent / "run"):
            if isinstance(event, BatchEnd):
                control.request_stop()
    assert not (folder.parent / "run" / "checkpoint").exists()
