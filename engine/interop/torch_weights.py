"""PyTorch weights into a matching spec: a ``state_dict`` saved with safetensors, or with
``torch.save`` (its zip format), read without running code from the file; and our weights
out as a safetensors file.

    weights = read_weights("resnet.safetensors")      # name -> float32 array
    state = match_weights(spec, weights)              # our names ("3.weight"), checked
    write_safetensors("weights.safetensors", net.state_dict(), {"source": "cnn-workbench"})

safetensors is read by its published layout (an 8-byte header length, a JSON header, the
raw little-endian data), so neither torch nor the safetensors package is needed, to read or
to write (:func:`write_safetensors`). A
``torch.save`` file is a zip whose ``data.pkl`` is unpickled by an unpickler that knows only
the handful of names a tensor dictionary uses (OrderedDict, torch's tensor rebuild and
storage types) and builds numpy arrays from the zip's data files instead: any other name in
the pickle (a class, a function, ``os.system``) refuses the file. Neither torch nor numpy's
pickle support is ever handed the file.

Matching (:func:`match_weights`): by name when the file uses our names ("0.weight", as
``engine.interop.torch_module`` writes them); otherwise layer by layer, in order, by the
names and shapes of each module's tensors. Every mismatch is listed, not only the first.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engine.io import atomic_write_bytes, read_regular_bytes
from engine.safe_json import JSONInputError, loads

__all__ = [
    "WeightsError",
    "match_weights",
    "read_weights",
    "safetensors_bytes",
    "write_safetensors",
]

#: What a weights file may weigh (VGG-16 in float32 is 528 MiB).
MAX_WEIGHTS_BYTES = 4 * 2**30
_SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}  # fmt: skip
_STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
             "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
             "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?"}  # fmt: skip
#: Buffers PyTorch keeps that the engine has no use for.
_IGNORED = ("num_batches_tracked",)


class WeightsError(ValueError):
    """A weights file that cannot be read or does not fit the spec; the message names the
    file and lists every mismatch."""


# --------------------------------------------------------------------------- reading


def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file or a ``torch.save`` zip (.pt, .pth, .bin), by
    name, in the file's order. Raises :class:`WeightsError` naming the file."""
    p = Path(path)
    try:
        data = read_regular_bytes(p, MAX_WEIGHTS_BYTES)
    except OSError as e:
        raise WeightsError(f"{p}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
    try:
        if data[:2] == b"PK":
            return _read_torch_zip(data)
        return _read_safetensors(data)
    except WeightsError as e:
        raise WeightsError(f"{p}: {e}") from None
    except (ValueError, KeyError, struct.error, zipfile.BadZipFile, pickle.UnpicklingError,
            EOFError, TypeError, IndexError, OverflowError, AttributeError,
            RecursionError) as e:  # fmt: skip
        raise WeightsError(f"{p}: not a safetensors or torch.save file ({e})") from None


def _read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    if len(data) < 8:
        raise WeightsError("too short to be a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise WeightsError(f"its header claims {size} bytes; the file has {len(data) - 8}")
    try:  # depth, size and digit limits: a header is a flat table of names
        header = loads(bytes(data[8 : 8 + size]))
    except JSONInputError as e:
        raise WeightsError(f"its header is not valid JSON ({e.reason})") from None
    if not isinstance(header, dict):
        raise WeightsError("its header is not a JSON object of tensors")
    body = memoryview(data)[8 + size :]
    out = {}
    # Its writer sorts the names ("features.10" before "features.2"): natural order instead.
    for name, info in sorted(header.items(), key=lambda kv: _natural(kv[0])):
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise WeightsError(f"tensor {name!r}: its entry is not an object")
        dtype = _SAFETENSORS_DTYPES.get(str(info.get("dtype")))
        if dtype is None:
            raise WeightsError(f"tensor {name!r}: dtype {info.get('dtype')} is not supported")
        offsets, shape = info.get("data_offsets"), info.get("shape")
        if not (_ints(offsets) and len(offsets) == 2 and _ints(shape)):
            raise WeightsError(f"tensor {name!r}: its shape and data_offsets must be lists of "
                               "non-negative integers")  # fmt: skip
        start, end = offsets
        shape = tuple(shape)
        count = math.prod(shape)
        if not 0 <= start <= end <= len(body) or end - start != count * np.dtype(dtype).itemsize:
            raise WeightsError(f"tensor {name!r}: its offsets do not fit the file")
        out[name] = np.frombuffer(body[start:end], dtype).reshape(shape).copy()
    return out


# --------------------------------------------------------------------------- writing

_DTYPE_NAMES = {np.dtype(v).newbyteorder("<"): k for k, v in _SAFETENSORS_DTYPES.items()}


def safetensors_bytes(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """The safetensors file of ``tensors`` (name -> array of a dtype safetensors knows: float
    16/32/64, int 8-64, uint8, bool), in their order, with ``metadata`` (str -> str) as its
    ``__metadata__``. The layout, as safetensors publishes it: an unsigned 64-bit
    little-endian header length, the JSON header (``{name: {"dtype", "shape",
    "data_offsets": [begin, end]}}``, padded with spaces to a multiple of 8 bytes) and the
    tensors' little-endian bytes, back to back. Raises ValueError naming a tensor of another
    dtype or a metadata value that is not a string."""
    header: dict[str, object] = {}
    if metadata:
        bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ValueError(f"safetensors metadata {bad[0]!r}: keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name, value in tensors.items():
        array = np.asarray(value)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder != "|" else array.dtype
        kind = _DTYPE_NAMES.get(dtype)
        if kind is None or name == "__metadata__":
            what = "a reserved name" if kind else f"dtype {array.dtype} has no safetensors type"
            raise ValueError(f"tensor {name!r}: {what}")
        data = np.ascontiguousarray(array, dtype).tobytes()
        header[name] = {"dtype": kind, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    return b"".join([struct.pack("<Q", len(text)), text, *chunks])


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Write :func:`safetensors_bytes` to ``path`` atomically; returns its size in bytes.
    Raises ValueError (see there) or OSError when the disk refuses."""
    data = safetensors_bytes(tensors, metadata)
    atomic_write_bytes(path, data)
    return len(data)


class _Storage:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _StateDict(dict):
    """OrderedDict's stand-in; it may carry ``_metadata`` (PyTorch's version numbers)."""


def _ints(values) -> bool:
    """A list (or tuple) of non-negative integers (booleans are not)."""
    return isinstance(values, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    )


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """The tensor's values as a new array. Only what a saved parameter can be: non-negative
    sizes and strides inside its storage, with no more values than the storage holds (a
    zero stride would blow 16 bytes up to terabytes; a negative one would read memory
    before the storage)."""
    itemsize = storage.itemsize
    if not (_ints([offset]) and _ints(size) and _ints(stride) and len(size) == len(stride)):
        raise WeightsError(f"a tensor of size {size}, stride {stride} and offset {offset} is "
                           "not a saved parameter (negative or missing numbers)")  # fmt: skip
    if not size:
        if offset >= storage.size:
            raise WeightsError("a tensor reaches past its storage")
        return np.array(storage[offset])  # a 0-d tensor (num_batches_tracked)
    count = math.prod(size)
    if count == 0:
        return np.zeros(tuple(size), storage.dtype)
    span = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1
    if span > storage.size or count > storage.size:
        raise WeightsError(f"a tensor of size {tuple(size)} reaches past its storage of "
                           f"{storage.size} values")  # fmt: skip
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(st * itemsize for st in stride)
    )
    return np.array(view)


class _SafeUnpickler(pickle.Unpickler):
    """Knows the names of a tensor dictionary and nothing else."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive, self._prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return _StateDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),
                              ("torch._utils", "_rebuild_tensor")):  # fmt: skip
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        raise WeightsError(
            f"its pickle asks for {module}.{name}; only tensors are read from a torch.save "
            "file (never code): save the state_dict, or use safetensors"
        )

    def persistent_load(self, pid):
        kind, storage, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage, _Storage):
            raise WeightsError(f"unexpected persistent id {kind!r}")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        return np.frombuffer(raw, storage.dtype)


def _read_torch_zip(data: bytes) -> dict[str, np.ndarray]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_WEIGHTS_BYTES:  # a deflated member may unpack to far more than the file
        raise WeightsError(f"its members unpack to {unpacked} bytes, more than the "
                           f"{MAX_WEIGHTS_BYTES} a weights file may hold")  # fmt: skip
    pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
    if len(pkl) != 1:
        raise WeightsError("a torch.save zip holds exactly one data.pkl")
    prefix = pkl[0][: -len("data.pkl")]
    obj = _SafeUnpickler(archive.read(pkl[0]), archive, prefix).load()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # a training checkpoint that wraps it
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise WeightsError("it does not hold a state_dict (a dictionary of tensors)")
    return dict(obj)


# --------------------------------------------------------------------------- matching


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _groups(state: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Tensors by module ("features.0" -> {"weight": ..., "bias": ...}), in order."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf not in _IGNORED:
            out.setdefault(module, {})[leaf] = value
    return out


def _signature(group: dict[str, np.ndarray]):
    return tuple(sorted((k, tuple(v.shape)) for k, v in group.items()))


def _text(module: str, group: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{module}.{k} {tuple(v.shape)}" for k, v in group.items())


def match_weights(spec, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``weights`` under our names for ``spec``, float32. By name when the file uses ours;
    otherwise each of our layers with parameters, in order, takes the first module of the
    file not taken yet whose tensors have the same names and shapes (modules in the file's
    order: a PyTorch module lists its layers in the order they run; safetensors files, whose
    writer sorts the names, in natural order). Raises :class:`WeightsError` listing every
    layer that finds no fit and every module of the file left over."""
    import engine

    ours = engine.build(spec, seed=0).state_dict()
    theirs = {k: v for k, v in weights.items() if k.rpartition(".")[2] not in _IGNORED}
    if set(theirs) == set(ours):
        bad = [f"{k} is {tuple(ours[k].shape)} but the file's is {tuple(theirs[k].shape)}"
               for k in ours if ours[k].shape != theirs[k].shape]  # fmt: skip
        if bad:
            raise WeightsError(f"{len(bad)} mismatches with the spec: " + "; ".join(bad))
        return {k: np.ascontiguousarray(theirs[k], np.float32) for k in ours}
    mine, available = _groups(ours), _groups(theirs)
    ids = spec.wiring.ids
    out: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for position, group in mine.items():
        want = _signature(group)
        found = next((m for m, g in available.items() if _signature(g) == want), None)
        if found is not None:
            for leaf, value in available.pop(found).items():
                out[f"{position}.{leaf}"] = np.ascontiguousarray(value, np.float32)
            continue
        layer = spec.layers[int(position)]
        line = (
            f"layer {position} ({ids[int(position)]}, {layer.type}) needs {_text(position, group)}"
        )
        near = next((m for m, g in available.items() if set(g) == set(group)), None)
        if near is not None:
            line += f"; the next such module in the file has {_text(near, available.pop(near))}"
        problems.append(line)
    problems += [f"{_text(m, g)} fits no layer of the spec" for m, g in available.items()]
    if problems:
        raise WeightsError(
            f"{len(problems)} mismatch{'es' if len(problems) > 1 else ''} with the spec: "
            + "; ".join(problems)
        )
    return out
