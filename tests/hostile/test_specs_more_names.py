"""Hostile names in a spec file: layer ids spelled like the exported tensors ("0.weight",
"image", "logits") still export to a valid ONNX model with the engine's logits, and text
that no UTF-8 file can hold (JSON's lone "\\ud800" escape) is refused at once by name
instead of failing in every later write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hostile_tools import assert_refused

onnx = pytest.importorskip("onnx", reason="pip install -e '.[test]' brings onnx")
ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[test]' brings onnxruntime")

from engine.network import build  # noqa: E402
from engine.spec import load_spec  # noqa: E402


def _graph(ids, name="n"):
    a, b, c, d, e = ids
    layers = [
        {"type": "conv2d", "id": a, "filters": 2, "kernel": 3, "padding": 1},
        {"type": "relu", "id": b, "inputs": [a]},
        {"type": "add", "id": c, "inputs": [a, b]},
        {"type": "flatten", "id": d, "inputs": [c]},
        {"type": "dense", "id": e, "units": 3},
    ]
    return {"format": "cnn-workbench/network", "version": 2, "name": name,
            "input": {"channels": 1, "height": 4, "width": 4}, "layers": layers}  # fmt: skip


@pytest.mark.parametrize(
    "ids",
    [["1.weight", "0.weight", "0.bias", "4.bias", "4.weight"],
     ["image", "logits", "probabilities", "0.weight", "x"],
     ["a", "a/shape", "relu_1", "conv2d_0", "e"]],
    ids=["initializer-names", "io-names", "helper-and-generated-names"],
)  # fmt: skip
def test_ids_named_like_tensors_export_to_a_valid_model(tmp_path, cli, ids):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(_graph(ids)))
    out = tmp_path / "m.onnx"
    result = cli("export", spec_path, "--out", out, megabytes=None)
    assert result.code == 0, result.err
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = session.run(["logits"], {"image": x})[0]
    ours = build(load_spec(spec_path), seed=0).forward(x)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("where", "path"),
    [("name", "name"), ("description", "description"), ("id", "layers[0].id"),
     ("input", "layers[1].inputs[0]")],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_by_its_path(tmp_path, cli, where, path):
    d = _graph(["a", "b", "c", "d", "e"])
    if where in ("name", "description"):
        d[where] = "net \ud800"
    elif where == "id":
        d["layers"][0]["id"] = "a\ud800"
        d["layers"][1]["inputs"] = ["a\ud800"]
        d["layers"][2]["inputs"] = ["a\ud800", "b"]
    else:
        d["layers"][1]["inputs"] = ["a\udfff"]
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(d))  # json writes the escape: a valid JSON file
    result = cli("summary", spec_path)
    lines = [line for line in result.lines() if "surrogate" in line]
    assert result.code in (1, 2) and "Traceback" not in result.err
    assert lines and f"{spec_path}: {path}: holds an unpaired surrogate" in lines[0]
    if where == "input":
        assert_refused(result, str(spec_path), "\\udfff")
