"""--out inside the data set: the checkpoint/ folder landed among the class folders, and the
next run on that data read it as a third class (its head silently widened to 3 units, its
JSON and .npz files listed as skipped images). Refused in one line before anything is
written; a folder beside the data, or with spaces and non-ASCII letters, trains as before."""

from __future__ import annotations

import json

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.checkpoint import load_checkpoint


@pytest.fixture
def job(tmp_path, monkeypatch):
    start_in(tmp_path, monkeypatch, per_class=4)
    (tmp_path / "link").symlink_to(tmp_path / "data")
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def _train(cli, spec, data, out, *extra):
    return train(cli, spec, data, "--epochs", "1", "--batch-size", "4", "--out", out, *extra)


@pytest.mark.parametrize(
    ("data", "out"),
    [("data", "data"), ("data", "data/a/run"), ("data", "data/../data/run"), ("link", "data/r")],
)
def test_a_run_folder_inside_the_data_is_refused(job, cli, tmp_path, data, out):
    spec, _ = job
    assert_refused(_train(cli, spec, data, out), out, "inside the data set", "outside it")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (tmp_path / "data" / "a").iterdir()) == [
        f"{i}.png" for i in range(4)
    ]


def test_a_run_folder_beside_the_data_with_an_odd_name_trains(job, cli, tmp_path):
    spec, data = job
    for out in ("data-runs", "r é 空 x"):
        result = _train(cli, spec, data, out, "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out.splitlines()[-1])["checkpoint"].startswith(out)
        assert load_checkpoint(tmp_path / out).class_names == ("a", "b")
