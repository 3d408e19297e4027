"""`cnn-workbench predict CHECKPOINT IMAGE... [--top K] [--json]`: classify pictures.

Each image goes through the preprocessing stored in the checkpoint (decode, resize, scale,
normalise), so a picture is prepared exactly as the training images were. Human output: the
top K classes with probabilities per image. ``--json``: one JSON object, ``{"checkpoint",
"classes", "predictions": [{"image", "top", "probabilities"}, ...]}``. An unreadable image is
reported on stderr by name and the others are still classified (exit 1); a missing or corrupt
checkpoint: one line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "predict",
        help="class probabilities of images from a trained checkpoint",
        description="Classify IMAGE files, or every image in a folder (one line each: image, "
        "class, confidence), with the model saved in CHECKPOINT (a run folder).",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="run folder or its checkpoint/")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files, or folders of them")
    p.add_argument("--csv", metavar="FILE", help="also write image,class,confidence rows to FILE")
    p.add_argument("--top", type=int, default=5, metavar="K", help="classes shown (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError
    from engine.data import DatasetError
    from engine.predict import Predictor

    if args.top < 1:
        print("cnn-workbench predict: --top must be 1 or more", file=sys.stderr)
        return 1
    try:
        predictor = Predictor(args.checkpoint)
    except (CheckpointError, DatasetError) as e:
        print(f"cnn-workbench predict: {e}", file=sys.stderr)
        return 1
    from engine.predict import image_files

    paths: list[str] = []
    folders = False
    for given in args.images:
        if os.path.isdir(given):  # a folder: every image in it, one line each
            folders = True
            found = [str(p) for p in image_files(given)]
            if not found:
                print(f"cnn-workbench predict: {given}: no image files", file=sys.stderr)
            paths.extend(found)
        else:
            paths.append(given)
    results, failed = [], 0
    for path in paths:
        try:
            results.append(predictor.predict_image(path, top=args.top))
        except DatasetError as e:
            failed += 1
            print(f"cnn-workbench predict: {e}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": str(predictor.checkpoint.path),
                    "classes": list(predictor.class_names),
                    "predictions": [r.to_dict() for r in results],
                }
            )
        )
    elif folders:  # a table: image, top class, confidence
        width = max((len(r.source) for r in results), default=0)
        for r in results:
            print(f"{r.source.ljust(width)}  {r.label}  {r.top[0][1]:.2%}")
    else:
        for r in results:
            print(r.source)
            width = max(len(name) for name, _ in r.top)
            for name, p in r.top:
                print(f"  {name.ljust(width)}  {p:7.2%}")
    if args.csv:
        import csv

        try:
            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                out = csv.writer(f)
                out.writerow(["image", "class", "confidence"])
                out.writerows([r.source, r.label, f"{r.top[0][1]:.6f}"] for r in results)
        except OSError as e:
            print(f"cnn-workbench predict: cannot write {args.csv}: {e}", file=sys.stderr)
            return 1
    return 1 if failed else 0
