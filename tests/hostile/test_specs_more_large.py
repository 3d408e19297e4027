"""Huge hostile graphs: a spec file of tens of thousands of layers, each wrongly wired, or a
thousand layers after a flatten, is read and inferred in a bounded time (it was quadratic
to cubic: minutes to hours), and the refusal lists a bounded number of lines."""

from __future__ import annotations

import json

from hostile_tools import assert_refused, bounded

from engine.shapes import infer_shapes
from engine.spec import MAX_PROBLEMS, NetworkSpec, SpecError

INPUT = {"channels": 1, "height": 8, "width": 8}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": 2}]


def _doc(layers):
    return {"format": "cnn-workbench/network", "version": 2, "input": INPUT, "layers": layers}


def test_thirty_thousand_unknown_ids_are_listed_within_bounds(tmp_path, cli):
    layers = [{"type": "relu", "inputs": ["nope"]}] * 30_000 + HEAD
    path = tmp_path / "wide.json"
    path.write_text(json.dumps(_doc(layers)))
    result = cli("summary", path, seconds=20, megabytes=None)
    assert result.code in (1, 2) and "Traceback" not in result.err
    lines = result.lines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert 'layers[0].inputs[0]: unknown id "nope"' in lines[0]
    # 30,000 unknown ids (the outputs nobody reads are not counted again: each may be the
    # layer a typo'd id meant)
    assert lines[-1].endswith(f"{path}: ... and {30_000 - MAX_PROBLEMS} more problems")
    with bounded(20, megabytes=None):
        spec = NetworkSpec.from_dict(_doc(layers), wiring="lenient")
        report = infer_shapes(spec)
    assert len(report.problems) == 30_000


def test_a_thousand_convolutions_after_a_flatten_are_each_reported_quickly():
    layers = [{"type": "flatten"}] + [{"type": "conv2d", "filters": 1, "kernel": 1}] * 1000
    spec = NetworkSpec.from_dict(_doc([*layers, {"type": "dense", "units": 2}]))
    with bounded(20, megabytes=None):
        report = infer_shapes(spec)
    flat = [p for p in report.problems if p.kind == "needs_feature_maps"]
    assert len(flat) == 1000
    assert all(p.message.endswith("a flat vector after flatten #1") for p in flat)
    # the first ones still offer checked fixes; every fix offered holds
    assert flat[0].fixes
    for problem in flat[:3]:
        for fix in problem.fixes:
            assert len(infer_shapes(fix.apply(spec)).problems) <= len(report.problems)


def test_a_spec_error_of_many_problems_is_bounded_but_says_how_many():
    layers = [{"type": "conv2d", "filters": 0, "kernel": 3}] * 500
    try:
        NetworkSpec.from_dict(_doc(layers), source="big.json")
    except SpecError as e:
        assert len(e.problems) == MAX_PROBLEMS + 1
        assert e.problems[0] == "big.json: layers[0].filters: must be a positive integer, got 0"
        assert e.problems[-1] == f"big.json: ... and {500 - MAX_PROBLEMS} more problems"
    else:
        raise AssertionError("500 bad layers were accepted")


def test_one_line_for_a_single_hostile_field_still(tmp_path, cli):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_doc([{"type": "relu", "inputs": ["nope"]}, *HEAD])))
    assert "unknown id" in assert_refused(cli("summary", path), str(path))
