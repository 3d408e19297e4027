"""Fixtures of the data-layer tests (builders of files on disk: ``data_builders``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A private disk cache, so tests never touch ~/.cache."""
    return tmp_path / "cache"
