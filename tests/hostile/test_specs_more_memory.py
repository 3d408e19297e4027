"""A valid spec whose parameters no machine holds (65,536 filters of 64×64 before a
million-unit dense layer: 247 GiB) is refused by `export` in one line, before a byte of
them is allocated, in either format."""

from __future__ import annotations

import json

import pytest
from hostile_tools import assert_refused

HUGE = {
    "format": "cnn-workbench/network", "version": 1,
    "input": {"channels": 3, "height": 64, "width": 64},
    "layers": [{"type": "conv2d", "filters": 65536, "kernel": 64}, {"type": "flatten"},
               {"type": "dense", "units": 1_000_000}],
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["onnx", "pytorch"])
def test_export_of_parameters_no_machine_holds_is_one_line(tmp_path, cli, fmt):
    pytest.importorskip("onnx" if fmt == "onnx" else "torch")
    spec = tmp_path / "huge.json"
    spec.write_text(json.dumps(HUGE))
    out = tmp_path / ("m.onnx" if fmt == "onnx" else "project")
    line = assert_refused(cli("export", spec, "--format", fmt, "--out", out), str(spec))
    assert "its network needs 247.1 GiB of parameters; this machine has" in line
    assert not out.exists()
