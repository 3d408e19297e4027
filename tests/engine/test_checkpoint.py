"""engine.checkpoint: round trip, atomic replacement, refusal of corrupt files; predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_training import SPEC, pattern_image, write_pattern_folder

from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.data import CACHE_ENV, DatasetError, Preprocessing
from engine.predict import Predictor, predict_files
from engine.training import TrainConfig, fit


def _save(run_dir, epoch=1, weights=None):
    weights = weights or {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3)}
    return save_checkpoint(
        run_dir,
        spec=SPEC,
        config=TrainConfig(epochs=3, augment=("flip",)),
        preprocessing=Preprocessing(1, 8, 8, center="channel", mean=(0.25,)).to_dict(),
        class_names=("a", "b", "c"),
        epoch=epoch,
        batch=0,
        history={"epoch": [1], "val_loss": [None], "train_loss": [0.5]},
        weights=weights,
        optimizer_state={
            "kind": "sgd",
            "steps": 7,
            "lr": 0.01,
            "nesterov": False,
            "momentum_buffer/0.weight": np.ones((2, 3), np.float32),
        },
        progress={"elapsed_s": 1.5},
    )


def test_round_trip_keeps_every_value(tmp_path):
    folder = _save(tmp_path)
    assert folder == tmp_path / "checkpoint"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.json",
        "optimizer.npz",
        "weights.npz",
    ]
    for path in (tmp_path, folder, folder / "checkpoint.json"):
        ck = load_checkpoint(path)
        assert ck.spec == SPEC and ck.config == TrainConfig(epochs=3, augment=("flip",))
        assert Preprocessing.from_dict(ck.preprocessing).mean == (0.25,)
        assert ck.class_names == ("a", "b", "c") and (ck.epoch, ck.batch) == (1, 0)
        assert ck.history == {"epoch": [1], "val_loss": [None], "train_loss": [0.5]}
        assert np.array_equal(ck.weights["0.weight"], np.arange(6).reshape(2, 3))
        assert ck.weights["0.weight"].dtype == np.float32
        opt = ck.optimizer_state
        assert (opt["kind"], opt["steps"], opt["lr"], opt["nesterov"]) == ("sgd", 7, 0.01, False)
        assert np.array_equal(opt["momentum_buffer/0.weight"], np.ones((2, 3)))
        assert ck.progress == {"elapsed_s": 1.5}


def test_a_new_save_replaces_the_old_one_and_leaves_no_temporaries(tmp_path):
    _save(tmp_path, epoch=1)
    _save(tmp_path, epoch=2, weights={"0.weight": np.zeros((2, 3), np.float32)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    ck = load_checkpoint(tmp_path)
    assert ck.epoch == 2 and not ck.weights["0.weight"].any()


def test_a_save_interrupted_between_the_renames_still_loads_the_previous(tmp_path):
    _save(tmp_path, epoch=1)
    (tmp_path / "checkpoint").rename(tmp_path / ".checkpoint.old")
    assert load_checkpoint(tmp_path).epoch == 1
    _save(tmp_path, epoch=2)
    assert load_checkpoint(tmp_path).epoch == 2
    assert not (tmp_path / ".checkpoint.old").exists()


def test_corrupt_or_missing_checkpoints_are_refused_naming_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    folder = _save(tmp_path)
    weights = folder / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights\.npz: corrupt"):
        load_checkpoint(tmp_path)
    folder = _save(tmp_path)
    (folder / "optimizer.npz").unlink()
    with pytest.raises(CheckpointError, match=r"optimizer\.npz: missing"):
        load_checkpoint(tmp_path)
    folder = _save(tmp_path)
    manifest = folder / "checkpoint.json"
    manifest.write_text(manifest.read_text()[:-40])
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: corrupt JSON"):
        load_checkpoint(tmp_path)
    folder = _save(tmp_path)
    m = json.loads(manifest.read_text())
    m["version"] = 99
    manifest.write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(tmp_path)


def test_a_pickled_npz_is_refused(tmp_path):
    folder = _save(tmp_path)
    np.savez(folder / "weights.npz", **{"0.weight": np.array([{"x": 1}], dtype=object)})
    m = json.loads((folder / "checkpoint.json").read_text())
    m["files"].pop("weights.npz")  # even without a checksum to catch it
    m.pop("integrity")  # (a manifest edited by hand: as from before manifests were sealed)
    (folder / "checkpoint.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match=r"weights\.npz: corrupt or not a numpy"):
        load_checkpoint(tmp_path)


def test_predict_on_a_trained_checkpoint_through_png_files(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    root = write_pattern_folder(tmp_path / "data")
    cfg = TrainConfig(epochs=4, batch_size=8, optimizer="adam", lr=0.02, val_split=0.25)
    list(fit(SPEC, root, cfg, out_dir=tmp_path / "run"))
    rng = np.random.default_rng(7)
    paths = []
    for c in range(3):
        for i in range(4):
            # Saved as RGB at 16x16: predict converts to gray and resizes, as stored.
            img = Image.fromarray(pattern_image(c, rng), "L").convert("RGB")
            img = img.resize((16, 16), Image.Resampling.NEAREST)
            paths.append(tmp_path / f"c{c}-{i}.png")
            img.save(paths[-1])
    results = predict_files(tmp_path / "run", paths, top=2)
    assert len(results) == 12 and all(len(r.top) == 2 for r in results)
    assert all(abs(float(r.probabilities.sum()) - 1.0) < 1e-5 for r in results)
    assert results[0].source == str(paths[0])
    names = ("diagonal", "horizontal", "vertical")
    right = sum(r.label == names[i // 4] for i, r in enumerate(results))
    assert right >= 10
    predictor = Predictor(tmp_path / "run")
    same = predictor.predict_image(Image.open(paths[5]), top=3)
    assert np.allclose(same.probabilities, results[5].probabilities)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.png: zero bytes"):
        predict_files(tmp_path / "run", [tmp_path / "empty.png"])
