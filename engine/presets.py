"""Recommended training settings that travel with a network: a preset's, or a spec file's.

A spec file holds the network only (``engine.spec`` parses it and refuses unknown keys), so
the settings live beside it in a sidecar, a JSON object of ``TrainConfig`` fields (any
subset; the rest keep their defaults):

- a bundled preset ``NAME``: ``resources/presets/training/NAME.json`` (a subfolder, so that
  ``preset_names()``, which lists ``resources/presets/*.json``, does not take it for a
  network);
- a spec file ``DIR/NET.json``: ``DIR/NET.training.json``.

    recommended_settings("fashion")  # {"optimizer": "adam", "lr": 0.002, ...} or None
    recommended_config("fashion")    # TrainConfig with those over the defaults, or None

A sidecar that is not such an object, names an unknown setting, sets ``init_from`` (a
machine's own path) or gives a bad value raises ``PresetSettingsError`` naming the file and
the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.train_config import TrainConfig

__all__ = [
    "PresetSettingsError",
    "describe",
    "recommended_config",
    "recommended_settings",
    "settings_path",
]

_SUBFOLDER = "training"
_SUFFIX = ".training.json"
_NOT_RECOMMENDABLE = ("init_from",)


class PresetSettingsError(ValueError):
    """A sidecar of recommended settings that cannot be used; one line naming file and key."""


def settings_path(spec_source: Any) -> Path | None:
    """Where ``spec_source``'s recommended settings would be (whether or not the file
    exists): a preset name or a spec file path; None for a spec object or a dict."""
    from engine.resources import resource_path

    if not isinstance(spec_source, str | os.PathLike):
        return None
    p = Path(spec_source)
    presets = resource_path("presets")
    if not p.exists() and isinstance(spec_source, str) and os.sep not in spec_source:
        return presets / _SUBFOLDER / f"{spec_source}.json"
    beside = p.with_name(p.name.removesuffix(".json") + _SUFFIX)
    if not beside.exists() and p.parent.resolve() == presets.resolve():
        return presets / _SUBFOLDER / p.name
    return beside


def recommended_settings(spec_source: Any) -> dict[str, Any] | None:
    """The recommended settings of ``spec_source`` as given in its sidecar (only the keys
    it sets, checked), or None without one. Raises PresetSettingsError."""
    from engine.safe_json import JSONInputError, load_json_file

    path = settings_path(spec_source)
    if path is None or not path.is_file():
        return None
    try:
        data = load_json_file(path)
    except JSONInputError as e:
        raise PresetSettingsError(str(e)) from None
    if not isinstance(data, Mapping):
        raise PresetSettingsError(
            f"{path}: expected a JSON object of training settings, got {type(data).__name__}"
        )
    known = set(TrainConfig.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise PresetSettingsError(
                f"{path}: {key!r} is not a training setting (allowed: {', '.join(sorted(known))})"
            )
        if key in _NOT_RECOMMENDABLE:
            raise PresetSettingsError(
                f"{path}: {key!r} cannot be recommended (it names a folder on one machine); "
                "give it on the command line instead"
            )
    try:
        TrainConfig.from_dict({**TrainConfig().to_dict(), **data})
    except ValueError as e:
        raise PresetSettingsError(f"{path}: {e}") from None
    return {k: list(v) if k == "augment" else v for k, v in data.items()}


def recommended_config(spec_source: Any) -> TrainConfig | None:
    """``TrainConfig`` with ``spec_source``'s recommended settings over the defaults, or
    None when it has none. Raises PresetSettingsError for a bad sidecar."""
    settings = recommended_settings(spec_source)
    if settings is None:
        return None
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **settings})


def describe(settings: Mapping[str, Any]) -> str:
    """``{"optimizer": "adam", "lr": 0.002}`` -> ``"optimizer adam, lr 0.002"``."""
    parts = []
    for key, value in settings.items():
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value)) or "none"
        parts.append(f"{key} {value}")
    return ", ".join(parts)
