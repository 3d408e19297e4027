"""`cnn-workbench baseline knn|linear --data PATH ...`: the classifiers a CNN should beat.

k-nearest neighbours (L1 or L2 distance) or a linear classifier (softmax regression), both
scikit-learn's, on the same preprocessed pixels and the same splits as ``train`` (the same
``--resize``, ``--center``, ``--no-standardize``, ``--val-split`` and ``--seed``). The image
size is the network's input with ``--spec``, ``--input CxHxW``, or else the data set's own.
``--shift-test`` adds the accuracy on test images moved by 1-4 pixels. ``--json``: one JSON
object with ``val_accuracy`` and ``test_accuracy`` on stdout. Bad input: one line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``baseline`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "baseline",
        help="kNN or linear classifier on the same pixels and splits as train",
        description="Fit a k-nearest-neighbour or linear (softmax regression) classifier on "
        "raw preprocessed pixels, the baseline a CNN should beat.",
    )
    p.add_argument("kind", choices=("knn", "linear"), help="knn or linear")
    p.add_argument("--data", required=True, metavar="PATH", help="image folder, IDX or CIFAR-10")
    p.add_argument("--k", type=int, default=5, metavar="K", help="neighbours for knn (default 5)")
    p.add_argument("--metric", choices=("l1", "l2"), default="l2", help="knn distance")
    p.add_argument("--max-iter", type=int, default=200, metavar="N", help="linear: iterations")
    p.add_argument("--spec", metavar="SPEC", help="take the image size from this network")
    p.add_argument("--input", metavar="CxHxW", help="image size, e.g. 1x28x28")
    p.add_argument("--val-split", type=float, default=0.1, metavar="F", help="default 0.1")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--resize", choices=("stretch", "pad", "crop"), default="stretch")
    p.add_argument("--center", choices=("none", "pixel", "channel"), default="channel")
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="do not divide by the training split's standard deviation after centering",
    )
    p.add_argument("--shift-test", action="store_true", help="accuracy on shifted test images")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def _shape(args) -> tuple[int, int, int]:
    if args.spec and args.input:
        raise ValueError("give --spec or --input, not both")
    if args.spec:
        from engine.spec import load_spec

        return load_spec(args.spec).input.shape
    if args.input:
        m = re.fullmatch(r"\s*([13])\s*[xX×]\s*(\d+)\s*[xX×]\s*(\d+)\s*", args.input)
        if not m:
            raise ValueError(f"--input {args.input!r}: expected CxHxW with C 1 or 3, e.g. 1x28x28")
        return tuple(int(v) for v in m.groups())  # type: ignore[return-value]
    from engine.baselines import native_shape

    return native_shape(args.data)


def run(args: argparse.Namespace) -> int:
    from engine.baselines import fit_baseline, shift_test, sklearn_predictor
    from engine.data import DatasetError, Preprocessing, load_dataset

    log = sys.stderr if args.json else sys.stdout

    def fail(message: str) -> int:
        print(f"cnn-workbench baseline: {message}", file=sys.stderr)
        return 1

    for flag, value in (("--seed", args.seed), ("--max-iter", args.max_iter)):
        least = 0 if flag == "--seed" else 1  # --max-iter 0 "fitted" nothing and scored it
        if value < least:
            return fail(f"{flag} {value}: give a whole number of {least} or more")
    try:
        c, h, w = _shape(args)
        pre = Preprocessing(
            c, h, w, resize=args.resize, center=args.center,
            standardize=args.standardize and args.center != "none",
        )  # fmt: skip
        data = load_dataset(
            args.data,
            pre,
            val_fraction=args.val_split,
            seed=args.seed,
            on_miss=lambda: print("decoding the data set (cached for next time)", file=log),
        )
        result, model = fit_baseline(
            args.kind, data, k=args.k, metric=args.metric, seed=args.seed, max_iter=args.max_iter
        )
        shifts = None
        if args.shift_test:
            shifts = shift_test({args.kind: sklearn_predictor(model)}, data)[args.kind]
    except (DatasetError, ValueError, OSError) as e:
        return fail(str(e))
    summary = {
        "baseline": args.kind,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "num_train": result.num_train,
        "settings": result.settings,
        "input": [c, h, w],
        "seconds": round(result.seconds, 3),
    }
    if shifts is not None:
        summary["shift_accuracy"] = dict(zip(("0", "1", "2", "3", "4"), shifts, strict=True))
    if args.json:
        print(json.dumps(summary), flush=True)
        return 0

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    print(
        f"{result.label()} on {result.num_train} training images of {c}x{h}x{w}: "
        f"val accuracy {fmt(result.val_accuracy)}, test accuracy {fmt(result.test_accuracy)} "
        f"({result.seconds:.1f} s)"
    )
    if shifts is not None:
        print("shifted test images: " + ", ".join(
            f"{s} px {a:.4f}" for s, a in enumerate(shifts)
        ))  # fmt: skip
    return 0
