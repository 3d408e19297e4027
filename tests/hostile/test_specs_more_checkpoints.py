"""Checkpoint manifests whose counts are not counts (a negative or fractional epoch, version
0 or true, sealed with a valid integrity checksum, as a careless script would write them)
are refused by predict with one line; and a spec that would not load again is never saved."""

from __future__ import annotations

import json

import pytest
from hostile_tools import assert_refused

import engine
from engine.checkpoint import _canonical_sha, load_checkpoint, save_checkpoint
from engine.data import Preprocessing
from engine.resources import resource_path
from engine.spec import SpecError, load_spec
from engine.train_config import TrainConfig

SAMPLE = resource_path("sample", "test")


def _save(run, spec, weights=None):
    net = engine.build(spec, seed=0)
    pre = Preprocessing(*spec.input.shape).to_dict()
    return save_checkpoint(
        run, spec=spec, config=TrainConfig(), preprocessing=pre,
        class_names=[str(k) for k in range(10)], epoch=1, batch=0, history={"loss": [1.0]},
        weights=net.state_dict() if weights is None else weights(net.state_dict()),
        optimizer_state={},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("epoch", -5, "epoch -5 is not a count"), ("epoch", 2.7, "epoch 2.7 is not a count"),
     ("batch", "3", 'batch "3" is not a count'), ("version", 0, "version 0 is not a positive"),
     ("version", True, "version true is not a positive")],
)  # fmt: skip
def test_a_sealed_manifest_with_a_bad_count_is_refused(tmp_path, cli, key, value, words):
    folder = _save(tmp_path / "run", load_spec("lenet5"))
    path = folder / "checkpoint.json"
    manifest = json.loads(path.read_text())
    manifest[key] = value
    manifest["integrity"] = _canonical_sha(manifest)
    path.write_text(json.dumps(manifest))
    image = next(SAMPLE.rglob("*.png"))
    line = assert_refused(cli("predict", tmp_path / "run", image), str(path))
    assert words in line


def test_a_spec_that_would_not_load_again_is_never_saved(tmp_path):
    spec = load_spec("lenet5")
    long_id = spec.layers[0].wired(id="a" * 300)
    bad = spec.with_layers([long_id, spec.layers[1].wired(inputs=["a" * 300]), *spec.layers[2:]])
    with pytest.raises(SpecError, match=r"the checkpoint's spec: layers\[0\]\.id"):
        _save(tmp_path / "run", bad)
    assert not (tmp_path / "run" / "checkpoint").exists()
    _save(tmp_path / "ok", spec)
    assert load_checkpoint(tmp_path / "ok").epoch == 1


@pytest.mark.parametrize(
    ("dtype", "shown"),
    [("<U3", "<U3"), ("complex64", "complex64"), ([("a", "<f4")], "[('a', '<f4')]"),
     ("V4", "|V4")],
    ids=["text", "complex", "structured", "raw-bytes"],
)  # fmt: skip
def test_weights_that_are_not_real_numbers_are_refused(tmp_path, cli, dtype, shown):
    """Saved through save_checkpoint itself, so every checksum is right: only the values
    are wrong (text crashed predict with a traceback; complex lost its imaginary part)."""
    import numpy as np

    def odd(state):
        return {**state, "0.weight": np.zeros(state["0.weight"].shape, dtype=dtype)}

    folder = _save(tmp_path / "run", load_spec("lenet5"), weights=odd)
    image = next(SAMPLE.rglob("*.png"))
    line = assert_refused(cli("predict", tmp_path / "run", image), str(folder / "weights.npz"))
    assert f"0.weight.npy holds {shown} values; a checkpoint's arrays are real numbers" in line
