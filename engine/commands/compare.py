"""`cnn-workbench compare RUN_A RUN_B [RUN_C...] [--csv FILE] [--json]`: what differs between
training runs, and what it changed.

Each RUN is a run folder (``train --out DIR``) or its ``checkpoint/`` folder; its checkpoint
holds the network, the settings and the per-epoch history. The first run is the reference:
the others are told against it in sentences ("B vs A: adds batch_norm after the 2nd conv2d;
lr 0.01 → 0.001. Result: +3.1 points best validation accuracy, ...") after a table of every
run's figures. ``--csv FILE`` also writes a row per run (engine.compare.COMPARISON_CSV_HEADER).
A run that cannot be read: one line on stderr naming it, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "compare",
        help="what differs between training runs (network, settings, results)",
        description="Compare training runs: a table of each run's parameters, multiply-adds, "
        "accuracy and epoch time, then what each run changes against the first (layers "
        "added, removed or changed, settings) and what that did to the results.",
    )
    p.add_argument("runs", metavar="RUN", nargs="+",
                   help="run folders (train --out DIR) or their checkpoint/ folders; the "
                   "first is the reference")  # fmt: skip
    p.add_argument("--csv", metavar="FILE", help="also write a row per run to FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def _name(path: str) -> str:
    p = Path(path).resolve()
    if p.name == "checkpoint.json":
        p = p.parent
    return p.parent.name if p.name == "checkpoint" else p.name


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.compare import RunInput, compare_runs
    from engine.io import atomic_write_text

    if len(args.runs) < 2:
        print("cnn-workbench compare: give two or more runs to compare", file=sys.stderr)
        return 1
    inputs = []
    names = [_name(r) for r in args.runs]
    for path, name in zip(args.runs, names, strict=True):
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as e:
            print(f"cnn-workbench compare: {e}", file=sys.stderr)
            return 1
        label = name if names.count(name) == 1 else path
        inputs.append(RunInput(label, ckpt.spec, ckpt.config, ckpt.history))
    try:
        comparison = compare_runs(inputs)
    except ValueError as e:
        print(f"cnn-workbench compare: {e}", file=sys.stderr)
        return 1
    if args.csv:
        try:
            atomic_write_text(args.csv, comparison.to_csv())
        except OSError as e:
            print(f"cnn-workbench compare: {args.csv}: cannot be written ({e.strerror or e})",
                  file=sys.stderr)  # fmt: skip
            return 1
    if args.json:
        print(json.dumps({
            "runs": [
                {"run": letter, "name": name, "network": net, **vars(outcome)}
                for letter, name, net, outcome in zip(
                    comparison.letters, comparison.names, comparison.networks,
                    comparison.outcomes, strict=True)
            ],
            "differences": [
                {"run": d.run, "reference": d.reference, "architecture": list(d.architecture),
                 "settings": list(d.settings), "outcome": list(d.outcome),
                 "sentence": d.sentence()}
                for d in comparison.differences
            ],
        }))  # fmt: skip
    else:
        print(comparison.table())
    return 0
