"""The compiled-kernel cache is keyed by the kernels' source, so a kernel edited in one file
never runs stale inside a kernel of another file (numba's own cache checks only the file of
the function it loads)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from engine import jit_cache

CALLEE = "from numba import njit\n@njit(cache=True)\ndef g(x):\n    return x + {inc}\n"
CALLER = (
    "from numba import njit\nfrom callee import g\n"
    "@njit(cache=True)\ndef f(x):\n    return g(x) * 10\n"
)
RUN = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {engine!r})
    sys.path.insert(0, {mods!r})
    from engine.jit_cache import use_keyed_cache
    os.environ.pop("NUMBA_CACHE_DIR")  # the engine's own, set on import: use the toy's
    {setup}
    from caller import f
    print(f(1))
    """
)


def _run(mods: Path, cache: Path, keyed: bool) -> int:
    setup = f"use_keyed_cache(root={str(cache)!r}, sources={str(mods)!r})" if keyed else ""
    code = RUN.format(engine=str(Path(jit_cache.__file__).parents[1]), mods=str(mods), setup=setup)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    plain = (
        "" if keyed else ("import numba; numba.config.CACHE_DIR = " + repr(str(cache / "plain")))
    )
    code = code.replace("from caller import f", plain + "\nfrom caller import f")
    command = [sys.executable, "-B", "-c", code]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _write(mods: Path, inc: int) -> None:
    (mods / "callee.py").write_text(CALLEE.format(inc=inc))
    (mods / "caller.py").write_text(CALLER)


def test_an_edited_callee_is_seen_through_the_keyed_cache(tmp_path):
    mods, cache = tmp_path / "mods", tmp_path / "cache"
    mods.mkdir()
    _write(mods, 1)
    assert _run(mods, cache, keyed=True) == 20
    _write(mods, 2)  # only the callee's file changes
    assert _run(mods, cache, keyed=True) == 30
    assert len([d for d in cache.iterdir() if d.is_dir()]) == 2


def test_numbas_plain_cache_would_run_the_stale_callee(tmp_path):
    # The reason for the keyed cache: if numba ever fixes this, the test says so.
    mods, cache = tmp_path / "mods", tmp_path / "cache"
    mods.mkdir()
    _write(mods, 1)
    assert _run(mods, cache, keyed=False) == 20
    _write(mods, 2)
    assert _run(mods, cache, keyed=False) == 20


def test_hash_follows_kernel_sources_only(tmp_path):
    (tmp_path / "k.py").write_text("import numba\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    first = jit_cache.kernel_source_hash(tmp_path)
    (tmp_path / "plain.py").write_text("x = 2\n")  # no numba: no new compile needed
    assert jit_cache.kernel_source_hash(tmp_path) == first
    (tmp_path / "k.py").write_text("import numba\n# edited\n")
    second = jit_cache.kernel_source_hash(tmp_path)
    assert second != first
    (tmp_path / "ir.py").write_text("import llvmlite\n")  # generated kernels count too
    third = jit_cache.kernel_source_hash(tmp_path)
    assert third != second
    # An IR builder that only imports the engine's llvm_jit helper (direct_conv_rows.py):
    # its edits must reach the cached machine code too (they did not: stale row kernels).
    (tmp_path / "rows.py").write_text("from engine.kernels.llvm_jit import Frame\n")
    assert jit_cache.kernel_source_hash(tmp_path) != third


def test_every_engine_file_that_builds_kernels_is_hashed():
    from pathlib import Path

    engine_dir = Path(jit_cache.__file__).parent
    builders = [p for p in engine_dir.rglob("*.py")
                if b"@njit" in p.read_bytes() or b"compiled(" in p.read_bytes()]  # fmt: skip
    assert any(p.name == "direct_conv_rows.py" for p in builders)
    missed = [p.name for p in builders if not jit_cache.builds_kernels(p.read_bytes())]
    assert missed == []


def test_user_setting_wins_and_old_directories_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jit_cache.use_keyed_cache(root=tmp_path / "keyed") is None
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    root = tmp_path / "keyed"
    for i in range(5):
        old = root / f"{i:016x}"
        old.mkdir(parents=True)
        os.utime(old, (1000 + i, 1000 + i))
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    target = jit_cache.use_keyed_cache(root=root)
    monkeypatch.delenv("NUMBA_CACHE_DIR")  # set by the call; keep this process as it was
    left = sorted(d.name for d in root.iterdir())
    assert Path(target).name in left and len(left) == jit_cache.KEEP
    assert f"{4:016x}" in left and f"{3:016x}" in left  # the most recently used survive
