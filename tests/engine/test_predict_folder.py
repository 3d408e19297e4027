"""`cnn-workbench predict RUN FOLDER [--csv FILE]`: every image in a folder, one line each
(issue 9, "Predict")."""

from __future__ import annotations

import csv

from test_training import SPEC, write_pattern_folder

from engine.commands.main import main
from engine.data import CACHE_ENV
from engine.predict import image_files


def test_predict_a_folder_prints_a_table_and_writes_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = write_pattern_folder(tmp_path / "data", per_class=8, test_per_class=3)
    SPEC.save(tmp_path / "tiny.json")
    args = ["train", "tiny.json", "--data", str(data), "--epochs", "1", "--out", "run"]
    assert main(args) == 0
    capsys.readouterr()
    folder = data / "test"
    (folder / "notes.txt").write_text("not an image")
    images = image_files(folder)
    assert len(images) == 9 and all(p.suffix == ".png" for p in images)
    assert main(["predict", "run", str(folder), "--csv", "out.csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 9
    classes = {"diagonal", "horizontal", "vertical"}
    for line, path in zip(lines, images, strict=True):
        image, name, confidence = line.split()
        assert image == str(path) and name in classes and confidence.endswith("%")
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "class", "confidence"] and len(rows) == 10
    assert all(0.0 <= float(r[2]) <= 1.0 and r[1] in classes for r in rows[1:])
