"""The health report and the `cnn-workbench data` command."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
from data_builders import make_folder, save_image

from engine.commands import data as data_command
from engine.data import DatasetError, Preprocessing, check_dataset, load_dataset


def _run(path, as_json=False):
    return data_command.run(argparse.Namespace(path=str(path), json=as_json, val_split=0.0,
                                               seed=0))  # fmt: skip


def test_counts_sizes_modes_and_skips(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", {"cat": 3, "dog": 3}, size=(8, 6), mode="RGB")
    make_folder(root / "test", {"cat": 1, "dog": 2}, size=(5, 5), mode="L", seed=4)
    (root / "train" / "dog" / "zero.png").write_bytes(b"")
    report = check_dataset(root)
    assert report.counts == {"train": {"cat": 3, "dog": 3}, "test": {"cat": 1, "dog": 2}}
    assert report.sizes == {"8x6": 6, "5x5": 3} and report.modes == {"RGB": 6, "L": 3}
    assert report.skipped == (("train/dog/zero.png", "zero bytes"),)
    assert report.total == 9 and report.leak_counts == {"test": 0}
    json.dumps(report.to_dict())  # JSON-ready


def test_leakage_between_train_and_test_is_reported(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", {"a": 3, "b": 3})
    make_folder(root / "test", {"a": 2, "b": 1}, seed=7)
    shutil.copy(root / "train" / "b" / "002.png", root / "test" / "a" / "copy.png")
    report = check_dataset(root)
    assert report.leak_counts["test"] == 1
    (leak,) = report.leaks
    assert (leak.split, leak.train, leak.other) == ("test", "train/b/002.png", "test/a/copy.png")
    assert any(w.startswith("leakage: 1 test image") for w in report.warnings)


def test_leakage_into_a_carved_validation_split(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 6, "b": 6}, mode="L")
    for i in range(6):  # every "b" image twice: one copy will land in val
        shutil.copy(root / "b" / f"{i:03d}.png", root / "b" / f"dup{i}.png")
    ds = load_dataset(root, Preprocessing(1, 4, 4), val_fraction=0.5, seed=0,
                      cache_dir=cache_dir)  # fmt: skip
    val = ds.splits["val"]
    assert ds.report.leak_counts["val"] >= 1
    assert all(leak.other.startswith("b/") for leak in ds.report.leaks)
    assert val.name_of(0).startswith(("a/", "b/"))


def test_imbalance_is_warned_about(tmp_path):
    report = check_dataset(make_folder(tmp_path / "ds", {"many": 7, "few": 2}))
    (warning,) = [w for w in report.warnings if "imbalance" in w]
    assert "'many' has 7" in warning and "'few' only 2" in warning and "3.5" in warning
    balanced = check_dataset(make_folder(tmp_path / "ok", {"x": 3, "y": 2}))
    assert not balanced.warnings


def test_val_split_counts_in_the_report(tmp_path):
    report = check_dataset(make_folder(tmp_path / "ds", {"a": 10, "b": 10}), val_fraction=0.2)
    assert report.counts["val"] == {"a": 2, "b": 2} and report.counts["train"]["a"] == 8


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: p.mkdir(), "empty"),
        (lambda p: make_folder(p, {"only": 3}), r"only one class \(only\)"),
        (lambda p: [(p / c).mkdir(parents=True) or (p / c / "x.png").write_bytes(b"")
                    for c in ("a", "b")], "no readable image among 2"),
        (lambda p: None, "no such folder"),
    ],
)  # fmt: skip
def test_fatal_problems_raise_and_exit_1(tmp_path, capsys, build, message):
    root = tmp_path / "ds"
    build(root)
    with pytest.raises(DatasetError, match=message):
        check_dataset(root)
    assert _run(root) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("cnn-workbench data: ")
    assert "Traceback" not in captured.err


def test_one_class_with_images_and_one_broken_is_fatal(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 2})
    (root / "b").mkdir()
    (root / "b" / "bad.png").write_text("text")
    with pytest.raises(DatasetError, match=r"only one class \(a\)"):
        check_dataset(root)


def test_command_prints_text_and_json(tmp_path, capsys):
    root = make_folder(tmp_path / "ds", {"a": 2, "b": 2})
    save_image(root / "a" / "big.png", size=(30, 20))
    (root / "b" / "cut.png").write_bytes((root / "a" / "big.png").read_bytes()[:60])
    assert _run(root) == 0
    text = capsys.readouterr().out
    assert "3" in text and "b/cut.png: truncated or corrupt" in text and "30x20 (1)" in text
    assert _run(root, as_json=True) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert obj["counts"]["train"] == {"a": 3, "b": 2}
    assert obj["skipped"][0]["path"] == "b/cut.png" and obj["total"] == 5


def test_register_wires_the_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="cnn-workbench")
    data_command.register(parser.add_subparsers(dest="command"))
    root = make_folder(tmp_path / "ds", {"a": 1, "b": 1})
    args = parser.parse_args(["data", str(root), "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["class_names"] == ["a", "b"]


def test_loader_returns_the_report_and_fails_like_the_check(tmp_path, cache_dir):
    root = make_folder(tmp_path / "ds", {"a": 4, "b": 4})
    (root / "a" / "bad.png").write_bytes(b"")
    ds = load_dataset(root, Preprocessing(3, 4, 4), val_fraction=0.25, cache_dir=cache_dir)
    assert ds.report.skipped == (("a/bad.png", "zero bytes"),)
    assert ds.report.counts["val"] == {"a": 1, "b": 1}
    assert np.bincount(ds.splits["train"].labels).tolist() == [3, 3]
    with pytest.raises(DatasetError, match="only one class"):
        load_dataset(make_folder(tmp_path / "one", {"a": 2}), Preprocessing(3, 4, 4),
                     cache_dir=cache_dir)  # fmt: skip
