"""`cnn-workbench import model.onnx --out DIR [--json]`: an ONNX model becomes a run folder;
`cnn-workbench import weights.safetensors --spec SPEC --out DIR`: PyTorch weights (a
state_dict saved with safetensors or torch.save) into a matching spec, every mismatch listed.

The folder holds our checkpoint (the spec, the weights, the class names and preprocessing
where the model's metadata has them, epoch 0), so ``predict``, ``export``, the window and
training open it like any other run. An operator or attribute that cannot be represented is
named with its node (one line on stderr, exit 1) and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``import`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "import",
        help="turn an ONNX model (or PyTorch weights) into a run folder",
        description="Read MODEL (an .onnx file) and write it into the run folder DIR: its "
        "spec, weights, class names and preprocessing. PyTorch weights (a state_dict saved "
        "with safetensors or torch.save) go with --spec, the network they fit.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="the .onnx file, or PyTorch weights (.safetensors, .pt, .pth) with --spec",
    )
    p.add_argument("--spec", metavar="SPEC",
                   help="the spec (file or preset name) that PyTorch weights fit")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="the run folder to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"cnn-workbench import: {message}", file=sys.stderr)
        return 1

    try:
        from engine.interop.onnx_import import OnnxImportError, read_onnx, write_run
    except ModuleNotFoundError as e:
        if e.name != "onnx":
            raise
        return fail("the onnx package is not installed (pip install 'cnn-workbench[onnx]')")
    from engine.interop.torch_weights import WeightsError

    try:
        if args.spec is not None or not str(args.model).endswith(".onnx"):
            imported = _torch_weights(args)
        else:
            imported = read_onnx(args.model)
        folder = write_run(imported, args.out)
    except (OnnxImportError, WeightsError) as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write {args.out}: {e.strerror or e}")
    layers = len(imported.spec.layers)
    if args.json:
        print(json.dumps({"run": str(folder.parent), "layers": layers,
                          "classes": list(imported.class_names),
                          "notes": list(imported.notes)}))  # fmt: skip
    else:
        print(f"{args.out}: {layers} layers, {len(imported.class_names)} classes")
        for note in imported.notes:
            print(f"  note: {note}")
    return 0


def _torch_weights(args):
    from engine.data import Preprocessing
    from engine.interop.onnx_import import Imported
    from engine.interop.torch_weights import WeightsError, match_weights, read_weights
    from engine.shapes import infer_shapes
    from engine.spec import load_spec

    if args.spec is None:
        raise WeightsError(f"{args.model}: PyTorch weights need --spec SPEC (the network they fit)")
    spec = load_spec(args.spec)
    weights = match_weights(spec, read_weights(args.model))
    c, h, w = spec.input.shape
    pre = Preprocessing(c, h, w).to_dict() if c in (1, 3) else None
    k = infer_shapes(spec).num_classes
    notes = ("no preprocessing in a weights file: pixels / 255, stretched; classes numbered",)
    return Imported(spec, weights, pre, tuple(str(i) for i in range(k)), notes)
