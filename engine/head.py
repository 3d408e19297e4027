"""Does the network's head fit the data? The final dense layer needs one unit per class.

One home for the check that the CLI's ``train`` and the GUI both make: a 10-class preset on
a 3-class folder is a problem on the final layer with the one fix "units 3 (the data has 3
classes)", found as soon as both are known rather than when training starts.
"""

from __future__ import annotations

from dataclasses import replace

from engine.fixes import Fix
from engine.shape_report import Problem, ShapeReport
from engine.spec import NetworkSpec

__all__ = ["HEAD_MISMATCH", "adapt_head", "final_dense", "head_mismatch", "with_head_problem"]

#: ``Problem.kind`` of a head that does not match the data's classes.
HEAD_MISMATCH = "head_mismatch"


def final_dense(spec: NetworkSpec) -> int | None:
    """Index of the layer whose units are the class scores: the last layer when it is dense
    (a network that ends otherwise has its own problem, "no_final_dense"), else None."""
    if spec.layers and spec.layers[-1].type == "dense":
        return len(spec.layers) - 1
    return None


def _name(spec: NetworkSpec, index: int) -> str:
    dense = sum(1 for layer in spec.layers[: index + 1] if layer.type == "dense")
    return f"dense{dense}"


def head_mismatch(spec: NetworkSpec, classes: int | None) -> Problem | None:
    """The problem on the final dense layer when its units differ from ``classes`` (None when
    they agree, when the class count is not known yet, or when there is no final dense)."""
    index = final_dense(spec)
    if index is None or not classes:
        return None
    units = int(spec.layers[index]["units"])
    if units == classes:
        return None
    fix = Fix(f"units {classes} (the data has {classes} classes)", "field", index, "units", classes)
    return Problem(
        index,
        f"{_name(spec, index)} (layer {index + 1}): the network ends in {units} outputs but the "
        f"data has {classes} classes; the final dense layer needs one unit per class",
        (fix,),
        HEAD_MISMATCH,
    )


def adapt_head(spec: NetworkSpec, classes: int | None) -> tuple[NetworkSpec, str | None]:
    """``spec`` with its final dense layer set to ``classes`` units, and one line saying what
    changed (None, and ``spec`` itself, when nothing needed to)."""
    problem = head_mismatch(spec, classes)
    if problem is None:
        return spec, None
    units = spec.layers[problem.layer]["units"]
    adapted = problem.fixes[0].apply(spec)
    return adapted, (
        f"{_name(spec, problem.layer)}: units {units} -> {classes} to match the data's "
        f"{classes} classes"
    )


def with_head_problem(report: ShapeReport, spec: NetworkSpec, classes: int | None) -> ShapeReport:
    """``report`` (engine.shapes' for ``spec``) with the head mismatch, if any, added to the
    final layer's row, so every view of the report shows it where the layer is."""
    problem = head_mismatch(spec, classes)
    if problem is None or problem.layer is None or problem.layer >= len(report.rows):
        return report
    rows = list(report.rows)
    row = rows[problem.layer]
    rows[problem.layer] = replace(row, problems=(*row.problems, problem))
    return replace(report, rows=tuple(rows))
