"""Opening a project never starts reading a folder it names outside the project's folder and
the home folder (a system folder above all) without asking; inside them it loads at once."""

from __future__ import annotations

import json

from PIL import Image

from engine.spec import PROJECT_FORMAT, load_spec


def _project(path, data):
    doc = {
        "format": PROJECT_FORMAT,
        "version": 1,
        "network": load_spec("lenet5").to_dict(),
        "settings": {"data": data},
        "runs": [],
    }
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_project_naming_etc_asks_and_a_no_reads_nothing(make_window, tmp_path, dialogs):
    window = make_window(_project(tmp_path / "p.cnnwb", "/etc"))
    from workbench.views.dataset_panel import DatasetPanel

    assert "system folder" in dialogs.last

    assert window.findChild(DatasetPanel).path != "/etc"


def test_a_yes_loads_it(make_window, tmp_path, dialogs):
    from PySide6.QtWidgets import QMessageBox

    from workbench.views.dataset_panel import DatasetPanel

    outside = tmp_path / "elsewhere"
    for name in ("a", "b"):
        (outside / name).mkdir(parents=True)
        Image.new("L", (28, 28), 3).save(outside / name / "0.png")
    dialogs.answer = QMessageBox.StandardButton.Yes
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    window = make_window(_project(project_dir / "p.cnnwb", str(outside)))
    assert "outside the project's folder" in dialogs.last
    assert window.findChild(DatasetPanel).path == str(outside)


def test_data_inside_the_project_folder_loads_without_asking(make_window, tmp_path, dialogs):
    from workbench.views.dataset_panel import DatasetPanel

    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.new("L", (28, 28), 3).save(tmp_path / "data" / name / "0.png")
    window = make_window(_project(tmp_path / "p.cnnwb", "data"))  # relative to the file
    assert not any("Load this data folder" in s for s in dialogs.shown)
    assert window.findChild(DatasetPanel).path == str(tmp_path / "data")
