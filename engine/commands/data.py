"""`cnn-workbench data PATH [--json]`: the health report of a data set.

Human output: counts per class and split, sizes, modes, skipped files with reasons, leakage
and warnings. ``--json``: one JSON object (``HealthReport.to_dict``). A fatal problem (no
such folder, empty, one class, nothing readable) prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    parser = subparsers.add_parser(
        "data",
        help="check a data set: counts, sizes, unusable files, leakage, imbalance",
        description="Check an image folder (one subfolder per class, optionally under "
        "train/ val/ test/), a folder of IDX files (MNIST, Fashion-MNIST, EMNIST), CIFAR-10 "
        "(python or binary) or CIFAR-100 batches.",
    )
    parser.add_argument("path", metavar="PATH", help="the data set's folder")
    parser.add_argument(
        "--val-split",
        type=float,
        default=0.0,
        metavar="F",
        help="show the validation split training would carve from train (default 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of that split (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the report of ``args.path``; 0 when it is usable (warnings included), 1 when
    a fatal problem stops it."""
    from engine.data import DatasetError, check_dataset

    try:
        report = check_dataset(
            args.path,
            val_fraction=getattr(args, "val_split", 0.0),
            seed=getattr(args, "seed", 0),
        )
    except DatasetError as e:
        print(f"cnn-workbench data: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder we may not list, a disk that went away mid-read
        where = e.filename or args.path
        print(f"cnn-workbench data: {where}: cannot be read ({e.strerror or e})", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict()))
    else:
        print("\n".join(report.lines()))
    return 0
