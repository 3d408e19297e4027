"""`cnn-workbench train` and `predict` end to end, in-process."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from PIL import Image
from test_training import SPEC, pattern_image, write_pattern_folder

import engine.commands.train as train_command
from engine.checkpoint import load_checkpoint
from engine.commands.main import main
from engine.data import CACHE_ENV
from engine.training import BatchEnd


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_pattern_folder(tmp_path / "data")
    spec = tmp_path / "tiny.json"
    SPEC.save(spec)
    return tmp_path, str(data), str(spec)


ARGS = ["--epochs", "3", "--batch-size", "8", "--optimizer", "adam", "--lr", "0.02"]


def test_train_json_then_predict_json(setup, capsys):
    tmp, data, spec = setup
    assert main(["train", spec, "--data", data, *ARGS, "--out", "run", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["reason"] == "completed" and summary["epochs"] == 3
    assert summary["train_loss"] > 0 and summary["val_accuracy"] >= 0.8
    assert summary["test_accuracy"] >= 0.8
    assert "epoch 3/3: train loss" in err and "3 classes, 90 images" in err
    assert load_checkpoint(tmp / "run").epoch == 3

    img = tmp / "probe.png"
    Image.fromarray(pattern_image(1, np.random.default_rng(1)), "L").save(img)
    assert main(["predict", "run", str(img), "--top", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["classes"] == ["diagonal", "horizontal", "vertical"]
    (pred,) = result["predictions"]
    assert pred["image"] == str(img) and len(pred["top"]) == 2
    assert pred["top"][0]["class"] == "horizontal"
    assert main(["predict", "run", str(img)]) == 0
    assert "horizontal" in capsys.readouterr().out


def test_plain_output_and_default_run_folder(setup, capsys):
    tmp, data, spec = setup
    assert main(["train", spec, "--data", data, "--epochs", "1", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1: train loss" in out
    assert "test accuracy" in out.splitlines()[-1]
    (run,) = (tmp / "runs").iterdir()
    assert run.name.startswith("tiny-") and load_checkpoint(run).epoch == 1


def test_ctrl_c_stops_after_the_batch_and_resume_finishes(setup, capsys, monkeypatch):
    tmp, data, spec = setup
    real_fit = train_command.fit

    def fit_with_ctrl_c(*args, **kwargs):
        for event in real_fit(*args, **kwargs):
            yield event
            if isinstance(event, BatchEnd) and (event.epoch, event.batch) == (2, 2):
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(train_command, "fit", fit_with_ctrl_c)
    code = main(["train", spec, "--data", data, *ARGS, "--out", "run", "--json"])
    assert code == 130
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["reason"] == "stopped"
    assert "Ctrl-C again aborts" in err and "--resume run" in err
    ck = load_checkpoint(tmp / "run")
    assert (ck.epoch, ck.batch) == (1, 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    monkeypatch.setattr(train_command, "fit", real_fit)
    assert main(["train", spec, "--data", data, "--epochs", "3", "--resume", "run"]) == 0
    assert load_checkpoint(tmp / "run").epoch == 3


def test_fatal_problems_are_one_line_and_exit_1(setup, capsys):
    tmp, data, spec = setup
    assert main(["train", spec, "--data", str(tmp / "missing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnn-workbench train: ") and "missing" in err[0]
    code = main(["train", spec, "--data", data, "--epochs", "2", "--lr", "1e30",
                 "--momentum", "0", "--out", "wild"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "learning rate 1e+30 is probably too high" in err
    assert main(["train", spec, "--data", data, "--augment", "rotate"]) == 1
    assert "augment" in capsys.readouterr().err
    assert main(["predict", str(tmp / "nowhere"), "x.png"]) == 1
    assert "no such checkpoint" in capsys.readouterr().err


def test_preprocessing_flags_reach_the_checkpoint(setup, capsys):
    tmp, data, spec = setup
    code = main(["train", spec, "--data", data, *ARGS, "--out", "pre", "--json",
                 "--resize", "crop", "--center", "pixel", "--no-standardize"])  # fmt: skip
    assert code == 0
    stored = json.loads((tmp / "pre" / "checkpoint" / "checkpoint.json").read_text())
    pre = stored["preprocessing"]
    assert (pre["resize"], pre["center"], pre["standardize"]) == ("crop", "pixel", False)
