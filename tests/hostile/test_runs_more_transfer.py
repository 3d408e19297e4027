"""--init-from sources a user mistakes for weights. An .onnx model used to get "not a
checkpoint ... (a weights file must end in .safetensors, .pt, ...)", which says what it is
not; the line now names the command that makes it a usable folder."""

from __future__ import annotations

from hostile_tools import assert_refused, write_spec
from runs_more_tools import start_in


def test_an_onnx_model_as_init_from_names_the_import_command(tmp_path, monkeypatch, cli):
    start_in(tmp_path, monkeypatch, per_class=3)
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
