"""Where the bundled resources (presets, icons, the sample dataset) live.

In a checkout (and an editable install) they are the repository's top-level ``resources/``;
an installed wheel carries the same folder as ``engine/_bundled`` (see setup.py).
$CNN_WORKBENCH_RESOURCES overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _default_root() -> Path:
    bundled = _HERE / "_bundled"
    if bundled.is_dir():
        return bundled
    return _HERE.parent / "resources"


_ROOT = Path(os.environ.get("CNN_WORKBENCH_RESOURCES") or _default_root())


def resource_path(*parts: str) -> Path:
    """A path inside the resources folder (``resources/`` in a checkout, ``engine/_bundled``
    in a wheel; override: $CNN_WORKBENCH_RESOURCES)."""
    return _ROOT.joinpath(*parts)
