"""Training options of issue 12 and 11: recommended settings of presets, early stopping, the
best checkpoint, and transfer learning (--init-from, --freeze) through fit() and the CLI."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import test_train_cli
from test_training import CLASSES, SPEC, write_pattern_folder

import engine.presets as presets
from engine.checkpoint import load_checkpoint
from engine.commands.main import main
from engine.data import load_dataset
from engine.presets import PresetSettingsError, recommended_config, recommended_settings
from engine.spec import preset_names
from engine.train_settings import SETTINGS
from engine.training import (
    BEST_FOLDER,
    EarlyStopped,
    EpochEnd,
    Finished,
    Note,
    TrainConfig,
    TrainingError,
    default_preprocessing,
    fit,
)

setup = test_train_cli.setup  # the fixture: a data folder, tiny.json, the cwd in tmp_path
CFG = TrainConfig(epochs=6, batch_size=8, optimizer="adam", lr=0.02, val_split=0.25)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = write_pattern_folder(tmp_path_factory.mktemp("bars"))
    return load_dataset(root, default_preprocessing(SPEC), val_fraction=0.25, seed=0, cache=False)


# --------------------------------------------------------------------------- the catalogue


def test_the_catalogue_describes_every_field_once_with_its_default():
    assert [s.name for s in SETTINGS] == [f.name for f in fields(TrainConfig)]
    for s, f in zip(SETTINGS, fields(TrainConfig), strict=True):
        assert s.default == f.default, s.name
        assert s.valid(s.default), s.name
        assert s.flag.startswith("--") and s.label and s.tip
    assert len({s.flag for s in SETTINGS}) == len(SETTINGS)


@pytest.mark.parametrize(
    ("name", "bad", "words"),
    [("patience", -1, "a non-negative integer"), ("keep_best", 1, "true or false"),
     ("freeze", "", "null or a layer id"), ("init_from", 3, "null or a run folder")],
)  # fmt: skip
def test_new_settings_are_validated_with_the_usual_message(name, bad, words):
    with pytest.raises(ValueError, match=f"training setting {name}: must be {words}"):
        TrainConfig(**{name: bad})


# --------------------------------------------------------------------------- recommendations


def test_every_bundled_recommendation_is_valid_and_names_a_preset():
    folder = presets.settings_path("fashion").parent
    files = sorted(folder.glob("*.json"))
    assert files, "no recommended settings are bundled"
    for path in files:
        assert path.stem in preset_names(), path
        cfg = recommended_config(path.stem)
        assert isinstance(cfg, TrainConfig)
    assert recommended_config("lenet5") is None or isinstance(recommended_config("lenet5"),
                                                              TrainConfig)  # fmt: skip
    assert "fashion" in preset_names() and "fashion.training" not in preset_names()


def test_a_spec_files_sidecar_is_read_and_checked(tmp_path):
    spec = tmp_path / "net.json"
    SPEC.save(spec)
    assert recommended_settings(spec) is None
    side = tmp_path / "net.training.json"
    side.write_text(json.dumps({"optimizer": "adam", "lr": 0.005, "augment": ["flip"]}))
    assert recommended_settings(spec) == {"optimizer": "adam", "lr": 0.005, "augment": ["flip"]}
    cfg = recommended_config(str(spec))
    assert (cfg.optimizer, cfg.lr, cfg.augment, cfg.epochs) == ("adam", 0.005, ("flip",), 10)
    side.write_text(json.dumps({"optimiser": "adam"}))
    with pytest.raises(PresetSettingsError, match=r"net\.training\.json: 'optimiser' is not a"):
        recommended_settings(spec)
    side.write_text(json.dumps({"lr": -1}))
    with pytest.raises(PresetSettingsError, match=r"net\.training\.json: training setting lr"):
        recommended_settings(spec)
    side.write_text(json.dumps({"init_from": "runs/x"}))
    with pytest.raises(PresetSettingsError, match="'init_from' cannot be recommended"):
        recommended_settings(spec)
    side.write_text("[1, 2]")
    with pytest.raises(PresetSettingsError, match="expected a JSON object"):
        recommended_settings(spec)


def test_the_cli_uses_recommendations_unless_a_flag_is_given(setup, capsys):
    tmp, data, spec = setup
    (tmp / "tiny.training.json").write_text(
        json.dumps({"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.02})
    )
    assert main(["train", spec, "--data", data, "--lr", "0.01", "--out", "r", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "recommended settings of" in err
    line = next(x for x in err.splitlines() if "recommended settings" in x)
    assert "epochs 2, batch_size 8, optimizer adam" in line and "lr" not in line
    cfg = load_checkpoint(tmp / "r").config
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.lr) == (2, 8, "adam", 0.01)
    assert json.loads(out.strip().splitlines()[-1])["epochs"] == 2


def test_a_bad_sidecar_stops_the_cli_with_one_line(setup, capsys):
    tmp, data, spec = setup
    (tmp / "tiny.training.json").write_text(json.dumps({"speed": 3}))
    assert main(["train", spec, "--data", data]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiny.training.json: 'speed' is not a training setting" in err[0]


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_ends_the_run_after_patience_epochs_without_improvement(dataset, tmp_path):
    # A learning rate this high makes the validation loss bounce; patience 1 then stops early.
    cfg = TrainConfig(epochs=30, batch_size=8, optimizer="sgd", lr=0.3, momentum=0.9,
                      val_split=0.25, patience=1, keep_best=True)  # fmt: skip
    events = list(fit(SPEC, dataset, cfg, out_dir=tmp_path / "run", snapshot_interval_s=None))
    (stop,) = [e for e in events if isinstance(e, EarlyStopped)]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    losses = [e.val_loss for e in epochs]
    assert stop.epoch == len(epochs) < 30
    assert stop.best_epoch == 1 + int(np.argmin(losses)) and stop.epoch - stop.best_epoch == 1
    assert stop.best_val_loss == min(losses)
    assert all(later >= stop.best_val_loss for later in losses[stop.best_epoch :])
    done = events[-1]
    assert isinstance(done, Finished) and done.reason == "completed"
    assert load_checkpoint(tmp_path / "run").epoch == stop.epoch
    best = load_checkpoint(tmp_path / "run" / BEST_FOLDER)
    assert best.epoch == stop.best_epoch


def test_patience_zero_never_stops_and_keep_best_keeps_the_lowest_val_loss(dataset, tmp_path):
    cfg = TrainConfig(epochs=5, batch_size=8, optimizer="sgd", lr=0.3, momentum=0.9,
                      val_split=0.25, keep_best=True)  # fmt: skip
    events = list(fit(SPEC, dataset, cfg, out_dir=tmp_path / "run", snapshot_interval_s=None))
    assert not any(isinstance(e, EarlyStopped) for e in events)
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert len(epochs) == 5
    best_epoch = 1 + int(np.argmin([e.val_loss for e in epochs]))
    assert best_epoch < 5  # so that the last weights and the best differ below
    best = load_checkpoint(tmp_path / "run" / BEST_FOLDER)
    assert best.epoch == best_epoch
    # best/ holds that epoch's weights: its validation loss is the lowest one.
    import engine
    from engine.losses import LOSSES

    net = engine.build(best.spec)
    net.load_state_dict(best.weights)
    x, y = zip(*dataset.iter_batches("val", 1000), strict=True)
    loss = LOSSES["cross_entropy"](net.forward(np.concatenate(x)), np.concatenate(y))[0]
    assert loss == pytest.approx(min(e.val_loss for e in epochs), rel=1e-5)
    # The run's test accuracy is that of best/'s weights, the ones predict is to use.
    x, y = zip(*dataset.iter_batches("test", 1000), strict=True)
    right = np.count_nonzero(net.forward(np.concatenate(x)).argmax(1) == np.concatenate(y))
    assert events[-1].test_accuracy == right / len(np.concatenate(y))
    assert not (tmp_path / "plain" / BEST_FOLDER).exists()


def test_early_stopping_without_a_validation_split_is_refused(tmp_path):
    root = write_pattern_folder(tmp_path / "bars")
    data = load_dataset(root, default_preprocessing(SPEC), val_fraction=0.0, seed=0, cache=False)
    with pytest.raises(TrainingError, match="no validation images; set a validation split"):
        fit(SPEC, data, TrainConfig(val_split=0.0, patience=2))


def test_cli_flags_early_stopping_and_keep_best(setup, capsys):
    tmp, data, spec = setup
    code = main(["train", spec, "--data", data, "--epochs", "30", "--batch-size", "8",
                 "--lr", "0.3", "--val-split", "0.25", "--early-stopping", "1", "--keep-best",
                 "--out", "run", "--json"])  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["early_stopped"] and summary["epochs"] < 30
    assert summary["best_checkpoint"] == str(Path("run") / BEST_FOLDER)
    assert "early stopping: the validation loss has not improved for 1 epochs" in err
    assert load_checkpoint(tmp / "run" / BEST_FOLDER).epoch == summary["best_epoch"]
    cfg = load_checkpoint(tmp / "run").config
    assert (cfg.patience, cfg.keep_best) == (1, True)


# --------------------------------------------------------------------------- transfer


def test_init_from_a_run_then_freeze_on_other_data_with_another_class_count(setup, capsys):
    tmp, data, spec = setup
    assert main(["train", spec, "--data", data, "--epochs", "2", "--batch-size", "8",
                 "--optimizer", "adam", "--lr", "0.02", "--out", "first"]) == 0  # fmt: skip
    capsys.readouterr()
    # Other data: two of the three classes, so the head goes from 3 units to 2.
    other = tmp / "two"
    for split in ("train", "test"):
        for name in CLASSES[:2]:
            (other / split / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "data" / split / name).rename(other / split / name)
    code = main(["train", spec, "--data", str(other), "--epochs", "1", "--batch-size", "8",
                 "--init-from", "first", "--freeze", "max_pool2d_2", "--out", "second",
                 "--json"])  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    assert "the final dense layer" in err or "units" in err  # the head was replaced
    assert "started from first: 2 of 4 tensors loaded; 2 left at their initial values" in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert any(n.startswith("5.weight: (3, 64) in the source") for n in summary["notes"])
    first, second = load_checkpoint(tmp / "first"), load_checkpoint(tmp / "second")
    assert second.spec.layers[-1]["units"] == 2
    assert [layer.trainable for layer in second.spec.layers] == [False] * 3 + [True] * 3
    # The frozen conv kept the first run's weights exactly; the new head was trained.
    np.testing.assert_array_equal(second.weights["0.weight"], first.weights["0.weight"])
    np.testing.assert_array_equal(second.weights["0.bias"], first.weights["0.bias"])
    assert second.weights["5.weight"].shape == (2, 64)
    assert second.config.init_from == "first" and second.config.freeze == "max_pool2d_2"


def test_init_from_without_freeze_loads_weights_that_then_train(dataset, tmp_path):
    list(fit(SPEC, dataset, CFG.__class__(epochs=1, batch_size=8, val_split=0.25),
             out_dir=tmp_path / "a", snapshot_interval_s=None))  # fmt: skip
    a = load_checkpoint(tmp_path / "a")
    cfg = TrainConfig(epochs=1, batch_size=8, val_split=0.25, init_from=str(tmp_path / "a"))
    events = list(fit(SPEC, dataset, cfg, snapshot_interval_s=None))
    notes = [e.text for e in events if isinstance(e, Note)]
    assert notes == [f"started from {tmp_path / 'a'}: 4 of 4 tensors loaded"]
    # Started from a's weights (not the seed's): one epoch later the loss starts lower.
    fresh = list(fit(SPEC, dataset, TrainConfig(epochs=1, batch_size=8, val_split=0.25),
                     snapshot_interval_s=None))  # fmt: skip
    first_loss = next(e for e in events if type(e).__name__ == "BatchEnd").loss
    fresh_loss = next(e for e in fresh if type(e).__name__ == "BatchEnd").loss
    assert first_loss < fresh_loss and a.epoch == 1


@pytest.mark.parametrize(
    ("flags", "words"),
    [(["--init-from", "nowhere"], "--init-from nowhere: no such run folder or weights file"),
     (["--freeze", "conv9"], "--freeze conv9: no layer 'conv9' to freeze up to; the layers are")],
)  # fmt: skip
def test_bad_transfer_flags_are_one_line_and_leave_no_folder(setup, capsys, flags, words):
    tmp, data, spec = setup
    assert main(["train", spec, "--data", data, *flags, "--out", "never"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp / "never").exists()


def test_a_resumed_run_keeps_tracking_the_best_epoch_of_the_whole_run(dataset, tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=8, optimizer="sgd", lr=0.3, momentum=0.9,
                      val_split=0.25, keep_best=True)  # fmt: skip
    run = tmp_path / "run"
    list(fit(SPEC, dataset, cfg, out_dir=run, snapshot_interval_s=None))
    first_best = load_checkpoint(run / BEST_FOLDER).epoch
    events = list(fit(SPEC, dataset, TrainConfig(epochs=6), resume=run, snapshot_interval_s=None))
    history = events[-1].history
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]
    best = 1 + int(np.argmin(history["val_loss"]))
    assert load_checkpoint(run / BEST_FOLDER).epoch == best
    if best <= 3:  # no later epoch beat it: best/ is the one written before the resume
        assert best == first_best
