"""The settings and run records of a project file, validated as strictly as a spec.

A project's ``"settings"`` and ``"runs"`` used to be taken as they came: ``"training": "fast"``
half-opened a project (the window said it had opened), and a number where a run's history
wants a list made the window fail to build. Here every value is checked against what the
window reads, and every problem is reported with the path of the bad value
(``settings.training.lr``, ``runs[2].history.val_accuracy``), so a project either opens whole
or not at all. No Qt: the rules are plain data checks.

    settings: {"training": <TrainConfig dict>, "data": "<folder>" | null}
    runs: [{"id", "started", "network", "spec", "config", "data", "status", "message",
            "epochs_done", "history": {name: [number | null, ...]}, "test_accuracy",
            "checkpoint"}, ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.spec import NetworkSpec, SpecError
from engine.validation import is_int, is_number, show, unknown_key

__all__ = ["RUN_FIELDS", "SETTINGS_FIELDS", "check_runs", "check_settings"]

SETTINGS_FIELDS = ("training", "data")
RUN_FIELDS = (
    "id", "started", "network", "spec", "config", "data", "status", "message",
    "epochs_done", "history", "test_accuracy", "checkpoint",
)  # fmt: skip
_RUN_REQUIRED = ("id", "started", "spec", "config", "data", "status")
_STATUSES = ("completed", "stopped", "failed")


def _training_problem(path: str, value: Any) -> str | None:
    from engine.train_config import TrainConfig

    if not isinstance(value, Mapping):
        return f"{path}: must be an object of training settings, got {show(value)}"
    try:
        TrainConfig.from_dict(dict(value))
    except (ValueError, TypeError) as e:
        return f"{path}: {str(e)[:200]}"
    return None


def check_settings(
    settings: Any, prefix: str, base: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """(settings with a relative ``data`` folder made absolute against ``base``, the
    project file's folder; problems). The process's working directory is never used: a
    project opened from anywhere reads the same folder."""
    if not isinstance(settings, Mapping):
        return {}, [f"{prefix}settings: must be an object, got {show(settings)}"]
    problems = [
        unknown_key(f"{prefix}settings", str(k), SETTINGS_FIELDS)
        for k in settings
        if k not in SETTINGS_FIELDS
    ]
    out = dict(settings)
    if "training" in settings and (p := _training_problem(f"{prefix}settings.training",
                                                           settings["training"])):  # fmt: skip
        problems.append(p)
    data = settings.get("data")
    if data is not None:
        if not isinstance(data, str) or not data.strip() or "\0" in data:
            problems.append(
                f"{prefix}settings.data: must be the path of a data folder, got {show(data)}"
            )
        elif base is not None and not Path(data).expanduser().is_absolute():
            out["data"] = str((base / data).resolve())
    return out, problems


def _check_history(path: str, history: Any, problems: list[str]) -> None:
    if not isinstance(history, Mapping):
        problems.append(f"{path}: must be an object of per-epoch lists, got {show(history)}")
        return
    for name, values in history.items():
        if not isinstance(values, list) or not all(v is None or is_number(v) for v in values):
            problems.append(f"{path}.{name}: must be a list of numbers, got {show(values)}")


def _check_run(path: str, run: Any, problems: list[str]) -> None:
    if not isinstance(run, Mapping):
        problems.append(f"{path}: must be an object (a run record), got {show(run)}")
        return
    problems += [unknown_key(path, str(k), RUN_FIELDS) for k in run if k not in RUN_FIELDS]
    problems += [f"{path}.{k}: missing" for k in _RUN_REQUIRED if k not in run]
    for key in ("id", "started", "network", "data", "message"):
        if key in run and not isinstance(run[key], str):
            problems.append(f"{path}.{key}: must be a string, got {show(run[key])}")
    for key in ("checkpoint",):
        if run.get(key) is not None and not isinstance(run[key], str):
            problems.append(f"{path}.{key}: must be a folder path or null, got {show(run[key])}")
    if "status" in run and run["status"] not in _STATUSES:
        options = ", ".join(f'"{s}"' for s in _STATUSES)
        problems.append(f"{path}.status: must be one of {options}, got {show(run['status'])}")
    if "epochs_done" in run and not (is_int(run["epochs_done"]) and run["epochs_done"] >= 0):
        problems.append(
            f"{path}.epochs_done: must be a non-negative integer, got {show(run['epochs_done'])}"
        )
    if run.get("test_accuracy") is not None and not is_number(run["test_accuracy"]):
        problems.append(
            f"{path}.test_accuracy: must be a number or null, got {show(run['test_accuracy'])}"
        )
    if "history" in run:
        _check_history(f"{path}.history", run["history"], problems)
    if "config" in run and (p := _training_problem(f"{path}.config", run["config"])):
        problems.append(p)
    if "spec" in run:
        try:
            NetworkSpec.from_dict(run["spec"], source=f"{path}.spec")
        except SpecError as e:
            problems += e.problems[:3]  # the first few say enough about one old run


def check_runs(runs: Any, prefix: str) -> list[str]:
    """Problems of a project's ``runs`` list, each with the path of the bad value."""
    if not isinstance(runs, list):
        return [f"{prefix}runs: must be a list of run records, got {show(runs)}"]
    problems: list[str] = []
    for i, run in enumerate(runs):
        _check_run(f"{prefix}runs[{i}]", run, problems)
        if len(problems) > 20:  # a thousand broken runs need not be listed one by one
            problems.append(f"{prefix}runs: and more problems after runs[{i}]")
            break
    return problems
