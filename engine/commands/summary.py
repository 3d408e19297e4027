"""`cnn-workbench summary SPEC`: the layer table of a network, in the manner of Keras' summary.

Exit status: 0 when the network is sound, 1 when it has shape problems (all printed first),
2 when SPEC or an option cannot be used (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from engine.memory_budget import network_memory_warning
from engine.shapes import LayerRow, ShapeReport, infer_shapes
from engine.spec import NetworkSpec, SpecError, load_spec

_PROG = "cnn-workbench summary"
_SHAPE = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*[x×,]\s*(\d+)\s*$", re.IGNORECASE)
_PROBLEM_WORDS = {
    "not_whole": "not whole",
    "window_too_large": "window too large",
    "even_same": "even kernel, same",
    "missing_flatten": "needs flatten",
    "flatten_of_flat": "already flat",
    "needs_feature_maps": "needs feature maps",
    "bad_fields": "unreadable",
    "pool_padding": "padding over half the window",
    "add_mismatch": "shapes differ",
    "concat_mismatch": "sizes differ",
    "unknown_input": "unknown input",
    "cycle": "later input",
    "duplicate_id": "duplicate id",
    "bad_id": "reserved id",
    "repeated_input": "input twice",
    "too_few_inputs": "too few inputs",
    "too_many_inputs": "too many inputs",
    "dangling": "output unused",
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "summary",
        help="print every layer's output shape, parameters, multiply-adds and memory",
        description="Print a network's layers with output shapes, parameters, multiply-adds "
        "and activation memory, and every shape problem with the changes that fix it.",
        epilog="Exit status: 0 sound, 1 shape problems (all listed), 2 unusable SPEC or option.",
    )
    p.add_argument("spec", metavar="SPEC", help="a spec or project file, or a preset name")
    p.add_argument("--input", metavar="CxHxW", help="override the input shape, e.g. 3x224x224")
    p.add_argument(
        "--batch", metavar="N", default="32", help="batch size for the memory total (default 32)"
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"{_PROG}: {message}", file=sys.stderr)
    return 2


def parse_shape(text: str) -> tuple[int, int, int]:
    """ "3x224x224" (or 3×224×224, 3,224,224) as (C, H, W); ValueError if malformed."""
    m = _SHAPE.match(text)
    if not m:
        raise ValueError(f"--input: expected CxHxW such as 3x224x224, got {text!r}")
    c, h, w = (int(g) for g in m.groups())
    return c, h, w


def run(args: argparse.Namespace) -> int:
    try:
        batch = int(args.batch)
        if batch < 1:
            raise ValueError
    except ValueError:
        return _fail(f"--batch: expected a positive integer, got {args.batch!r}")
    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        for line in e.problems:
            print(f"{_PROG}: {line}", file=sys.stderr)
        return 2
    if args.input is not None:
        try:
            c, h, w = parse_shape(args.input)
            spec = spec.with_input(channels=c, height=h, width=w)
        except ValueError as e:  # SpecError too: out of range
            return _fail(f"--input: {e}" if isinstance(e, SpecError) else str(e))
    report = infer_shapes(spec)
    if args.json:
        print(json.dumps(as_json(spec, report, batch), indent=2))
    else:
        print(as_table(spec, report, batch))
    return 0 if report.ok else 1


def _shape(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else "×".join(str(x) for x in shape)


def human_bytes(n: float) -> str:
    """1536 → "1.5 KiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _inputs_text(row: LayerRow) -> str:
    """Where a layer's inputs come from, by row label: "#8 + #3", "input"."""
    return " + ".join("input" if j < 0 else f"#{j + 1}" for j in row.inputs)


def _row_cells(row: LayerRow, graph: bool = False) -> list[str]:
    problem = ", ".join(_PROBLEM_WORDS.get(p.kind, p.kind) for p in row.problems)
    return [
        row.label,
        *([_inputs_text(row)] if graph else []),
        _shape(row.output_shape),
        f"{row.params:,}",
        f"{row.macs:,}",
        human_bytes(row.memory),
        problem,
    ]


def as_table(spec: NetworkSpec, report: ShapeReport, batch: int) -> str:
    """The human-readable summary: header, one line per layer, totals, problems."""
    # A graph gets an "Inputs" column: which rows each layer reads (a chain reads the row above).
    graph = not spec.is_chain
    head = ["Layer", *(["Inputs"] if graph else []), "Output shape", "Params", "Mult-adds",
            "Memory", "Problem"]  # fmt: skip
    cells = [
        head,
        ["input", *([""] if graph else []), _shape(report.input_shape), "0", "0",
         human_bytes(report.input_memory), ""],
    ]  # fmt: skip
    cells += [_row_cells(r, graph) for r in report]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    right = {3, 4, 5} if graph else {2, 3, 4}  # numbers line up on the right

    def line(c: list[str]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(c, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule_width = len(line([w * "x" for w in widths]))
    title = f'Network "{spec.name}"' if spec.name else "Network"
    out = [
        f"{title}, input {_shape(report.input_shape)}",
        "─" * rule_width,
        line(head),
        "─" * rule_width,
    ]
    out += [line(c) for c in cells[1:]]
    out.append("═" * rule_width)
    out.append(
        f"Parameters: {report.total_params:,} trainable"
        + (f" + {report.total_buffers:,} running statistics" if report.total_buffers else "")
        + f" ({human_bytes(report.param_memory)} as float32)"
    )
    out.append(f"Multiply-adds: {report.total_macs:,} per image")
    out.append(
        f"Activation memory: {human_bytes(report.total_memory)} per image; batch of {batch}: "
        f"{human_bytes(report.memory_for_batch(batch))} with the parameters"
    )
    if warning := network_memory_warning(spec, batch):
        out.append(f"Warning: {warning}")
    if report.notes:
        out.append("Notes:")
        out += [f"  {n}" for n in report.notes]
    if report.problems:
        n = len(report.problems)
        out.append(f"{n} problem{'s' if n > 1 else ''}:")
        out += [f"  {p.message}" for p in report.problems]
    else:
        out.append("No problems.")
    return "\n".join(out)


def as_json(spec: NetworkSpec, report: ShapeReport, batch: int) -> dict[str, Any]:
    """The summary as plain JSON data (shapes as lists, memory in bytes)."""

    def shape(s: tuple[int, ...] | None) -> list[int] | None:
        return None if s is None else list(s)

    return {
        "name": spec.name,
        "input_shape": list(report.input_shape),
        "layers": [
            {
                "label": r.label,
                "type": r.type,
                "input_shape": shape(r.input_shape),
                "inputs": list(r.inputs),
                "input_shapes": [shape(s) for s in r.input_shapes],
                "output_shape": shape(r.output_shape),
                "params": r.params,
                "buffers": r.buffers,
                "macs": r.macs,
                "memory": r.memory,
                "formula": r.formula,
                "problems": [p.message for p in r.problems],
                "notes": list(r.notes),
            }
            for r in report
        ],
        "total_params": report.total_params,
        "total_buffers": report.total_buffers,
        "total_macs": report.total_macs,
        "total_memory": report.total_memory,
        "peak_memory": report.peak_memory,
        "param_memory": report.param_memory,
        "batch": batch,
        "batch_memory": report.memory_for_batch(batch),
        "memory_warning": network_memory_warning(spec, batch),
        "output_shape": shape(report.output_shape),
        "num_classes": report.num_classes,
        "problems": [
            {
                "layer": p.layer,
                "kind": p.kind,
                "message": p.message,
                "fixes": [f.label for f in p.fixes],
            }
            for p in report.problems
        ],
        "ok": report.ok,
    }
