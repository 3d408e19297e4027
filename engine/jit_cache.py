"""Where numba keeps the engine's compiled kernels: a directory named after the kernels' source.

numba's own on-disk cache (``cache=True``) checks only the source file of the function it
loads. A kernel that calls a kernel of another file keeps the callee's old machine code when
only the callee's file changes: after a ``git pull`` or an edit, the caller silently runs the
previous version (measured here: a caller in ``epilogue.py`` kept running an activation pass
of ``conv.py`` that had been replaced, 2.3x slower; a two-file toy returns the old result).
Touching the caller's file does not help either.

So the engine points numba at a cache directory named after a hash of every engine source
file that compiles kernels (those that mention numba or llvmlite; the generated direct
convolution kernels keep their machine code there too): any change to any kernel selects a
fresh directory, and an unchanged engine finds its kernels where it left them. The newest few
directories are kept (a developer switching branches finds both warm), older ones are removed.

Nothing is changed when the user set ``NUMBA_CACHE_DIR`` (their choice wins) or when the user
cache directory cannot be written (numba then caches beside the sources, as before).
Must run before numba is imported (``engine/config.py`` calls it); a process that imported
numba already gets the directory through ``numba.config`` instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

__all__ = ["KEEP", "builds_kernels", "kernel_source_hash", "use_keyed_cache"]

#: How many cache directories (the current one included) survive a change of the kernels.
KEEP = 3
_ENGINE = Path(__file__).resolve().parent


def builds_kernels(source: bytes) -> bool:
    """Whether a file's source can generate machine code (numba, llvmlite, or the engine's
    ``llvm_jit`` helper, which an IR builder such as ``direct_conv_rows.py`` alone names)."""
    return b"numba" in source or b"llvmlite" in source or b"llvm_jit" in source


def kernel_source_hash(root: Path = _ENGINE) -> str:
    """The first 16 hex digits of a SHA-256 over the path and bytes of every ``.py`` file
    under ``root`` that mentions numba, llvmlite or llvm_jit (the files that generate
    machine code: a kernel built with ``engine.kernels.llvm_jit`` names only that module), in
    sorted order (a few milliseconds)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if builds_kernels(data):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(data)
    return digest.hexdigest()[:16]


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn-workbench" / "numba"


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the KEEP most recently used cache directories under ``root``."""
    try:
        dirs = [d for d in root.iterdir() if d.is_dir() and len(d.name) == 16]
    except OSError:
        return
    dirs.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    for old in [d for d in dirs if d != keep][KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def use_keyed_cache(root: Path | None = None, sources: Path = _ENGINE) -> str | None:
    """Point numba's cache at ``root/<kernel_source_hash(sources)>`` (``root``: the user
    cache, ``~/.cache/cnn-workbench/numba`` by default; ``sources``: the engine package).
    Returns the directory, or None when the user set ``NUMBA_CACHE_DIR`` or the directory
    cannot be created and written."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    root = Path(root) if root is not None else _user_cache_root()
    target = root / kernel_source_hash(Path(sources))
    try:
        fresh = not target.exists()
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK | os.X_OK):
            return None
        os.utime(target)  # "recently used", for pruning
    except OSError:
        return None
    if fresh:
        _prune(root, target)
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before the engine: its config has read the env already
        numba.config.CACHE_DIR = str(target)
    return str(target)
