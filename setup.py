"""Packages for setuptools; everything else is in pyproject.toml.

The repository keeps ``resources/`` (presets, icons, the sample data) at its top level, where
people look for it; the wheel ships it inside the engine as ``engine/_bundled`` so that an
installed ``cnn-workbench`` finds it from any folder. pyproject.toml cannot list found packages
and a renamed one together, hence this file.
"""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace packages too: workbench/views has no __init__.py.
    packages=[
        *find_namespace_packages(include=["engine*", "workbench*"], exclude=["*__pycache__*"]),
        "engine._bundled",
    ],
    package_dir={"engine._bundled": "resources"},
)
