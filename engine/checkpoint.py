"""Checkpoints: everything needed to resume a run or to predict with its model (contract).

A run folder (``--out DIR``) holds the latest checkpoint in ``DIR/checkpoint/``:

- ``checkpoint.json``: format and version, the spec, the training config, the preprocessing,
  the class names, how far the run got (``epoch`` completed, ``batch`` done in the next one),
  the metrics history, the RNG scheme, the partial sums of an epoch stopped midway, and a
  SHA-256 of each array file.
- ``weights.npz``: the network's state dict (PyTorch names, float32).
- ``optimizer.npz``: the optimiser's arrays (its scalars live in ``checkpoint.json``).

Arrays are written with ``np.savez`` and read with ``allow_pickle=False``: a checkpoint never
runs code. Writing is atomic: the three files go into a fresh hidden folder that is then
renamed into place (the previous checkpoint is moved aside first and deleted last), so a
crash or a full disk leaves the previous checkpoint loadable, never a mix of two.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.spec import NetworkSpec, SpecError

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "cnn-workbench/checkpoint"
VERSION = 1
_FOLDER = "checkpoint"
_OLD = ".checkpoint.old"
_MANIFEST = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or from a newer version. One line naming the file."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. ``epoch`` is the number of completed epochs and ``batch`` the
    number of batches already done in epoch ``epoch + 1`` (non-zero only after a stop).
    ``weights`` maps state-dict names to arrays; ``optimizer_state`` is the optimiser's
    ``state_dict()`` as it was saved; ``config`` is an ``engine.training.TrainConfig``;
    ``preprocessing`` is the data package's preprocessing as a JSON dict; ``progress`` holds
    the partial sums of an unfinished epoch; ``rng`` says how the random streams derive."""

    path: Path
    spec: NetworkSpec
    config: Any
    preprocessing: dict[str, Any]
    class_names: tuple[str, ...]
    epoch: int
    batch: int
    history: dict[str, list]
    weights: dict[str, np.ndarray]
    optimizer_state: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    created: str = ""


# --------------------------------------------------------------------------- array trees


def _split_tree(tree: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Move every ndarray of a nested dict/list into ``arrays`` under a "/"-joined key and
    return the JSON remainder with ``{"__array__": key}`` in its place."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, dict):
        return {
            str(k): _split_tree(v, f"{prefix}/{k}" if prefix else str(k), arrays)
            for k, v in tree.items()
        }
    if isinstance(tree, list | tuple):
        return [_split_tree(v, f"{prefix}/{i}", arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join_tree(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join_tree(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join_tree(v, arrays) for v in tree]
    return tree


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------------- save


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    *,
    spec: NetworkSpec,
    config: Any,
    preprocessing: dict[str, Any],
    class_names: tuple[str, ...] | list[str],
    epoch: int,
    batch: int,
    history: dict[str, list],
    weights: dict[str, np.ndarray],
    optimizer_state: dict[str, Any],
    progress: dict[str, Any] | None = None,
    rng: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of a run into ``run_dir/checkpoint/`` atomically; returns that
    folder. ``config`` needs ``to_dict()``; every other value must be JSON-serialisable
    apart from the arrays. Raises OSError when the disk refuses (the old checkpoint stays)."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    opt_arrays: dict[str, np.ndarray] = {}
    opt_rest = _split_tree(optimizer_state, "", opt_arrays)
    blobs = {
        "weights.npz": _npz_bytes({k: np.asarray(v) for k, v in weights.items()}),
        "optimizer.npz": _npz_bytes(opt_arrays),
    }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "epoch": int(epoch),
        "batch": int(batch),
        "spec": spec.to_dict(),
        "config": config.to_dict(),
        "preprocessing": preprocessing,
        "class_names": list(class_names),
        "history": history,
        "optimizer": opt_rest,
        "progress": progress or {},
        "rng": rng or {},
        "files": {name: hashlib.sha256(b).hexdigest() for name, b in blobs.items()},
    }
    text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.new-", dir=run))
    try:
        for name, b in blobs.items():
            _write(tmp / name, b)
        _write(tmp / _MANIFEST, text.encode("utf-8"))
        final, old = run / _FOLDER, run / _OLD
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(run / _OLD, ignore_errors=True)
    return final


# --------------------------------------------------------------------------- load


def _locate(path: Path) -> Path:
    """The folder holding checkpoint.json: ``path`` itself, its checkpoint/ subfolder, or the
    previous checkpoint left aside by a save that was interrupted between two renames."""
    for candidate in (path, path / _FOLDER, path / _OLD):
        if (candidate / _MANIFEST).is_file():
            return candidate
    if path.is_file() and path.name == _MANIFEST:
        return path.parent
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    raise CheckpointError(f"{path}: not a checkpoint (no {_MANIFEST} in it or in {_FOLDER}/)")


def _load_npz(path: Path, expected_sha: str | None) -> dict[str, np.ndarray]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from None
    if expected_sha is not None and hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(f"{path}: corrupt (its checksum differs from {_MANIFEST})")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: corrupt or not a numpy .npz file ({e})") from None


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load the checkpoint in ``path`` (a run folder, its ``checkpoint/`` folder or the
    ``checkpoint.json`` file). Raises ``CheckpointError`` naming the file for a missing,
    unreadable, corrupt or newer-version checkpoint."""
    from engine.train_config import TrainConfig

    folder = _locate(Path(path))
    mpath = folder / _MANIFEST
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{mpath}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{mpath}: corrupt JSON at line {e.lineno}: {e.msg}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{mpath}: not a CNN Workbench checkpoint (format {FORMAT!r})")
    version = m.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{mpath}: checkpoint version {version} is newer than this CNN Workbench reads "
            f"(version {VERSION}); update CNN Workbench"
        )
    try:
        spec = NetworkSpec.from_dict(m["spec"])
        config = TrainConfig.from_dict(m["config"])
        files = m["files"]
        weights = _load_npz(folder / "weights.npz", files.get("weights.npz"))
        opt_arrays = _load_npz(folder / "optimizer.npz", files.get("optimizer.npz"))
        optimizer_state = _join_tree(m["optimizer"], opt_arrays)
        return Checkpoint(
            path=folder,
            spec=spec,
            config=config,
            preprocessing=m["preprocessing"],
            class_names=tuple(str(c) for c in m["class_names"]),
            epoch=int(m["epoch"]),
            batch=int(m["batch"]),
            history={k: list(v) for k, v in m["history"].items()},
            weights=weights,
            optimizer_state=optimizer_state,
            progress=dict(m.get("progress") or {}),
            rng=dict(m.get("rng") or {}),
            created=str(m.get("created", "")),
        )
    except CheckpointError:
        raise
    except SpecError as e:
        raise CheckpointError(f"{mpath}: its spec is invalid: {e.problems[0]}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{mpath}: corrupt or incomplete ({type(e).__name__}: {e})") from None
