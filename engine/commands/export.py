"""`cnn-workbench export SPEC_OR_RUN --format onnx --out model.onnx [--seed N]
[--probabilities]`: the network as an ONNX model for ONNX Runtime, OpenCV's dnn module,
TensorRT and the mobile runtimes.

From a run folder it exports the trained weights with the run's preprocessing and class
names; from a spec (a preset name or a spec file), the initial weights of ``--seed``. The
model's input is ``image`` (batch, C, H, W), its output ``logits`` (and ``probabilities``
with ``--probabilities``); its metadata says how to prepare an image (README, "ONNX").
Prints one line (the file, its size, its nodes); bad input: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "export",
        help="write a network as an ONNX model",
        description="Write the network of SPEC_OR_RUN (a run folder: its trained weights; a "
        "spec file or preset name: the initial weights of --seed) as an ONNX model.",
    )
    p.add_argument("source", metavar="SPEC_OR_RUN", help="run folder, spec file or preset name")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="file format (onnx)")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write (model.onnx)")
    p.add_argument("--seed", type=int, default=0, help="initial weights of a spec (default 0)")
    p.add_argument(
        "--probabilities",
        action="store_true",
        help="add a 'probabilities' output (the softmax of 'logits')",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError
    from engine.data import DatasetError
    from engine.spec import SpecError

    def fail(message: str) -> int:
        print(f"cnn-workbench export: {message}", file=sys.stderr)
        return 1

    try:
        from engine.interop.onnx_export import export_onnx
    except ModuleNotFoundError as e:
        if e.name != "onnx":
            raise
        return fail("the onnx package is not installed (pip install 'cnn-workbench[onnx]')")
    try:
        model = export_onnx(args.source, args.out, seed=args.seed,
                            probabilities=args.probabilities)  # fmt: skip
    except SpecError:
        raise  # main prints each of its problems
    except (CheckpointError, DatasetError) as e:
        return fail(str(e))
    except ValueError as e:
        return fail(f"{args.source}: {e}")
    except OSError as e:
        return fail(f"cannot write {args.out}: {e.strerror or e}")
    from engine.io import size_text

    outputs = ", ".join(o.name for o in model.graph.output)
    print(
        f"{args.out}: ONNX opset {model.opset_import[0].version}, {len(model.graph.node)} "
        f"nodes, {size_text(model.ByteSize())}; input image, output {outputs}"
    )
    return 0
