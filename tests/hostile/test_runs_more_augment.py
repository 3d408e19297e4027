"""Augmentation items a careless user or a hostile settings file gives: a shift or crop far
larger than the image (crop=99999 padded every batch to 373 GiB: a MemoryError traceback),
a superscript digit that str.isdigit() accepts and int() does not (a ValueError traceback),
the same item twice with two values (only the last counted, in silence). Each is refused in
one line before any image is decoded; what is fine still trains."""

from __future__ import annotations

import pytest
from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in, train

from engine.train_config import TrainConfig


@pytest.fixture
def job(tmp_path, monkeypatch):
    start_in(tmp_path, monkeypatch, per_class=4)
    return write_spec(tmp_path / "net.json"), tmp_path / "data"


def _train(cli, spec, data, *extra):
    return train(cli, spec, data, "--epochs", "1", "--batch-size", "4", "--val-split", "0",
                 "--out", "run", *extra, megabytes=400)  # fmt: skip


@pytest.mark.parametrize(
    ("items", "named"),
    [
        ("crop=99999", ["crop=99999", "8x8", "at most 7"]),
        ("shift=8", ["shift=8", "at most 7"]),
        ("flip,crop=2000000000", ["crop=2000000000"]),
        ("crop=²", ["augment", "crop=²"]),
        ("shift=٣x", ["augment"]),
        ("rotate=5,rotate=10", ["rotate", "2 times", "give it once"]),
        ("flip,flip", ["flip", "give it once"]),
    ],
)
def test_an_augment_item_that_cannot_work_is_one_line(job, cli, tmp_path, items, named):
    spec, data = job
    result = _train(cli, spec, data, "--augment", items)
    assert_refused(result, *named)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "cache").exists()  # refused before a single image was decoded


def test_a_settings_file_with_a_huge_crop_is_refused_too(job, cli, tmp_path):
    spec, data = job
    (tmp_path / "net.training.json").write_text('{"augment": ["crop=99999"]}')
    assert_refused(_train(cli, spec, data), "crop=99999", "at most 7")


def test_fit_refuses_the_huge_shift_when_called_directly(job):
    from engine.data import load_dataset
    from engine.spec import load_spec
    from engine.training import TrainingError, default_preprocessing, fit

    spec_path, folder = job
    spec = load_spec(spec_path)
    data = load_dataset(folder, default_preprocessing(spec), val_fraction=0.0)
    with pytest.raises(TrainingError, match="at most 7"):
        fit(spec, data, TrainConfig(augment=("crop=64",), val_split=0.0))


def test_shifts_below_the_image_size_still_train(job, cli):
    spec, data = job
    result = _train(cli, spec, data, "--augment", "flip,crop=7,rotate=10")
    assert result.code == 0, result.err
    assert TrainConfig(augment=("shift", "flip")).augment_problem((1, 8, 8)) is None
    assert "at most 1" in TrainConfig(augment=("shift",)).augment_problem((1, 2, 2))
