"""A run kept with --keep-best whose best/ checkpoint is damaged while the latest one is
fine. predict RUN (which prefers best/) and train --resume RUN used to stop at "corrupt
JSON" with no way forward named; each line now says what to give or move to go on, and
that way works."""

from __future__ import annotations

import shutil

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in


@pytest.fixture
def run(tmp_path, monkeypatch, cli):
    start_in(tmp_path, monkeypatch, per_class=5)
    spec = write_spec(tmp_path / "net.json")
    result = cli(
        "train",
        spec,
        "--data",
        "data",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--val-split",
        "0.2",
        "--keep-best",
        "--out",
        "run",
        seconds=60,
        megabytes=None,
    )
    assert result.code == 0, result.err
    (tmp_path / "run" / "best" / "checkpoint" / "checkpoint.json").write_text("{")
    return spec


def test_predict_names_the_latest_checkpoint_when_best_is_damaged(run, cli):
    line = assert_refused(cli("predict", "run", "data/a/0.png"), "run/best", "run/checkpoint")
    assert "latest epoch" in line
    assert cli("predict", "run/checkpoint", "data/a/0.png").code == 0


def test_resume_names_the_damaged_best_folder_and_moving_it_resumes(run, cli):
    argv = ("train", run, "--data", "data", "--resume", "run", "--epochs", "3")
    line = assert_refused(cli(*argv, seconds=60, megabytes=None), "run/best", "move")
    assert "resume" in line
    shutil.move("run/best", "best-damaged")
    assert cli(*argv, seconds=60, megabytes=None).code == 0
