"""CIFAR-10 and CIFAR-100 "python version" batches, read without letting a pickle run code.

    data_batch_1 ... data_batch_5    CIFAR-10's training split (10,000 images each)
    test_batch                       its test split
    batches.meta                     {"label_names": [...]}: the class names
    train, test, meta                CIFAR-100 (cifar-100-python/): "fine_labels" in the
                                     batches, "fine_label_names" in meta (the 100 classes)

Each batch is a pickled dict ``{"data": uint8 (N, 3072), "labels": [int]*N, ...}`` whose rows
hold the red, green, then blue 32x32 planes. A pickle can name any importable callable and
have the loader call it (``os.system`` included), so ``SafeUnpickler.find_class`` admits only
the few numpy reconstruction functions such files contain and refuses everything else.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
from pathlib import Path

import numpy as np

from engine.data.decoded import (
    Allocate,
    DataSource,
    Decoded,
    checked_class_names,
    decode_batches,
    is_data_file,
    read_data_file,
)
from engine.data.errors import DatasetError
from engine.data.images import Geometry

__all__ = ["Refused", "SafeUnpickler", "find_cifar", "load_pickle", "read_cifar"]

_BATCH = re.compile(r"^data_batch_(\d+)$")
#: (labels key of a batch, names key of the meta file): CIFAR-100 has 20 coarse classes
#: too; the 100 fine ones are what it is known by.
_KEYS_10 = ("labels", "label_names")
_KEYS_100 = ("fine_labels", "fine_label_names")
#: Largest pickle read: a CIFAR-10 batch is 31 MB, CIFAR-100's train file 158 MB.
MAX_PICKLE_BYTES = 512 * 1024 * 1024
#: Most classes and longest class name accepted (CIFAR-10 has 10 names of a few letters).
_MAX_CLASSES = 100_000
_MAX_NAME = 256


class Refused(pickle.UnpicklingError):
    """What the pickle asked for and was refused (a global, an object dtype, an array too
    big for the file); a pickle that is merely broken raises the plain UnpicklingError."""


def _safe_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        # An object array would let the pickle smuggle arbitrary objects through numpy.
        raise Refused("numpy object dtype")
    return dtype


def _allowed() -> dict[tuple[str, str], object]:
    # numpy 2 pickles say "numpy._core", numpy 1 (and the 2009 CIFAR files) "numpy.core";
    # both names map to the functions of the numpy in use, looked up here, not by the pickle.
    multiarray = np._core.multiarray
    numeric = np._core.numeric
    table: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _latin1_encode,  # how protocol-2 pickles store bytes
    }
    for package in ("numpy.core", "numpy._core"):
        table[f"{package}.multiarray", "_reconstruct"] = multiarray._reconstruct
        table[f"{package}.multiarray", "scalar"] = multiarray.scalar
        table[f"{package}.numeric", "_frombuffer"] = numeric._frombuffer
    return table


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


def _nbytes(shape: object, dtype: object) -> int:
    dims = (shape,) if isinstance(shape, int) else shape
    if not isinstance(dims, tuple | list) or not all(isinstance(d, int) for d in dims):
        raise Refused(f"an array shape {type(shape).__name__}")
    return math.prod(max(0, d) for d in dims) * _safe_dtype(dtype).itemsize


class SafeUnpickler(pickle.Unpickler):
    """An unpickler for numpy arrays in plain containers, and nothing else.

    ``find_class`` answers only numpy's array/dtype/scalar reconstruction and latin-1 bytes;
    any other global raises ``pickle.UnpicklingError`` before it is imported or called. The
    two array constructors are bounded: an array larger than ``max_array_bytes`` is refused
    before numpy allocates it (a 200-byte pickle may otherwise ask for 28.6 GiB)."""

    _ALLOWED = _allowed()

    def __init__(self, file, *, max_array_bytes: int | None = None, **kwargs) -> None:
        super().__init__(file, **kwargs)
        self.max_array_bytes = max_array_bytes

    def _bound(self, nbytes: int) -> None:
        if self.max_array_bytes is not None and nbytes > self.max_array_bytes:
            raise Refused(f"an array of {nbytes} bytes, more than the file could hold")

    def _ndarray(self, shape=(), dtype=float, *args, **kwargs):
        self._bound(_nbytes(shape, dtype))
        return np.ndarray(shape, _safe_dtype(dtype), *args, **kwargs)

    def _reconstruct(self, subtype, shape, dtype):
        # The pickle names "numpy.ndarray" as the subtype, which find_class answered with
        # the bounded constructor; nothing else may stand there.
        if subtype != self._ndarray:
            raise Refused("an array subtype other than numpy.ndarray")
        self._bound(_nbytes(shape, dtype))
        return np._core.multiarray._reconstruct(np.ndarray, shape, dtype)

    def find_class(self, module: str, name: str):
        try:
            found = self._ALLOWED[module, name]
        except KeyError:
            raise Refused(f"{module}.{name}") from None
        if found is np.ndarray:
            return self._ndarray
        if found is np._core.multiarray._reconstruct:
            return self._reconstruct
        return found


def load_pickle(path: str | os.PathLike[str]) -> object:
    """Unpickle ``path`` with ``SafeUnpickler`` (bytes strings kept as bytes).

    Raises ``DatasetError`` naming the file and the refused global when the pickle asks for
    anything but numpy arrays (a crafted file that would run code), or when it is broken."""
    path = Path(path)
    data = read_data_file(path, MAX_PICKLE_BYTES)
    # Every array's bytes come from the file, so none can be larger than it (plus slack for
    # the latin-1 round trip of protocol 2): the bound holds whatever the opcodes say.
    unpickler = SafeUnpickler(
        io.BytesIO(data), encoding="bytes", max_array_bytes=len(data) + (1 << 20)
    )
    try:
        return unpickler.load()
    except MemoryError:
        raise DatasetError(
            f"{path}: refused to load: the pickle would need more memory than the file "
            "justifies; use the original CIFAR-10 files"
        ) from None
    except RecursionError:
        raise DatasetError(
            f"{path}: refused to load: nested too deeply for a CIFAR batch"
        ) from None
    except Refused as e:
        raise DatasetError(
            f"{path}: refused to load: the pickle asks for {e}, which a CIFAR batch never "
            "contains (the file may be crafted to run code); use the original CIFAR-10 files"
        ) from None
    except Exception as e:
        # Only numpy's reconstruction runs, so whatever else fails is damage: an opcode's
        # length past 2**63 (OverflowError), a BUILD numpy rejects (ValueError), a truncated
        # stream (EOFError, UnpicklingError), a stack popped empty (IndexError), ...
        raise DatasetError(
            f"{path}: broken pickle ({type(e).__name__}: {e}); download the batch again"
        ) from None


def _as_str(key: object) -> object:
    return key.decode("latin1") if isinstance(key, bytes) else key


def _load_batch(path: Path, key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(path)
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a dict with 'data' and {key!r}")
    batch = {_as_str(k): v for k, v in batch.items()}
    if "data" not in batch or key not in batch:
        raise DatasetError(
            f"{path}: keys {sorted(map(str, batch))[:8]} lack 'data' or {key!r}; "
            "is this a CIFAR python batch?"
        )
    # Checked before any conversion: a list of a million references to one row would become
    # gigabytes in np.asarray, though the pickle that holds it is a few megabytes.
    data, labels = batch["data"], batch[key]
    if not isinstance(data, np.ndarray):
        raise DatasetError(
            f"{path}: 'data' is a {type(data).__name__}; a CIFAR-10 batch stores a uint8 array"
        )
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: 'data' is {data.dtype} {data.shape}; expected uint8 (N, 3072)")
    if isinstance(labels, list | tuple):
        if len(labels) != len(data) or not all(
            type(v) is int and 0 <= v < _MAX_CLASSES for v in labels
        ):
            raise DatasetError(
                f"{path}: {key!r} must be {len(data)} integers 0..{_MAX_CLASSES - 1}, one "
                f"per image (got {len(labels)} values)"
            )
        labels = np.array(labels, dtype=np.int64) if labels else np.zeros(0, np.int64)
    elif not isinstance(labels, np.ndarray):  # an array's size is bounded by the file
        raise DatasetError(f"{path}: {key!r} is a {type(labels).__name__}; expected a list")
    if (
        labels.ndim != 1
        or len(labels) != len(data)
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min(initial=0) < 0
        or labels.max(initial=0) >= _MAX_CLASSES
    ):
        raise DatasetError(
            f"{path}: {key!r} must be {len(data)} integers 0..{_MAX_CLASSES - 1}, one per image "
            f"(got {labels.shape})"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def find_cifar(root: str | os.PathLike[str]) -> DataSource | None:
    """The CIFAR-10 batches in ``root`` (or CIFAR-100's ``train``/``test``/``meta``), or None
    when it has neither ``data_batch_N`` nor CIFAR-100's ``train`` beside ``meta``."""
    root = Path(root)
    batches = sorted(
        (p for p in root.iterdir() if _BATCH.match(p.name) and is_data_file(p)),
        key=lambda p: int(_BATCH.match(p.name).group(1)),
    )
    if batches:
        kind, test, meta, keys = "cifar10", root / "test_batch", root / "batches.meta", _KEYS_10
    elif (root / "train").is_file() and (root / "meta").is_file():
        batches, test, meta = [root / "train"], root / "test", root / "meta"
        kind, keys = "cifar100", _KEYS_100
    elif (root / "test_batch").is_file() and (root / "batches.meta").is_file():
        raise DatasetError(
            f"{root}: CIFAR-10's test_batch and batches.meta but no data_batch_1 ... "
            "data_batch_5; the training batches are missing, extract the archive again"
        )
    else:
        return None
    plan = {"train": tuple(batches)}
    if test.is_file():
        plan["test"] = (test,)
    files = (*batches, *plan.get("test", ()), *((meta,) if meta.is_file() else ()))
    what = (
        f"CIFAR-10 batches in {root} ({len(batches)} train batches"
        f"{', test_batch' if 'test' in plan else ''})"
        if kind == "cifar10"
        else f"CIFAR-100 in {root} (train{', test' if 'test' in plan else ''})"
    )
    return DataSource(
        kind=kind,
        root=root,
        files=files,
        description=what,
        plan=(plan, meta if meta.is_file() else None, keys),
        reader=read_cifar,
    )


def _class_names(meta: Path | None, n_labels: int, key: str) -> tuple[str, ...]:
    if meta is None:
        return tuple(str(i) for i in range(n_labels))
    content = load_pickle(meta)
    names = content.get(key.encode(), content.get(key)) if isinstance(content, dict) else None
    if (
        not isinstance(names, list | tuple)
        or not n_labels <= len(names) <= _MAX_CLASSES
        or not all(isinstance(n, bytes | str) and len(n) <= _MAX_NAME for n in names)
    ):
        raise DatasetError(
            f"{meta}: expected {key!r} with {n_labels} to {_MAX_CLASSES} names of at "
            f"most {_MAX_NAME} characters"
        )
    return checked_class_names([str(_as_str(n)) for n in names], str(meta))


def read_cifar(source: DataSource, geometry: Geometry | None, allocate: Allocate) -> Decoded:
    """Decode a CIFAR-10 source found by ``find_cifar`` (see ``DataSource.read``)."""
    _, meta, (labels_key, names_key) = source.plan
    return decode_batches(
        source,
        lambda path: _load_batch(path, labels_key),
        lambda n_labels: _class_names(meta, n_labels, names_key),
        geometry,
        allocate,
    )
