"""Runs that would train nothing, and what a refusal leaves behind. --freeze of the last
layer (or a spec whose every layer says "trainable": false) used to run every epoch with
no parameter moving and exit 0; now it is one line. A refusal that fit() makes (nothing to
train, early stopping or keep-best without validation images) used to come after the run
folder was created, leaving an empty folder with a lock file; now nothing is written."""

from __future__ import annotations

import json

import pytest
from hostile_tools import SPEC_V1, assert_refused, write_spec
from runs_more_tools import start_in, train


@pytest.fixture
def job(tmp_path, monkeypatch):
    start_in(tmp_path, monkeypatch, per_class=5)
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def _train(cli, spec, data, *extra):
    return train(cli, spec, data, "--epochs", "2", "--batch-size", "4", "--out", "run", *extra)


@pytest.mark.parametrize("layer", ["3", "dense_3"])
def test_freezing_every_layer_is_refused(job, cli, tmp_path, layer):
    spec, data = job
    line = assert_refused(_train(cli, spec, data, "--freeze", layer), layer, "train nothing")
    assert "earlier layer" in line
    assert not (tmp_path / "run").exists()


def test_a_spec_with_every_layer_frozen_is_refused(job, cli, tmp_path):
    _, data = job
    frozen = dict(
        SPEC_V1,
        layers=[
            dict(layer, trainable=False) if "filters" in layer or "units" in layer else layer
            for layer in SPEC_V1["layers"]
        ],
    )
    (tmp_path / "frozen.json").write_text(json.dumps(frozen))
    assert_refused(_train(cli, "frozen.json", data), "the spec", "train nothing")
    assert not (tmp_path / "run").exists()


def test_freezing_all_but_the_head_still_trains(job, cli):
    spec, data = job
    result = _train(cli, spec, data, "--freeze", "2", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out.splitlines()[-1])["epochs"] == 2


@pytest.mark.parametrize("flag", ["--early-stopping=1", "--keep-best"])
def test_a_refusal_without_validation_data_leaves_no_run_folder(job, cli, tmp_path, flag):
    spec, data = job
    result = _train(cli, spec, data, "--val-split", "0", flag)
    assert_refused(result, "validation")
    assert not (tmp_path / "run").exists()
