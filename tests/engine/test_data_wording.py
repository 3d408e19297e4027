"""`cnn-workbench data` names the split folders that are there (issue 9)."""

from __future__ import annotations

import shutil

from test_training import write_pattern_folder

from engine.commands.main import main
from engine.data import CACHE_ENV


def test_data_names_only_the_split_folders_present(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    data = write_pattern_folder(tmp_path / "data", per_class=4, test_per_class=2)
    assert main(["data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "train/test folders" in out and "val" not in out.split("folders")[0]
    shutil.copytree(data / "test", data / "val", dirs_exist_ok=True)
    assert main(["data", str(data)]) == 0
    assert "train/val/test folders" in capsys.readouterr().out
