"""Project files, bad files, recent files, autosave and crash recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.spec import PROJECT_FORMAT, LayerSpec, SpecError, load_spec
from engine.train_config import TrainConfig
from workbench.project import (
    Autosave,
    Project,
    RecentFiles,
    load_project,
    project_from_dict,
    save_project,
)


def test_save_and_open_round_trip(make_window, tmp_path):
    window = make_window("alexnet")
    doc = window.document
    doc.insert_layer(1, LayerSpec.create("batch_norm", momentum=0.2))
    training = TrainConfig(epochs=3, optimizer="adam").to_dict()
    doc.set_settings({"training": training})
    run = {"id": "run-1", "started": "20260101-120000", "spec": doc.spec.to_dict(),
           "config": training, "data": "/data/x", "status": "completed",
           "history": {"val_accuracy": [0.9]}}  # fmt: skip
    doc.add_run(run)
    path = str(tmp_path / "alex.cnnwb")
    assert window.save_to(path)
    assert not doc.dirty and not window.isWindowModified()
    assert window.windowTitle().startswith("alex.cnnwb")
    data = json.loads(Path(path).read_text())
    assert data["format"] == PROJECT_FORMAT and data["version"] == 1
    assert set(data) == {"format", "version", "network", "settings", "runs"}

    other = make_window()
    assert other.open_path(path)
    assert other.document.spec == doc.spec
    assert other.document.settings == {"training": training}
    assert other.document.runs == [run]
    assert other.document.path == path and not other.document.dirty
    assert other.document.undo_stack.count() == 0
    assert path in RecentFiles(other.settings).paths()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps(
                {
                    "format": PROJECT_FORMAT,
                    "version": 1,
                    "network": {
                        "input": {"channels": 1, "height": 28, "width": 28},
                        "layers": [{"type": "conv2d", "filters": 4, "kernel": 0}],
                    },
                }
            ),
            "layers[0].kernel",
        ),
        (
            json.dumps({"format": PROJECT_FORMAT, "version": 2, "network": {}}),
            "newer than this CNN Workbench",
        ),
        (
            json.dumps(
                {"format": "cnn-workbench/network", "version": 7, "input": {}, "layers": []}
            ),
            "version 7, newer",
        ),
        (json.dumps({"format": "something/else"}), "format"),
    ],
    ids=["malformed", "bad-field", "newer-project", "newer-spec", "wrong-format"],
)
def test_a_bad_file_shows_why_and_keeps_the_current_project(
    make_window, tmp_path, dialogs, content, expected
):
    window = make_window()
    doc = window.document
    doc.insert_layer(0, LayerSpec.create("dropout"))
    spec, steps, path = doc.spec, doc.undo_stack.count(), doc.path
    bad = tmp_path / "bad.cnnwb"
    bad.write_text(content)
    assert not window.open_path(str(bad))
    assert expected in dialogs.last
    assert "bad.cnnwb" in dialogs.last
    assert doc.spec == spec and doc.undo_stack.count() == steps and doc.path == path and doc.dirty


def test_plain_spec_files_open_as_projects(tmp_path):
    spec = load_spec("mnist-2conv")
    path = tmp_path / "net.json"
    spec.save(path)
    project = load_project(path)
    assert project.spec == spec and project.settings == {} and project.runs == []
    with pytest.raises(SpecError) as err:
        project_from_dict(
            {"format": PROJECT_FORMAT, "version": 1, "network": spec.to_dict(), "extra": 1}
        )
    assert "extra: unknown field" in str(err.value)
    with pytest.raises(SpecError, match="network: missing"):
        project_from_dict({"format": PROJECT_FORMAT, "version": 1})


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "p.cnnwb"
    save_project(path, Project(load_spec("lenet5")))
    before = path.read_text()

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        save_project(path, Project(load_spec("alexnet")))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.cnnwb"]  # no temporary left behind


def test_recent_files_newest_first_without_duplicates(tmp_path):
    settings = QSettings(str(tmp_path / "recent.ini"), QSettings.Format.IniFormat)
    recent = RecentFiles(settings)
    for name in ("a", "b", "a", *"cdefghij"):
        recent.add(tmp_path / f"{name}.cnnwb")
    paths = recent.paths()
    assert paths[0].endswith("j.cnnwb") and len(paths) == 8 and len(set(paths)) == 8


def test_autosave_of_a_crashed_session_is_offered_back(make_window, tmp_path, dialogs):
    from PySide6.QtWidgets import QMessageBox

    crashed = Autosave(tmp_path)
    spec = load_spec("alexnet").with_input(height=224, width=224)
    settings = {"training": TrainConfig(epochs=5).to_dict()}
    crashed.write(Project(spec, settings), "/somewhere/alex.cnnwb")
    running = Autosave(tmp_path)
    running.write(Project(load_spec("lenet5")), "")
    crashed._lock.unlock()  # what the OS does when a process dies: its lock goes stale

    window = make_window()
    window.autosave = Autosave(tmp_path)
    assert [o.source for o in window.autosave.orphans()] == [
        "/somewhere/alex.cnnwb"
    ]  # not the live one
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.offer_recovery()
    assert "alex.cnnwb" in dialogs.last
    assert window.document.spec == spec and window.document.settings == settings
    assert window.document.dirty  # recovered work is unsaved work
    assert window.autosave.orphans() == []  # offered once
    window.write_autosave()
    assert window.autosave.path.exists()
    window.autosave.close()
    assert not window.autosave.path.exists()
    running.close()


def test_layout_is_remembered_between_runs(make_window):
    window = make_window()
    window.palette_dock.hide()
    window.design_splitter.setSizes([500, 300])  # the default gives the table more room
    window.close()
    again = make_window()
    assert again.palette_dock.isHidden()
    stack_width, table_width = again.design_splitter.sizes()
    assert stack_width > table_width


def test_screenshot_command_renders_the_window(tmp_path):
    from PySide6.QtGui import QImage

    from workbench.cli import main

    path = tmp_path / "shot.png"
    assert main(["--screenshot", str(path), "alexnet"]) == 0
    image = QImage(str(path))
    assert image.width() == 1440 and image.height() == 900
    assert main(["--screenshot", str(tmp_path / "x.png"), "no-such-preset"]) == 1


def test_every_subcommand_the_help_lists_runs_headless_from_the_installed_command():
    # `cnn-workbench import ...` opened the window: the entry point knew the module names
    # (import_model), not the subcommands as typed.
    import os
    import re
    import subprocess
    import sys

    from engine.commands.main import NAMES, build_parser

    listed = re.findall(r"^    (\w+)\s", build_parser().format_help(), re.M)
    assert listed == list(NAMES)
    for name in NAMES:
        out = subprocess.run([sys.executable, "-m", "workbench.cli", name, "--help"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
        assert out.returncode == 0 and f"usage: cnn-workbench {name}" in out.stdout, name
