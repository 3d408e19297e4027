"""Checkpoints: everything needed to resume a run or to predict with its model (contract).

A run folder (``--out DIR``) holds the latest checkpoint in ``DIR/checkpoint/``:

- ``checkpoint.json``: format and version, the spec, the training config, the preprocessing,
  the class names, how far the run got (``epoch`` completed, ``batch`` done in the next one),
  the metrics history, the RNG scheme, the partial sums of an epoch stopped midway, and a
  SHA-256 of each array file.
- ``weights.npz``: the network's state dict (PyTorch names, float32).
- ``optimizer.npz``: the optimiser's arrays (its scalars live in ``checkpoint.json``).

Arrays are written with ``np.savez`` and read with ``allow_pickle=False``: a checkpoint never
runs code. The manifest carries ``"integrity"``, a SHA-256 of its own canonical JSON, so a
damaged manifest is caught like a damaged array file; and it is checked against its spec
(preprocessing geometry, class count) and every array header against its file before a byte
is allocated, so a crafted 60000x60000 size is refused rather than attempted.

Writing is atomic: the three files go into a fresh hidden folder that is then
renamed into place (the previous checkpoint is moved aside first and deleted last), so a
crash or a full disk leaves the previous checkpoint loadable, never a mix of two. The hidden
folder is named after the writing process (``.checkpoint.new-<pid>-*``): the next save removes
those whose process is gone (a kill mid-write).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.errors import DatasetError
from engine.io import read_regular_bytes, size_text
from engine.safe_json import JSONInputError, load_json_file
from engine.spec import NetworkSpec, SpecError

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
]

FORMAT = "cnn-workbench/checkpoint"
VERSION = 1
_FOLDER = "checkpoint"
_OLD = ".checkpoint.old"
_MANIFEST = "checkpoint.json"
_NEW = ".checkpoint.new-"
_INTEGRITY = "integrity"
_MANIFEST_LIMIT = 64 * 1024 * 1024


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


def _canonical_sha(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest without its integrity field, as canonical JSON: the same for
    the dict that was written and the dict parsed back (floats round-trip exactly)."""
    rest = {k: v for k, v in manifest.items() if k != _INTEGRITY}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process: alive; a nonsense number: not ours
    return True


def remove_stale_temporaries(
    run_dir: str | os.PathLike[str], keep: Path | None = None
) -> list[Path]:
    """Delete the ``.checkpoint.new-*`` folders in ``run_dir`` left by a writer that was
    killed mid-save (its process is gone, or the folder predates pid-named folders).
    Returns what was removed. A folder of a live process (a save in progress) is kept."""
    removed = []
    try:
        candidates = list(Path(run_dir).glob(f"{_NEW}*"))
    except OSError:
        return removed
    for folder in candidates:
        if folder == keep or not folder.is_dir():
            continue
        pid_text = folder.name[len(_NEW) :].split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else None
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


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
    apart from the arrays. Raises OSError when the disk refuses (the old checkpoint stays),
    SpecError for a spec built in memory that would not load again (an id longer than a
    spec file allows, say): a checkpoint that cannot be opened is never written."""
    NetworkSpec.from_dict(spec.to_dict(), source="the checkpoint's spec")
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
    manifest[_INTEGRITY] = _canonical_sha(manifest)
    text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
    tmp = Path(tempfile.mkdtemp(prefix=f"{_NEW}{os.getpid()}-", dir=run))
    remove_stale_temporaries(run, keep=tmp)
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


def _check_members(path: Path, data: bytes) -> None:
    """Compare every array header of an .npz with the bytes its member holds, before
    np.load allocates what the header declares (a 60-byte member claiming 14 GB)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:  # np.savez stores, never deflates
                raise CheckpointError(f"{path}: {info.filename} is compressed; np.savez never is")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(f)
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: {info.filename} holds Python objects")
                if dtype.kind not in "fiub" or dtype.fields is not None:
                    # text, complex, structured or raw bytes: never what a save writes, and
                    # none converts to float32 weights as it should
                    raise ValueError(f"{info.filename} holds {dtype} values; a checkpoint's "
                                     "arrays are real numbers")  # fmt: skip
                declared = math.prod(shape) * dtype.itemsize
                if f.tell() + declared != info.file_size:
                    raise CheckpointError(
                        f"{path}: {info.filename} declares {shape} {dtype} but holds "
                        f"{info.file_size - f.tell()} bytes; the checkpoint is corrupt"
                    )


def _load_npz(path: Path, expected_sha: str | None) -> dict[str, np.ndarray]:
    try:
        data = read_regular_bytes(path, 1 << 40)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from None
    if expected_sha is not None and hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(f"{path}: corrupt (its checksum differs from {_MANIFEST})")
    try:
        _check_members(path, data)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"{path}: corrupt or not a numpy .npz file ({e})") from None


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load the checkpoint in ``path`` (a run folder, its ``checkpoint/`` folder or the
    ``checkpoint.json`` file). Raises ``CheckpointError`` naming the file for a missing,
    unreadable, corrupt or newer-version checkpoint."""
    from engine.train_config import TrainConfig

    folder = _locate(Path(path))
    mpath = folder / _MANIFEST
    try:
        m = load_json_file(mpath, limit=_MANIFEST_LIMIT)
    except JSONInputError as e:
        what = "corrupt JSON" if e.syntax else "cannot be read"
        raise CheckpointError(f"{mpath}: {what} ({e.reason})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{mpath}: not a CNN Workbench checkpoint (format {FORMAT!r})")
    version = m.get("version")
    if not _count(version) or version < 1:
        raise CheckpointError(f"{mpath}: corrupt (version {json.dumps(version)[:40]} is not a "
                              "positive integer)")  # fmt: skip
    if version > VERSION:
        raise CheckpointError(
            f"{mpath}: checkpoint version {version} is newer than this CNN Workbench reads "
            f"(version {VERSION}); update CNN Workbench"
        )
    if _INTEGRITY in m and m[_INTEGRITY] != _canonical_sha(m):
        raise CheckpointError(
            f"{mpath}: corrupt (its contents differ from its integrity checksum); restore the "
            "run folder from a backup or train again"
        )
    for key in ("epoch", "batch"):
        if not _count(m.get(key)):
            raise CheckpointError(f"{mpath}: corrupt ({key} {json.dumps(m.get(key))[:40]} is not "
                                  "a count of 0 or more)")  # fmt: skip
    try:
        spec = NetworkSpec.from_dict(m["spec"])
        config = TrainConfig.from_dict(m["config"])
        _check_against_spec(mpath, spec, m["preprocessing"], m["class_names"])
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
    except DatasetError as e:
        raise CheckpointError(f"{mpath}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{mpath}: corrupt or incomplete ({type(e).__name__}: {e})") from None


def _count(value: Any) -> bool:
    """A whole number of 0 or more, as JSON writes one (not a boolean, not 2.7)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_against_spec(mpath: Path, spec: NetworkSpec, pre: Any, class_names: Any) -> None:
    """The manifest's preprocessing and classes must be those of its own spec: a size that
    disagrees would fail deep in predict (or ask for 60000x60000 pixels)."""
    from engine.data.preprocess import Preprocessing
    from engine.memory_budget import machine_memory, training_memory
    from engine.shapes import infer_shapes

    params = training_memory(spec).parameters  # before engine.build allocates them
    if params > machine_memory():
        raise CheckpointError(
            f"{mpath}: its network needs {size_text(params)} of parameters; this machine has "
            f"{size_text(machine_memory())}"
        )
    p = Preprocessing.from_dict(pre)
    want = (spec.input.channels, spec.input.height, spec.input.width)
    if p.shape != want:
        raise CheckpointError(
            f"{mpath}: preprocessing is {'x'.join(map(str, p.shape))} but the spec's input is "
            f"{'x'.join(map(str, want))}; the checkpoint is inconsistent, train again"
        )
    if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
        raise CheckpointError(f"{mpath}: class_names must be a list of strings")
    out = infer_shapes(spec).output_shape
    if out is not None and len(out) == 1 and out[0] != len(class_names):
        raise CheckpointError(
            f"{mpath}: {len(class_names)} class names but the network has {out[0]} outputs; "
            "the checkpoint is inconsistent, train again"
        )
