"""Option values of the other commands that used to be blamed on the wrong thing or used as
given: export --seed -1 ("net.json: expected non-negative integer", as if the spec were
bad), baseline --seed -4 (a bare "expected non-negative integer"), baseline --max-iter 0
(fitted nothing and reported its accuracy). Each is one line naming the flag, exit 1."""

from __future__ import annotations

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in


@pytest.fixture
def job(tmp_path, monkeypatch):
    start_in(tmp_path, monkeypatch, per_class=4)
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def test_export_with_a_negative_seed_names_the_seed(job, cli, tmp_path):
    spec, _ = job
    line = assert_refused(cli("export", spec, "--out", "m.onnx", "--seed", "-1"), "--seed -1")
    assert "net.json" not in line
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("kind", "flags", "named"),
    [
        ("knn", ("--seed", "-4"), "--seed -4"),
        ("linear", ("--max-iter", "0"), "--max-iter 0"),
        ("linear", ("--max-iter", "-2"), "--max-iter -2"),
    ],
)
def test_baseline_options_out_of_range_name_the_flag(job, cli, tmp_path, kind, flags, named):
    _, data = job
    result = cli("baseline", kind, "--data", data, *flags, seconds=60, megabytes=None)
    assert_refused(result, named, "or more")
    assert not (tmp_path / "cache").exists()  # refused before decoding
