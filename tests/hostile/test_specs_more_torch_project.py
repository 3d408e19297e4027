"""A hostile spec file exported as a PyTorch project: its name, description and layer ids go
into model.py and train.py (model.py is even executed by the export, to check it), so a
\"\"\" or a newline in them must never become code. Every such spec exports, runs nothing,
and gives files that compile and carry the text as written."""

from __future__ import annotations

import ast
import json

import pytest

pytest.importorskip("torch", reason="pip install -e '.[test]' brings torch")

from engine.interop.source_text import inert
from engine.spec import load_spec


def _payload(marker) -> str:
    return f'__import__("pathlib").Path({marker.name!r}).touch()'


def _named(tmp_path, marker, **top):
    d = load_spec("lenet5").to_dict()
    d.update(top)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    return path


def _with_id(tmp_path, new_id):
    d = load_spec("resnet20").to_dict()
    first = next(layer for layer in d["layers"] if "id" in layer)
    old = first["id"]
    first["id"] = new_id
    for layer in d["layers"]:
        if "inputs" in layer:
            layer["inputs"] = [new_id if r == old else r for r in layer["inputs"]]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    return path


NAMES = {
    "docstring-break": lambda m: f'a""";{_payload(m)};"""',
    "newline-and-quotes": lambda m: f'x"""\n{_payload(m)}\n"""',
    "trailing-backslash": lambda m: "ends in a backslash \\",
    "named-escape": lambda m: "bad \\N escape",
    "nul": lambda m: "nul \x00 byte",
    "placeholder": lambda m: "@CONFIG@ @CLASS_NAMES@",
}
IDS = {
    "newline": lambda m: f"c\n        {_payload(m)}\n#",
    "carriage-return": lambda m: f"c\r        {_payload(m)}\r#",
    "superscript": lambda m: "²",
    "line-separator": lambda m: "a\u2028b",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the payloads touch "ran" here


def _export(cli, spec, out):
    result = cli("export", spec, "--format", "pytorch", "--out", out, megabytes=None)
    assert result.code == 0, result.err
    texts = {f: (out / f).read_text() for f in ("model.py", "train.py")}
    for f, text in texts.items():
        ast.parse(text, f)  # compiles
    return texts


@pytest.mark.parametrize("where", ["name", "description"])
@pytest.mark.parametrize("case", list(NAMES))
def test_a_hostile_name_never_runs(tmp_path, cli, where, case):
    marker = tmp_path / "ran"
    text = NAMES[case](marker)
    texts = _export(cli, _named(tmp_path, marker, **{where: text}), tmp_path / "project")
    assert not marker.exists(), "the spec's text ran as code"
    scope: dict = {"__name__": "model"}
    exec(compile(texts["model.py"], "model.py", "exec"), scope)  # our export's own output
    assert not marker.exists()
    doc = " ".join(scope["__doc__"].split())
    assert " ".join(text.split()) in doc  # the text as written (its spaces as textwrap's)
    if where == "name" and case == "placeholder":
        assert '"""Train @CONFIG@ @CLASS_NAMES@ with PyTorch' in texts["train.py"]


@pytest.mark.parametrize("case", list(IDS))
def test_a_hostile_layer_id_never_runs(tmp_path, cli, case):
    marker = tmp_path / "ran"
    texts = _export(cli, _with_id(tmp_path, IDS[case](marker)), tmp_path / "project")
    assert not marker.exists()
    exec(compile(texts["model.py"], "model.py", "exec"), {"__name__": "model"})
    assert not marker.exists()


def test_inert_text_keeps_plain_text_and_escapes_the_rest():
    assert inert("conv 3×3 ü") == "conv 3×3 ü"
    assert inert("a\nb\x00c") == "a\\nb\\x00c"
    assert inert('say """hi""" \\', docstring=True) == 'say \\"\\"\\"hi\\"\\"\\" \\\\'
