"""The network's head and the data's classes (issue 9): engine.head and `train`'s use of it."""

from __future__ import annotations

import pytest
from test_training import SPEC, write_pattern_folder

from engine.checkpoint import load_checkpoint
from engine.commands.main import main
from engine.data import CACHE_ENV
from engine.head import HEAD_MISMATCH, adapt_head, head_mismatch
from engine.spec import load_spec

TEN = SPEC.replace_layer(len(SPEC.layers) - 1, SPEC.layers[-1].replace(units=10))


def test_head_mismatch_is_a_problem_on_the_final_dense_with_a_field_fix():
    problem = head_mismatch(load_spec("lenet5"), 3)
    assert problem.kind == HEAD_MISMATCH and problem.layer == 11
    assert "ends in 10 outputs but the data has 3 classes" in problem.message
    (fix,) = problem.fixes
    assert fix.label == "units 3 (the data has 3 classes)"
    assert (fix.action, fix.layer, fix.field, fix.value) == ("field", 11, "units", 3)
    assert fix.apply(load_spec("lenet5")).layers[11]["units"] == 3
    assert head_mismatch(load_spec("lenet5"), 10) is None
    assert head_mismatch(load_spec("lenet5"), None) is None


def test_adapt_head_says_what_it_changed():
    adapted, line = adapt_head(TEN, 3)
    assert (
        adapted.layers[-1]["units"] == 3
        and line == "dense1: units 10 -> 3 to match the data's 3 classes"
    )
    assert adapt_head(SPEC, 3) == (SPEC, None)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_pattern_folder(tmp_path / "data", per_class=8, test_per_class=2)
    spec = tmp_path / "ten.json"
    TEN.save(spec)
    return tmp_path, str(data), str(spec)


def test_train_adapts_the_head_and_says_so_in_one_line(setup, capsys):
    tmp, data, spec = setup
    args = ["train", spec, "--data", data, "--epochs", "1", "--batch-size", "8", "--out", "run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if "units 10 -> 3" in x]
    assert lines == [
        "dense1: units 10 -> 3 to match the data's 3 classes (--strict-head refuses instead)"
    ]
    assert load_checkpoint(tmp / "run").spec.layers[-1]["units"] == 3


def test_strict_head_refuses(setup, capsys):
    tmp, data, spec = setup
    args = ["train", spec, "--data", data, "--epochs", "1", "--out", "run", "--strict-head"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in 10 outputs but the data has 3 classes" in err[0]
    assert err[0].startswith("cnn-workbench train: ")
    assert not (tmp / "run").exists()
