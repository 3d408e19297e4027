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

    for name, value in [("CHECKPOINT", args.checkpoint)] + [("IMAGE", i) for i in args.images]:
        if not value.strip():  # "" would be the current folder
            print(f"cnn-workbench predict: {name} is empty; give a path", file=sys.stderr)
            return 1
    if args.top < 1:
        print("cnn-workbench predict: --top must be 1 or more", file=sys.stderr)
        return 1
    if args.csv and (problem := _csv_problem(args.csv, args.images)):
        print(f"cnn-workbench predict: --csv {args.csv}: {problem}", file=sys.stderr)
        return 1
    try:
        predictor = Predictor(args.checkpoint)
    except (CheckpointError, DatasetError) as e:
        print(f"cnn-workbench predict: {e}", file=sys.stderr)
        return 1
    from engine.predict import image_files

    paths: list[str] = []
    folders = False
    failed = 0
    for given in args.images:
        if os.path.isdir(given):  # a folder: every image in it, one line each
            folders = True
            found = [str(p) for p in image_files(given)]
            if not found:  # nothing asked for was classified: a failure, like a bad image
                from engine.data import IMAGE_EXTENSIONS

                failed += 1
                print(
                    f"cnn-workbench predict: {given}: no image files in this folder or below "
                    f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS))})",
                    file=sys.stderr,
                )
            paths.extend(found)
        else:
            paths.append(given)
    results = []
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
        import io

        from engine.io import atomic_write_text

        text = io.StringIO(newline="")
        out = csv.writer(text)
        out.writerow(["image", "class", "confidence"])
        out.writerows([r.source, r.label, f"{r.top[0][1]:.6f}"] for r in results)
        try:  # atomic: an interrupted write leaves the previous file, never half a table
            if os.path.exists(args.csv) and not os.path.isfile(args.csv):
                with open(args.csv, "w", encoding="utf-8", newline="") as f:  # /dev/stdout
                    f.write(text.getvalue())
            else:
                atomic_write_text(args.csv, text.getvalue())
        except OSError as e:
            reason = e.strerror or str(e)
            print(f"cnn-workbench predict: --csv {args.csv}: cannot be written ({reason})",
                  file=sys.stderr)  # fmt: skip
            return 1
    return 1 if failed else 0


def _csv_problem(path: str, images: list[str]) -> str | None:
    """Why ``--csv path`` cannot be written, found before any image is classified (a
    folder, a missing parent folder, one of the images to classify), or None."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        return "is a folder; give a file name such as predictions.csv"
    parent = os.path.dirname(target) or "."
    if not os.path.isdir(parent):
        return f"the folder {os.path.dirname(path) or '.'} does not exist; create it first"
    if any(os.path.realpath(image) == target for image in images):
        return "is one of the images to classify; give another file name"
    return None
