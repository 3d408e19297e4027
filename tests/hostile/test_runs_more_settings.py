"""Whole-number training settings beyond 32 bits. A seed of 10**26 in a settings file (or
on the command line) trained, was stored in the checkpoint, and then ended the Train
page's spin box in OverflowError when the run was opened; now every integer setting is
checked against the range the form and the checkpoints hold, naming the setting."""

from __future__ import annotations

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in

from engine.train_config import TrainConfig
from engine.train_settings import INT_MAX, SETTINGS


@pytest.mark.parametrize("name", [s.name for s in SETTINGS if s.kind == "int"])
def test_every_integer_setting_stops_at_32_bits(name):
    assert TrainConfig(**{name: INT_MAX}).to_dict()[name] == INT_MAX
    with pytest.raises(ValueError, match=f"training setting {name}: .*up to {INT_MAX}"):
        TrainConfig(**{name: INT_MAX + 1})


@pytest.mark.parametrize("where", ["flag", "file"])
def test_a_huge_seed_is_refused_by_name(tmp_path, monkeypatch, cli, where):
    start_in(tmp_path, monkeypatch, per_class=3)
    spec = write_spec(tmp_path / "net.json")
    seed = "99999999999999999999999999"
    extra = ("--seed", seed) if where == "flag" else ()
    if where == "file":
        (tmp_path / "net.training.json").write_text(f'{{"seed": {seed}}}')
    result = cli("train", spec, "--data", "data", "--epochs", "1", "--out", "run", *extra)
    assert_refused(result, "seed", seed)
    assert not (tmp_path / "run").exists()
