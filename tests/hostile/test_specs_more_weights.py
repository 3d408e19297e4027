"""Hostile PyTorch weight files (safetensors, torch.save zips) through `cnn-workbench import
--spec`: each ends in one line naming the file, within bounded memory, and a tensor can
never read memory outside its storage or inflate a few bytes into terabytes."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
from hostile_tools import assert_refused

from engine.interop.torch_weights import WeightsError, read_weights


def _safetensors(header: bytes | object, body: bytes = b"") -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def _text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _ints(values) -> bytes:
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def _torch_zip(size, stride, offset=0, values=4) -> bytes:
    """A torch.save zip of {"w": tensor(size, stride, offset)} over a float storage of
    ``values`` values, written opcode by opcode (what torch.save writes, minus torch)."""
    pkl = b"".join([
        b"\x80\x02", _global("collections", "OrderedDict"), b")R", _text("w"),
        _global("torch._utils", "_rebuild_tensor_v2"), b"(",
        b"(", _text("storage"), _global("torch", "FloatStorage"), _text("0"), _text("cpu"),
        b"J" + struct.pack("<i", values), b"tQ",
        b"J" + struct.pack("<i", offset), _ints(size), _ints(stride), b"\x89",
        _global("collections", "OrderedDict"), b")R", b"tR", b"s.",
    ])  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", np.arange(values, dtype=np.float32).tobytes())
    return buf.getvalue()


def _bomb() -> bytes:
    """8 MiB of zeros deflated to a few kilobytes (the test lowers the limit to 1 MiB: the
    same as a few kilobytes that unpack past the real 4 GiB limit)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}.")
        z.writestr("archive/data/0", bytes(8 << 20))
    return buf.getvalue()


CASES = [
    ("deep-header", lambda: _safetensors(b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
    ("list-header", lambda: _safetensors([1, 2]), "not a JSON object"),
    ("infinite-offset", lambda: _safetensors(
        b'{"0.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, Infinity]}}',
        b"\0" * 4), "non-negative integers"),
    ("float-shape", lambda: _safetensors(
        {"0.weight": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, b"\0" * 4),
     "non-negative integers"),
    ("negative-stride", lambda: _torch_zip((2,), (-100_000,)), "not a saved parameter"),
    ("zero-stride-terabytes", lambda: _torch_zip((1_000_000, 1_000_000), (0, 0)),
     "reaches past its storage of 4 values"),
    ("negative-offset", lambda: _torch_zip((2,), (1,), offset=-3), "not a saved parameter"),
    ("zip-bomb", _bomb, "unpack to"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_weights_file_is_one_line(tmp_path, cli, monkeypatch, name, make, words):
    monkeypatch.setattr("engine.interop.torch_weights.MAX_WEIGHTS_BYTES", 1 << 20)
    suffix = ".pt" if name in ("negative-stride", "zero-stride-terabytes", "negative-offset",
                               "zip-bomb") else ".safetensors"  # fmt: skip
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(make())
    out = tmp_path / "run"
    line = assert_refused(cli("import", path, "--spec", "lenet5", "--out", out), str(path))
    assert words in line
    assert not out.exists()


def test_a_tensor_inside_its_storage_is_still_read(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(_torch_zip((2, 2), (1, 2), offset=0))  # a transposed view
    np.testing.assert_array_equal(read_weights(path)["w"], [[0.0, 2.0], [1.0, 3.0]])
    path.write_bytes(_torch_zip((2,), (2,), offset=1, values=4))
    np.testing.assert_array_equal(read_weights(path)["w"], [1.0, 3.0])
    path.write_bytes(_torch_zip((2,), (3,), offset=2, values=4))  # 2 + 3 = 5 is past 4 values
    with pytest.raises(WeightsError, match="reaches past its storage"):
        read_weights(path)
