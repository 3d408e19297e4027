"""The wheel works from any folder: built from the sources, installed into a fresh venv outside
the checkout, run from a folder that is not the checkout (issue 9, "A wheel install does not
work": resources/ was missing from the wheel).

The fresh venv gets only the wheel (--no-deps); its dependencies (numpy, numba, PySide6, ...)
come from this venv's site-packages through a .pth line, so nothing is downloaded but the
build back-end, and this checkout's own sources are not on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "build", "dist", "runs", "out", "__pycache__", ".pytest_cache"}

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith((".egg-info", ".pyc", ".nbi", ".nbc"))}

    shutil.copytree(ROOT, dest, ignore=ignore)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n" + (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, site-packages, env) of a fresh venv holding only the built wheel."""
    base = tmp_path_factory.mktemp("wheel")
    src, wheels, venv = base / "src", base / "wheels", base / "venv"
    _copy_sources(src)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        base,
        env,
    )
    (wheel,) = wheels.glob("cnn_workbench-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "_cnn_workbench_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip >= 22.3 installs into another interpreter's environment with --python.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        base,
        env,
    )
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {**env, "QT_QPA_PLATFORM": "offscreen", "HOME": str(base / "home")}
    env.pop("CNN_WORKBENCH_RESOURCES", None)
    return venv / "bin", site, env, elsewhere, wheel


def test_the_wheel_carries_the_resources(installed):
    *_, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("presets/lenet5.json", "icons/app.svg", "sample/README.md"):
        assert f"engine/_bundled/{name}" in names, name


def test_installed_command_runs_from_another_folder(installed):
    bindir, site, env, elsewhere, _ = installed
    exe = str(bindir / "cnn-workbench")
    where = _run(
        [str(bindir / "python"), "-c", "import engine; print(engine.__file__)"], elsewhere, env
    ).stdout
    assert where.strip().startswith(str(site)), where  # not the checkout's sources

    summary = _run([exe, "summary", "lenet5"], elsewhere, env).stdout
    assert "LeNet" in summary or "lenet" in summary.lower(), summary

    sample = site / "engine" / "_bundled" / "sample"
    assert sample.is_dir()
    trained = _run(
        [exe, "train", "lenet5", "--data", str(sample), "--epochs", "1", "--out", "run"],
        elsewhere,
        env,
    )
    assert "test accuracy" in trained.stdout, trained.stdout
    assert (elsewhere / "run").is_dir()

    shot = elsewhere / "shot.png"
    _run([exe, "--screenshot", str(shot)], elsewhere, env)
    assert shot.stat().st_size > 10_000
