"""--init-from sources a user mistakes for weights. An .onnx model used to get "not a
checkpoint ... (a weights file must end in .safetensors, .pt, ...)", which says what it is
not; the line now names the command that makes it a usable folder."""

from __future__ import annotations

import numpy as np
from hostile_tools import assert_refused, write_spec
from PIL import Image


def test_an_onnx_model_as_init_from_names_the_import_command(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "data" / name / f"{i}.png")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")  # any bytes: the suffix decides
    result = cli(
        "train",
        write_spec(tmp_path / "net.json"),
        "--data",
        "data",
        "--epochs",
        "1",
        "--init-from",
        "model.onnx",
        "--out",
        "run",
        seconds=60,
        megabytes=None,
    )
    assert_refused(result, "model.onnx", "cnn-workbench import model.onnx --out DIR")
    assert not (tmp_path / "run").exists()
