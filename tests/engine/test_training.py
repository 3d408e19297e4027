"""engine.training: the fit() generator on a tiny generated image folder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.data import load_dataset
from engine.spec import NetworkSpec
from engine.training import (
    BatchEnd,
    EpochEnd,
    Finished,
    Paused,
    Snapshot,
    Started,
    TrainConfig,
    TrainControl,
    TrainingError,
    default_preprocessing,
    fit,
)

CLASSES = ("diagonal", "horizontal", "vertical")
SPEC = NetworkSpec.from_dict(
    {
        "name": "tiny",
        "input": {"channels": 1, "height": 8, "width": 8},
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "dropout", "rate": 0.1},
            {"type": "flatten"},
            {"type": "dense", "units": 3},
        ],
    }
)


def pattern_image(cls: int, rng: np.random.Generator) -> np.ndarray:
    """8x8 uint8: noise plus a bright bar whose direction is the class."""
    img = rng.integers(0, 60, size=(8, 8))
    k = int(rng.integers(2, 6))
    if cls == 0:
        np.fill_diagonal(img, 250)
    elif cls == 1:
        img[k, :] = 250
    else:
        img[:, k] = 250
    return img.astype(np.uint8)


def write_pattern_folder(root: Path, per_class: int = 24, test_per_class: int = 6) -> Path:
    """A train/ + test/ image folder of the three bar classes, as PNG files."""
    rng = np.random.default_rng(123)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(pattern_image(c, rng), "L").save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = write_pattern_folder(tmp_path_factory.mktemp("bars"))
    return load_dataset(root, default_preprocessing(SPEC), val_fraction=0.25, seed=0, cache=False)


CFG = TrainConfig(epochs=4, batch_size=8, optimizer="adam", lr=0.02, val_split=0.25)


def test_the_last_snapshot_carries_the_final_weights(dataset, tmp_path):
    from engine.checkpoint import load_checkpoint

    cfg = TrainConfig(epochs=2, batch_size=8, optimizer="adam", lr=0.02, val_split=0.25)
    events = list(fit(SPEC, dataset, cfg, out_dir=tmp_path, snapshot_interval_s=1e9))
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert len(snaps) == 2  # the first batch's (the interval has not begun) and the final one
    assert isinstance(events[-1], Finished) and events[-2] is snaps[-1]
    saved = load_checkpoint(tmp_path).weights
    assert all(np.array_equal(saved[k], v) for k, v in snaps[-1].weights.items())


def test_training_learns_and_events_come_in_order(dataset, tmp_path):
    probe = np.zeros((2, 1, 8, 8), dtype=np.float32)
    events = list(fit(SPEC, dataset, CFG, out_dir=tmp_path, probe=probe, snapshot_interval_s=0))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    started = events[0]
    assert (started.total_epochs, started.start_epoch, started.num_train) == (4, 1, 54)
    assert (started.num_val, started.num_test, started.batches_per_epoch) == (18, 18, 7)
    assert started.class_names == CLASSES and started.health.total == 90
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert len(batches) == 4 * 7
    assert [(e.epoch, e.batch) for e in batches[:8]] == [(1, b) for b in range(1, 8)] + [(2, 1)]
    assert all(0 <= e.accuracy <= 1 and e.loss > 0 and e.images_per_s > 0 for e in batches)
    assert batches[-1].eta_s == 0.0
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert len(snaps) == len(batches)  # interval 0: one after every batch
    assert [a.shape for a in snaps[0].activations][:3] == [(2, 4, 8, 8), (2, 4, 8, 8), (2, 4, 4, 4)]
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [1, 2, 3, 4]
    last = ends[-1]
    assert last.confusion.dtype == np.int64 and last.confusion.sum() == 18
    probs, labels = last.val_predictions
    assert probs.shape == (18, 3) and probs.dtype == np.float32 and labels.shape == (18,)
    assert last.val_accuracy >= 0.9 and last.train_loss < ends[0].train_loss
    assert last.checkpoint == tmp_path / "checkpoint"
    done = events[-1]
    assert done.reason == "completed" and done.test_accuracy >= 0.9
    assert done.history["epoch"] == [1, 2, 3, 4]
    assert done.history["val_accuracy"][-1] == last.val_accuracy
    assert load_checkpoint(tmp_path).epoch == 4


def test_snapshot_arrays_are_copies(dataset):
    gen = fit(SPEC, dataset, TrainConfig(epochs=1, batch_size=8), snapshot_interval_s=0)
    snap = next(e for e in gen if isinstance(e, Snapshot))
    before = snap.weights["0.weight"].copy()
    next(e for e in gen if isinstance(e, BatchEnd))  # another optimiser step
    assert np.array_equal(snap.weights["0.weight"], before)
    gen.close()


def test_resume_equals_an_uninterrupted_run_bit_for_bit(dataset, tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=8, lr=0.05, augment=("flip", "shift"), seed=3)
    straight = list(fit(SPEC, dataset, cfg, out_dir=tmp_path / "a"))
    list(fit(SPEC, dataset, TrainConfig(**{**cfg.to_dict(), "epochs": 1}), out_dir=tmp_path / "b"))
    resumed = list(fit(SPEC, dataset, cfg, resume=tmp_path / "b"))
    assert resumed[0].start_epoch == 2
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert b.epoch == 2 and a.weights.keys() == b.weights.keys()
    for k in a.weights:
        assert np.array_equal(a.weights[k], b.weights[k]), k
    for k, v in a.optimizer_state.items():
        assert np.array_equal(v, b.optimizer_state[k]), k
    assert straight[-1].history["train_loss"] == resumed[-1].history["train_loss"]


def test_stop_midway_then_resume_is_still_bit_for_bit(dataset, tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=8, seed=5)
    list(fit(SPEC, dataset, cfg, out_dir=tmp_path / "a"))
    control = TrainControl()
    events = []
    for e in fit(SPEC, dataset, cfg, control=control, out_dir=tmp_path / "b"):
        events.append(e)
        if isinstance(e, BatchEnd) and (e.epoch, e.batch) == (1, 3):
            control.request_stop()
    assert isinstance(events[-1], Finished) and events[-1].reason == "stopped"
    assert [(e.epoch, e.batch) for e in events if isinstance(e, BatchEnd)][-1] == (1, 3)
    stopped = load_checkpoint(tmp_path / "b")
    assert (stopped.epoch, stopped.batch) == (0, 3)
    resumed = list(fit(SPEC, dataset, cfg, resume=tmp_path / "b"))
    assert (resumed[0].start_epoch, resumed[0].start_batch) == (1, 3)
    assert next(e for e in resumed if isinstance(e, BatchEnd)).batch == 4
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert a.history["train_loss"] == b.history["train_loss"]


def test_pause_resume_and_stop_from_another_thread(dataset, tmp_path):
    control = TrainControl()
    kinds = []
    paused = threading.Event()

    def other_thread():
        paused.wait(5)
        control.resume()

    helper = threading.Thread(target=other_thread)
    helper.start()
    cfg = TrainConfig(epochs=3, batch_size=8)
    for e in fit(SPEC, dataset, cfg, control=control, out_dir=tmp_path):
        kinds.append(type(e).__name__)
        if isinstance(e, BatchEnd) and (e.epoch, e.batch) == (1, 2):
            control.pause()
        if isinstance(e, Paused):
            assert control.is_paused
            if paused.is_set():  # the second pause: stop while paused
                threading.Timer(0.05, control.request_stop).start()
            paused.set()
        if isinstance(e, EpochEnd) and e.epoch == 1:
            control.pause()
    helper.join()
    assert "Paused" in kinds and kinds.index("Resumed") == kinds.index("Paused") + 1
    assert kinds[-1] == "Finished"
    assert kinds.count("EpochEnd") == 1
    assert kinds.count("Paused") == 2 and kinds.count("Resumed") == 1
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt.epoch, ckpt.batch) == (1, 1)


def test_nan_loss_stops_naming_the_learning_rate_and_keeps_the_checkpoint(dataset, tmp_path):
    list(fit(SPEC, dataset, TrainConfig(epochs=1, batch_size=8), out_dir=tmp_path))
    good = load_checkpoint(tmp_path)
    wild = TrainConfig(epochs=3, batch_size=8, lr=1e30, momentum=0.0)
    with pytest.raises(TrainingError, match=r"learning rate 1e\+30 is probably too high"):
        list(fit(SPEC, dataset, wild, out_dir=tmp_path))  # diverges in its first epoch
    again = load_checkpoint(tmp_path)
    assert again.epoch == good.epoch == 1
    assert all(np.array_equal(again.weights[k], good.weights[k]) for k in good.weights)


def test_resume_refuses_another_network(dataset, tmp_path):
    list(fit(SPEC, dataset, TrainConfig(epochs=1, batch_size=8), out_dir=tmp_path))
    other = SPEC.replace_layer(0, SPEC.layers[0].replace(filters=5))
    with pytest.raises(TrainingError, match="network differs"):
        fit(other, dataset, TrainConfig(epochs=2), resume=tmp_path)


def test_config_validation_and_round_trip():
    cfg = TrainConfig(epochs=3, augment=("flip", "shift=3"), init="he", schedule="cosine")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.augmentation().shift == 3 and cfg.augmentation().flip
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment=("rotate",))
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epochz": 3})


def test_mismatched_class_count_is_refused_before_training(dataset):
    four = SPEC.replace_layer(5, SPEC.layers[5].replace(units=4))
    with pytest.raises(TrainingError, match="4 outputs but the data has 3 classes"):
        fit(four, dataset, TrainConfig(epochs=1))


def test_without_validation_split_val_fields_are_none(tmp_path):
    root = write_pattern_folder(tmp_path / "bars", per_class=6, test_per_class=1)
    ds = load_dataset(root, default_preprocessing(SPEC), val_fraction=0.0, cache=False)
    events = list(fit(SPEC, ds, TrainConfig(epochs=1, batch_size=8, val_split=0.0)))
    end = next(e for e in events if isinstance(e, EpochEnd))
    assert end.val_loss is None and end.val_accuracy is None and end.checkpoint is None
    assert end.confusion.shape == (3, 3) and end.confusion.sum() == 0
    assert end.val_predictions[0].shape == (0, 3)
    assert events[-1].history["val_accuracy"] == [None]
