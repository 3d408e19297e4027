"""`cnn-workbench summary`, run in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from engine.commands.main import main
from engine.spec import load_spec


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["summary", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table(capsys):
    code, out, err = run(capsys, "lenet5")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == 'Network "LeNet-5", input 1×32×32'
    assert lines[2].split() == [
        "Layer",
        "Output",
        "shape",
        "Params",
        "Mult-adds",
        "Memory",
        "Problem",
    ]
    conv = next(line for line in lines if line.startswith("conv2d #1"))
    assert conv.split()[:4] == ["conv2d", "#1", "6×28×28", "156"]
    assert "117,600" in conv
    assert "Parameters: 61,706 trainable" in out
    assert "per image; batch of 32:" in out
    assert out.rstrip().endswith("No problems.")


def test_json(capsys):
    code, out, _ = run(capsys, "alexnet", "--json", "--batch", "8")
    assert code == 0
    data = json.loads(out)
    assert data["total_params"] == 62_378_344
    assert [layer["output_shape"] for layer in data["layers"][:3]] == [
        [96, 55, 55],
        [96, 55, 55],
        [96, 27, 27],
    ]
    first = data["layers"][0]
    assert {"type", "output_shape", "params", "macs", "memory", "problems"} <= set(first)
    assert first["params"] == 34_944 and first["problems"] == []
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["batch"] == 8
    assert data["batch_memory"] == 8 * data["total_memory"] + data["param_memory"]
    assert data["problems"] == [] and data["ok"] is True


def test_problems_exit_1_after_printing_all_of_them(capsys):
    code, out, _ = run(capsys, "alexnet", "--input", "3x224x224")
    assert code == 1
    assert "4 problems:" in out
    assert "54.25 is not a whole number; input 227 (→ 55)" in out
    assert out.count("is not a whole number") == 4
    conv = next(line for line in out.splitlines() if line.startswith("conv2d #1"))
    assert conv.endswith("not whole")


def test_problems_in_json_too(capsys):
    code, out, _ = run(capsys, "alexnet", "--input", "3×224×224", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert data["layers"][0]["problems"][0].startswith("conv2d #1: (224 − 11 + 2·0)/4 + 1 = 54.25")
    assert data["problems"][0]["fixes"] == [
        "input 227 (→ 55)",
        "kernel 12 (→ 54)",
        "round down like PyTorch",
    ]
    assert data["problems"][0]["layer"] == 0


def test_a_spec_file(capsys, tmp_path):
    path = tmp_path / "net.json"
    load_spec("mnist-2conv").save(path)
    code, out, _ = run(capsys, str(path))
    assert code == 0 and "3136" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nowhere/net.json"], "cnn-workbench summary: nowhere/net.json: no such file\n"),
        (
            ["lenet5", "--input", "3x224"],
            "cnn-workbench summary: --input: expected CxHxW such as 3x224x224, got '3x224'\n",
        ),
        (
            ["lenet5", "--batch", "0"],
            "cnn-workbench summary: --batch: expected a positive integer, got '0'\n",
        ),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err == message


def test_an_input_out_of_range(capsys):
    code, _, err = run(capsys, "lenet5", "--input", "1x0x28")
    assert code == 2
    assert err.count("\n") == 1 and "input.height" in err and "Traceback" not in err


def test_an_invalid_spec_file_lists_its_problems(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "dense"}]}
        )
    )
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"cnn-workbench summary: {path}: layers[0].units: missing")
    assert err.count("\n") == 1


def test_a_graph_summary_shows_where_each_layer_reads_from_and_its_notes(capsys):
    code, out, _ = run(capsys, "resnet20")
    assert code == 0
    assert "Inputs" in out.splitlines()[2]
    add_line = next(line for line in out.splitlines() if line.startswith("add #9 "))
    assert "#8 + #3" in add_line
    assert "Notes:" in out and "16.5 is rounded down" in out
    code, out, _ = run(capsys, "resnet20", "--json")
    data = json.loads(out)
    assert data["layers"][8]["inputs"] == [7, 2]
    assert data["peak_memory"] < data["total_memory"]


def test_a_file_name_the_terminal_cannot_encode_is_escaped_not_a_traceback(tmp_path):
    # LANG=C or a redirected Windows console: stdout is ASCII; a skipped file's name (here
    # "é.png", not an image) is printed with backslash escapes and the command still ends.

    for name in ("cats", "dogs"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    (tmp_path / "cats" / "\u00e9.png").write_bytes(b"not an image")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    out = subprocess.run([sys.executable, "-m", "engine.commands.main", "data", str(tmp_path)],
                         capture_output=True, env=env, timeout=120)  # fmt: skip
    text = out.stdout.decode("ascii") + out.stderr.decode("ascii")
    assert "UnicodeEncodeError" not in text and "Traceback" not in text, text
    assert "\\xe9.png" in text, text
