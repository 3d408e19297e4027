"""predict on inputs a careless user gives: an empty folder (a line on stderr but exit 0,
so a script took "nothing classified" for success), a --csv that is a folder, sits in a
missing folder, or is one of the images (found only after every image was classified, or
the image overwritten). Each: one line naming the option, exit 1, checked before the work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hostile_tools import assert_refused, write_spec
from PIL import Image
from runs_more_tools import start_in


@pytest.fixture
def run(tmp_path, monkeypatch, cli):
    """A run folder "run" trained one epoch on two classes of 8x8 pictures; a picture."""
    rng = start_in(tmp_path, monkeypatch, per_class=4)
    spec = write_spec(tmp_path / "net.json")
    trained = cli(
        "train",
        spec,
        "--data",
        "data",
        "--epochs",
        "1",
        "--val-split",
        "0",
        "--out",
        "run",
        seconds=60,
        megabytes=None,
    )
    assert trained.code == 0, trained.err
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save("picture.png")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_an_empty_folder_is_a_failure_that_names_what_was_looked_for(run, cli):
    (run / "empty" / "notes.txt").write_text("not a picture")
    line = assert_refused(cli("predict", "run", "empty"), "empty", "no image files", ".png")
    assert "looked for" in line


def test_an_empty_folder_beside_a_picture_still_classifies_the_picture(run, cli):
    result = cli("predict", "run", "empty", "picture.png", "--json")
    assert result.code == 1
    assert "empty" in result.err
    assert [p["image"] for p in json.loads(result.out)["predictions"]] == ["picture.png"]


@pytest.mark.parametrize(
    ("csv", "named"),
    [
        ("empty", "is a folder"),
        ("missing/out.csv", "does not exist"),
        ("picture.png", "one of the images"),
        ("./picture.png", "one of the images"),
    ],
)
def test_a_csv_that_cannot_be_written_is_refused_before_classifying(run, cli, csv, named):
    before = (run / "picture.png").read_bytes()
    result = cli("predict", "run", "picture.png", "--csv", csv)
    assert_refused(result, f"--csv {csv}", named)
    assert result.out == ""  # refused before a single picture was classified
    assert (run / "picture.png").read_bytes() == before


def test_the_csv_is_written_whole_with_one_row_per_picture(run, cli):
    (run / "out.csv").write_text("old")
    result = cli("predict", "run", "picture.png", "data", "--csv", "out.csv")
    assert result.code == 0, result.err
    rows = (run / "out.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "image,class,confidence" and len(rows) == 1 + 1 + 8
