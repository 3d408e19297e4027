"""`cnn-workbench export SPEC_OR_RUN --format onnx --out model.onnx [--seed N]
[--probabilities]`: the network as an ONNX model for ONNX Runtime, OpenCV's dnn module,
TensorRT and the mobile runtimes. `--format pytorch --out DIR`: a PyTorch project in the
folder DIR (model.py, weights.safetensors, train.py for torchrun, spec.json, README.md;
see engine.interop.torch_project).

From a run folder it exports the trained weights with the run's preprocessing and class
names; from a spec (a preset name or a spec file), the initial weights of ``--seed``. The
model's input is ``image`` (batch, C, H, W), its output ``logits`` (and ``probabilities``
with ``--probabilities``); its metadata says how to prepare an image (README, "ONNX").
Prints one line (the file, its size, its nodes; or the folder and its files); bad input:
one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "export",
        help="write a network as an ONNX model or a PyTorch project",
        description="Write the network of SPEC_OR_RUN (a run folder: its trained weights; a "
        "spec file or preset name: the initial weights of --seed) as an ONNX model, or as a "
        "PyTorch project (model.py, weights.safetensors, train.py for torchrun) in a folder.",
    )
    p.add_argument("source", metavar="SPEC_OR_RUN", help="run folder, spec file or preset name")
    p.add_argument(
        "--format",
        choices=("onnx", "pytorch"),
        default="onnx",
        help="onnx (a model file) or pytorch (a project folder); default onnx",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="the file to write (model.onnx), or the folder for --format pytorch",
    )
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

    if args.seed < 0:  # else blamed on the spec: "net.json: expected non-negative integer"
        return fail(f"--seed {args.seed}: give a whole number of 0 or more")
    pytorch = args.format == "pytorch"
    if pytorch and args.probabilities:
        return fail("--probabilities is for --format onnx (model.py returns logits)")
    try:
        if pytorch:
            from engine.interop.torch_project import export_torch_project as write
        else:
            from engine.interop.onnx_export import export_onnx as write
    except ModuleNotFoundError as e:
        if e.name not in ("torch", "onnx"):
            raise
        extra = "pytorch" if e.name == "torch" else "onnx"
        return fail(f"the {e.name} package is not installed (pip install 'cnn-workbench[{extra}]')")
    options = {} if pytorch else {"probabilities": args.probabilities}
    try:
        result = write(args.source, args.out, seed=args.seed, **options)
    except SpecError:
        raise  # main prints each of its problems
    except (CheckpointError, DatasetError) as e:
        return fail(str(e))
    except ValueError as e:
        return fail(f"{args.source}: {e}")
    except OSError as e:
        return fail(f"cannot write {args.out}: {e.strerror or e}")
    from engine.io import size_text

    if pytorch:
        files = ", ".join(f"{k} {size_text(v)}" for k, v in result.files.items())
        print(f"{result.folder}: PyTorch project ({result.class_name}; {result.weights}): {files}")
    else:
        outputs = ", ".join(o.name for o in result.graph.output)
        print(
            f"{args.out}: ONNX opset {result.opset_import[0].version}, {len(result.graph.node)} "
            f"nodes, {size_text(result.ByteSize())}; input image, output {outputs}"
        )
    return 0
