"""Hostile, half-drawn graphs against the one-click fixes: every fix shape inference offers
must clear its problem without adding another, removals included (removing a layer with
several inputs hands its consumer all of them)."""

from __future__ import annotations

import pytest

from engine.fixes import Fix
from engine.shapes import infer_shapes
from engine.spec import NetworkSpec, SpecError, load_spec


def _spec(layers, **top):
    d = {"format": "cnn-workbench/network", "version": 2,
         "input": {"channels": 1, "height": 8, "width": 8}, "layers": layers, **top}  # fmt: skip
    return NetworkSpec.from_dict(d, wiring="lenient")


def _assert_every_fix_holds(spec):
    report = infer_shapes(spec)
    assert report.problems
    for problem in report.problems:
        for fix in problem.fixes:
            mended = infer_shapes(fix.apply(spec))
            assert len(mended.problems) <= len(report.problems), (
                f"{fix.label!r} offered for {problem.message!r} adds problems: "
                f"{[p.message for p in mended.problems]}"
            )
    return report


# A concat of a flat vector and feature maps (it needs maps) read by two one-input convs:
# removing the concat would give each conv both of its inputs (two new problems for one).
CONCAT_OF_FLAT = [
    {"type": "conv2d", "id": "a", "filters": 2, "kernel": 3, "padding": 1},
    {"type": "flatten", "id": "f", "inputs": ["a"]},
    {"type": "concat", "id": "c", "inputs": ["f", "a"]},
    {"type": "conv2d", "id": "d", "filters": 2, "kernel": 3, "padding": 1},
    {"type": "conv2d", "id": "e", "inputs": ["c"], "filters": 2, "kernel": 3, "padding": 1},
    {"type": "add", "inputs": ["d", "e"]},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
]


def test_a_removal_that_would_overload_the_next_layers_is_not_offered():
    report = _assert_every_fix_holds(_spec(CONCAT_OF_FLAT))
    concat = report.rows[2]
    assert [p.kind for p in concat.problems] == ["needs_feature_maps"], "still reported"
    assert all(f.action != "remove" for p in concat.problems for f in p.fixes)
    # the convs after it keep theirs: moving or removing one of them holds
    assert {f.label for p in report.rows[3].problems for f in p.fixes} == {
        "move it before flatten #2", "remove conv2d #4"}  # fmt: skip


def test_a_removal_that_holds_is_still_offered():
    # conv after flatten in a chain: "remove conv2d #3" clears it.
    spec = _spec([
        {"type": "conv2d", "filters": 2, "kernel": 3},
        {"type": "flatten"},
        {"type": "conv2d", "filters": 2, "kernel": 3},
        {"type": "dense", "units": 3},
    ])  # fmt: skip
    report = _assert_every_fix_holds(spec)
    labels = [f.label for p in report.rows[2].problems for f in p.fixes]
    assert "remove conv2d #3" in labels
    # And a dangling single layer keeps its removal.
    dangling = _spec([
        {"type": "conv2d", "id": "a", "filters": 2, "kernel": 3, "padding": 1},
        {"type": "relu", "id": "r", "inputs": ["a"]},
        {"type": "flatten", "inputs": ["a"]},
        {"type": "dense", "units": 3},
    ])  # fmt: skip
    report = _assert_every_fix_holds(dangling)
    assert [f.label for p in report.rows[1].problems for f in p.fixes] == ["remove relu #2"]


@pytest.mark.parametrize(
    "fix",
    [Fix("kernel 3", "field", 99, "kernel", 3), Fix("remove", "remove", 12),
     Fix("remove", "remove", -1), Fix("move", "move", 0, value=12),
     Fix("insert", "insert", 13, value=()), Fix("kernel", "field", None, "kernel", 3)],
    ids=["field", "remove-past-the-end", "remove-negative", "move", "insert", "no-layer"],
)  # fmt: skip
def test_a_fix_made_for_another_network_is_refused_not_misapplied(fix):
    spec = load_spec("lenet5")  # 12 layers
    with pytest.raises(SpecError, match="the fix was made for another version of it"):
        fix.apply(spec)
