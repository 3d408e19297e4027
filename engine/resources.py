"""Where the bundled resources (presets, icons, the sample dataset) live."""

from __future__ import annotations

import os
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parent.parent / "resources"
_ROOT = Path(os.environ.get("CNN_WORKBENCH_RESOURCES", _DEFAULT))


def resource_path(*parts: str) -> Path:
    """A path inside the top-level ``resources/`` folder (override: $CNN_WORKBENCH_RESOURCES)."""
    return _ROOT.joinpath(*parts)
