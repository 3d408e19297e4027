"""Hostile project files: wrongly typed settings and run records (each refused with the path
of the bad value, so a project opens whole or not at all), and data folders a project names
that must not be read without the user's say (system folders, ``../../``, outside home)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile_tools import SPEC_V1, bounded

from engine.spec import PROJECT_FORMAT, SpecError
from engine.train_config import TrainConfig
from workbench.data_location import data_folder_concern, is_system_folder
from workbench.project import load_project

RUN = {
    "id": "run-1", "started": "20260101-120000", "spec": SPEC_V1,
    "config": TrainConfig().to_dict(), "data": "/data", "status": "completed",
    "history": {"val_accuracy": [0.5, None]}, "epochs_done": 1,
}  # fmt: skip


def _project(tmp_path, settings=None, runs=None, name="p.cnnwb") -> Path:
    path = tmp_path / name
    doc = {"format": PROJECT_FORMAT, "version": 1, "network": SPEC_V1,
           "settings": settings or {}, "runs": [] if runs is None else runs}  # fmt: skip
    path.write_text(json.dumps(doc))
    return path


def test_a_sound_project_opens(tmp_path):
    project = load_project(_project(tmp_path, {"training": TrainConfig().to_dict()}, [RUN]))
    assert project.runs == [RUN]


SETTINGS = [
    ("training-a-string", {"training": "fast"}, "settings.training"),
    ("training-a-list", {"training": [1, 2]}, "settings.training"),
    ("training-bad-lr", {"training": {**TrainConfig().to_dict(), "lr": "fast"}}, "lr"),
    ("training-unknown", {"training": {"turbo": True}}, "turbo"),
    ("training-negative-epochs", {"training": {"epochs": -1}}, "settings.training"),
    ("data-a-number", {"data": 5}, "settings.data"),
    ("data-empty", {"data": ""}, "settings.data"),
    ("data-a-list", {"data": ["/etc"]}, "settings.data"),
    ("data-with-nul", {"data": "a\0b"}, "settings.data"),
    ("unknown-setting", {"shell": "rm -rf /"}, "settings.shell"),
    ("settings-a-list", ["training"], "settings"),
]


@pytest.mark.parametrize(("name", "settings", "where"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_wrongly_typed_settings_are_refused_with_their_path(tmp_path, name, settings, where):
    path = _project(tmp_path)
    doc = json.loads(path.read_text())
    doc["settings"] = settings
    path.write_text(json.dumps(doc))
    with bounded(10, 100), pytest.raises(SpecError) as caught:
        load_project(path)
    assert any(where in p and str(path) in p for p in caught.value.problems), caught.value


RUNS = [
    ("runs-a-number", 5, "runs: must be a list"),
    ("run-a-string", ["run"], "runs[0]: must be an object"),
    ("history-a-number", [{**RUN, "history": {"val_accuracy": 5}}], "runs[0].history.val_accuracy"),
    ("history-of-strings", [{**RUN, "history": {"loss": ["x"]}}], "runs[0].history.loss"),
    ("history-a-list", [{**RUN, "history": [1]}], "runs[0].history"),
    ("missing-id", [{k: v for k, v in RUN.items() if k != "id"}], "runs[0].id: missing"),
    ("status-unknown", [{**RUN, "status": "great"}], "runs[0].status"),
    ("epochs-negative", [{**RUN, "epochs_done": -1}], "runs[0].epochs_done"),
    ("epochs-a-float", [{**RUN, "epochs_done": 1.5}], "runs[0].epochs_done"),
    ("accuracy-a-string", [{**RUN, "test_accuracy": "high"}], "runs[0].test_accuracy"),
    ("checkpoint-a-number", [{**RUN, "checkpoint": 3}], "runs[0].checkpoint"),
    ("spec-broken", [{**RUN, "spec": {**SPEC_V1, "layers": [{"type": "conv9d"}]}}], "runs[0].spec"),
    ("config-a-string", [{**RUN, "config": "fast"}], "runs[0].config"),
    ("unknown-field", [{**RUN, "exec": "x"}], "runs[0].exec"),
    ("second-run-bad", [RUN, {**RUN, "id": 7}], "runs[1].id"),
]


@pytest.mark.parametrize(("name", "runs", "where"), RUNS, ids=[r[0] for r in RUNS])
def test_wrongly_typed_run_records_are_refused_with_their_path(tmp_path, name, runs, where):
    path = _project(tmp_path, runs=runs)
    with bounded(10, 100), pytest.raises(SpecError) as caught:
        load_project(path)
    assert any(where in p for p in caught.value.problems), caught.value.problems


def test_ten_thousand_bad_runs_give_a_bounded_list(tmp_path):
    path = _project(tmp_path, runs=[{"id": i} for i in range(10_000)])
    with pytest.raises(SpecError) as caught:
        load_project(path)
    assert len(caught.value.problems) < 30


def test_a_relative_data_folder_is_the_project_files_not_the_working_directorys(
    tmp_path, monkeypatch
):
    project_dir = tmp_path / "projects" / "mine"
    project_dir.mkdir(parents=True)
    path = _project(project_dir, {"data": "../../data"})
    monkeypatch.chdir("/")
    assert load_project(path).settings["data"] == str(tmp_path / "data")


@pytest.mark.parametrize("folder", ["/", "/etc", "/usr/share", "/proc/self", "/dev", "/sys"])
def test_system_folders_need_the_users_say(tmp_path, folder):
    concern = data_folder_concern(folder, tmp_path)
    assert concern is not None and "system folder" in concern


def test_a_relative_path_up_to_the_root_is_the_root(tmp_path, monkeypatch):
    project_dir = tmp_path / "p"
    project_dir.mkdir()
    depth = len(project_dir.parts)
    path = _project(project_dir, {"data": "../" * depth})
    data = load_project(path).settings["data"]
    assert Path(data) == Path("/") and is_system_folder(data)


def test_a_link_inside_the_project_to_etc_is_etc(tmp_path):
    (tmp_path / "data").symlink_to("/etc")
    assert "system folder" in data_folder_concern(tmp_path / "data", tmp_path)


def test_folders_inside_the_project_or_home_load_at_once(tmp_path):
    home = tmp_path / "home"
    (home / "sets" / "mnist").mkdir(parents=True)
    (tmp_path / "proj" / "data").mkdir(parents=True)
    assert data_folder_concern(tmp_path / "proj" / "data", tmp_path / "proj", home) is None
    assert data_folder_concern(home / "sets" / "mnist", None, home) is None


def test_the_whole_home_or_a_folder_elsewhere_needs_the_users_say(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "elsewhere").mkdir()
    assert "home folder" in data_folder_concern(home, None, home)
    assert "outside" in data_folder_concern(tmp_path / "elsewhere", tmp_path / "p", home)


def test_the_bundled_sample_loads_at_once():
    from engine.resources import resource_path

    assert data_folder_concern(resource_path("sample"), None, os.devnull) is None
