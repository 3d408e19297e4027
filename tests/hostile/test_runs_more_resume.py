"""Resuming a run with flags that ask for something else. A resumed run keeps the settings
and preprocessing in its checkpoint (that is what makes it equal an uninterrupted run), and
used to drop a --lr, --batch-size, --augment or --resize given beside --resume in silence
(the user believed the new learning rate was in effect). Now each such flag is refused in
one line naming it, the run's value and the fix; flags that repeat the run's values pass."""

from __future__ import annotations

import json

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.checkpoint import load_checkpoint


@pytest.fixture
def run(tmp_path, monkeypatch, cli):
    """(spec, data): a two-class 8x8 folder, and "run" trained for one epoch at lr 0.01."""
    start_in(tmp_path, monkeypatch, per_class=5)
    spec, data = write_spec(tmp_path / "net.json"), tmp_path / "data"
    first = _train(cli, spec, data, "--epochs", "1", "--batch-size", "4", "--out", "run")
    assert first.code == 0, first.err
    return spec, data


def _train(cli, spec, data, *extra):
    return train(cli, spec, data, *extra)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--lr", "0.5"), ["--lr 0.5", "0.01"]),
        (("--batch-size", "2"), ["--batch-size 2", "4"]),
        (("--augment", "flip"), ["--augment flip"]),
        (("--optimizer", "adam", "--seed", "3"), ["--optimizer adam", "--seed 3"]),
        (("--keep-best",), ["--keep-best"]),
        (("--resize", "pad"), ["--resize pad", "stretch"]),
        (("--center", "pixel"), ["--center pixel", "channel"]),
        (("--no-standardize",), ["--no-standardize"]),
    ],
)
def test_a_flag_the_resumed_run_would_ignore_is_refused(run, cli, flags, named):
    spec, data = run
    before = (load_checkpoint("run").path / "checkpoint.json").read_bytes()
    result = _train(cli, spec, data, "--resume", "run", "--epochs", "2", *flags)
    line = assert_refused(result, *named, "--init-from run")
    assert "keeps the settings" in line
    assert (load_checkpoint("run").path / "checkpoint.json").read_bytes() == before


def test_flags_that_repeat_the_runs_values_resume_it(run, cli):
    spec, data = run
    result = _train(
        cli,
        spec,
        data,
        "--resume",
        "run",
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--batch-size",
        "4",
        "--augment",
        "none",
        "--resize",
        "stretch",
        "--center",
        "channel",
        "--no-keep-best",
        "--json",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out.splitlines()[-1])["epochs"] == 2
    assert load_checkpoint("run").config.lr == 0.01


def test_a_new_run_still_takes_the_preprocessing_flags(run, cli):
    spec, data = run
    result = _train(
        cli,
        spec,
        data,
        "--epochs",
        "1",
        "--out",
        "other",
        "--resize",
        "pad",
        "--center",
        "pixel",
        "--no-standardize",
    )
    assert result.code == 0, result.err
    pre = load_checkpoint("other").preprocessing
    assert (pre["resize"], pre["center"], pre["standardize"]) == ("pad", "pixel", False)
    plain = _train(cli, spec, data, "--epochs", "1", "--out", "plain")
    assert plain.code == 0, plain.err
    pre = load_checkpoint("plain").preprocessing
    assert (pre["resize"], pre["center"], pre["standardize"]) == ("stretch", "channel", True)
