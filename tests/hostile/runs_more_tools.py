"""What the test_runs_more_* cases share: a working folder with a tiny two-class data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_classes(folder: Path, per_class: int, rng: np.random.Generator) -> Path:
    """``folder``/a and ``folder``/b, each with ``per_class`` random 8x8 greyscale PNGs."""
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(folder / name / f"{i}.png")
    return folder


def start_in(tmp_path: Path, monkeypatch, per_class: int) -> np.random.Generator:
    """Work in ``tmp_path`` (the current folder, the data cache in cache/) with the data set
    in data/; returns the seeded generator for any further pictures."""
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    write_classes(tmp_path / "data", per_class, rng)
    return rng


def train(cli, spec, data, *flags: str, seconds: float = 60, megabytes: float | None = None):
    """``cnn-workbench train SPEC --data DATA FLAGS...`` through the bounded ``cli`` fixture."""
    return cli("train", spec, "--data", data, *flags, seconds=seconds, megabytes=megabytes)
