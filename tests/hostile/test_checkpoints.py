"""Hostile checkpoints: a manifest edited by hand or by damage, sizes that disagree with the
spec, array headers that lie, links into devices, stale temporaries of a killed writer.
``predict`` must answer one line naming the file, before allocating anything large."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hostile_tools import SPEC_V1, assert_refused, bounded
from PIL import Image

import engine
from engine.checkpoint import _canonical_sha, load_checkpoint, save_checkpoint
from engine.data import Preprocessing
from engine.spec import NetworkSpec
from engine.train_config import TrainConfig

SPEC = NetworkSpec.from_dict(SPEC_V1)


@pytest.fixture
def run(tmp_path):
    """A real one-epoch checkpoint of SPEC and a picture to predict."""
    folder = tmp_path / "run"
    save_checkpoint(
        folder,
        spec=SPEC,
        config=TrainConfig(epochs=2),
        preprocessing=Preprocessing(1, 8, 8).to_dict(),
        class_names=("a", "b"),
        epoch=1,
        batch=0,
        history={"epoch": [1], "train_loss": [0.5]},
        weights=engine.build(SPEC, seed=0).state_dict(),
        optimizer_state={"kind": "sgd", "steps": 1},
    )
    Image.new("L", (8, 8), 128).save(tmp_path / "x.png")
    return folder


def _edit(folder, change, seal=True):
    manifest = folder / "checkpoint" / "checkpoint.json"
    m = json.loads(manifest.read_text())
    change(m)
    if seal:  # as a careful forger would: the checksum then agrees, the checks must not
        m["integrity"] = _canonical_sha(m)
    manifest.write_text(json.dumps(m))
    return manifest


def _predict(cli, run):
    return cli("predict", run, run.parent / "x.png", seconds=20, megabytes=200)


def test_the_untouched_checkpoint_predicts(run, cli):
    result = _predict(cli, run)
    assert result.code == 0 and "x.png" in result.out, result.err


EDITS = [
    ("epoch-edited-unsealed", lambda m: m.update(epoch=7), False, "integrity"),
    (
        "spec-edited-unsealed",
        lambda m: m["spec"]["layers"][0].update(filters=3),
        False,
        "integrity",
    ),
    ("height-mismatch", lambda m: m["preprocessing"].update(height=9), True, "1x9x8"),
    ("60000x60000", lambda m: m["preprocessing"].update(height=60000, width=60000), True, "60000"),
    ("channels-mismatch", lambda m: m["preprocessing"].update(channels=3), True, "3x8x8"),
    (
        "mean-wrong-length",
        lambda m: m["preprocessing"].update(center="channel", mean=[0.1] * 9),
        True,
        "mean",
    ),
    ("class-count-mismatch", lambda m: m.update(class_names=["a", "b", "c"]), True, "3 class"),
    ("class-names-not-strings", lambda m: m.update(class_names=[1, 2]), True, "class_names"),
    ("class-names-a-number", lambda m: m.update(class_names=5), True, "class_names"),
    (
        "terabyte-spec",
        lambda m: (
            m["spec"].update(input={"channels": 3, "height": 1024, "width": 1024})
            or m["spec"]["layers"].__setitem__(
                slice(None), [{"type": "flatten"}, {"type": "dense", "units": 1_000_000}]
            )
        ),
        True,
        "TiB",
    ),
    ("preprocessing-not-object", lambda m: m.update(preprocessing="fast"), True, "preprocessing"),
    ("newer-version", lambda m: m.update(version=99), True, "newer"),
]


@pytest.mark.parametrize(("name", "change", "seal", "word"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edited_manifest_is_refused(run, cli, name, change, seal, word):
    _edit(run, change, seal)
    line = assert_refused(_predict(cli, run), "checkpoint.json")
    assert word in line


RAW = [
    ("deep", b"[" * 100_000 + b"]" * 100_000, "nested"),
    ("duplicate-key", b'{"format": "cnn-workbench/checkpoint", "format": 1}', "duplicate"),
    ("huge-int", b'{"version": ' + b"9" * 5000 + b"}", "digits"),
    ("truncated", b'{"format": "cnn-workbench/check', "corrupt JSON"),
]


@pytest.mark.parametrize(("name", "content", "word"), RAW, ids=[r[0] for r in RAW])
def test_a_broken_manifest_is_one_line(run, cli, name, content, word):
    (run / "checkpoint" / "checkpoint.json").write_bytes(content)
    assert word in assert_refused(_predict(cli, run), "checkpoint.json")


def _lying_npz(path, shape):
    """An .npz whose one member's header declares ``shape`` float32 but holds 16 bytes."""
    import zipfile

    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    header["shape"] = shape
    buf = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("0.weight.npy", buf.getvalue() + bytes(16))


@pytest.mark.parametrize("shape", [(60000, 60000), (10**12,), (2, 1, 3, 3)])
def test_an_npz_header_that_lies_is_refused_before_allocating(run, cli, shape):
    _lying_npz(run / "checkpoint" / "weights.npz", shape)
    _edit(run, lambda m: m["files"].pop("weights.npz"))  # no checksum to catch it first
    line = assert_refused(_predict(cli, run), "weights.npz")
    assert "declares" in line


def test_a_compressed_npz_member_is_refused(run, cli):
    np.savez_compressed(run / "checkpoint" / "weights.npz", **{"0.weight": np.zeros(10**6)})
    _edit(run, lambda m: m["files"].pop("weights.npz"))
    assert "compressed" in assert_refused(_predict(cli, run), "weights.npz")


def test_weights_linked_to_dev_zero_are_refused(run, cli):
    weights = run / "checkpoint" / "weights.npz"
    weights.unlink()
    weights.symlink_to("/dev/zero")
    assert "device" in assert_refused(_predict(cli, run), "weights.npz")


def test_a_manifest_that_is_a_fifo_is_not_waited_on(run, cli):
    manifest = run / "checkpoint" / "checkpoint.json"
    manifest.unlink()
    os.mkfifo(manifest)
    assert_refused(_predict(cli, run), str(run))


def test_stale_temporaries_of_a_dead_writer_are_removed_and_a_live_ones_kept(run):
    dead = run / ".checkpoint.new-999999999-abc"  # no such process
    legacy = run / ".checkpoint.new-k2j3h4"  # named before pids were in the name
    live = run / f".checkpoint.new-{os.getppid()}-xyz"  # a writer that is still running
    for folder in (dead, legacy, live):
        folder.mkdir()
        (folder / "weights.npz").write_bytes(b"half")
    ck = load_checkpoint(run)
    with bounded(30, None):
        save_checkpoint(
            run,
            spec=ck.spec,
            config=ck.config,
            preprocessing=ck.preprocessing,
            class_names=ck.class_names,
            epoch=2,
            batch=0,
            history=ck.history,
            weights=ck.weights,
            optimizer_state=ck.optimizer_state,
        )
    assert not dead.exists() and not legacy.exists() and live.exists()
    assert load_checkpoint(run).epoch == 2


def test_a_legacy_manifest_without_integrity_still_loads(run):
    _edit(run, lambda m: m.pop("integrity"), seal=False)
    assert load_checkpoint(run).epoch == 1


def test_a_fifo_as_image_to_predict_is_named(run, cli):
    fifo = run.parent / "p.png"
    os.mkfifo(fifo)
    result = cli("predict", run, fifo, seconds=10)
    assert "FIFO" in assert_refused(result, str(fifo))
