"""What an ONNX file must satisfy before the importer reads a byte of its tensors: an
operator set this importer knows, an image input whose sizes a spec can hold, and tensors
whose stored data matches their declared shape, kept inside the file (no external data:
a path in a model must never make us read another file), of a numeric element type.
Each check raises OnnxImportError naming the tensor, input or operator set.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = [
    "MAX_OPSET",
    "MIN_OPSET",
    "OnnxImportError",
    "check_input",
    "check_inside",
    "check_model",
    "check_opset",
    "metadata_json",
    "tensor_array",
]

#: Opset 7 (ONNX 1.2) gave Add, Mul and Gemm numpy broadcasting, which is what this importer
#: reads; older models carry "broadcast" attributes with other rules.
MIN_OPSET = 7
#: The newest operator set the installed onnx package describes: a newer one may have
#: changed what an operator computes.
MAX_OPSET = onnx.defs.onnx_opset_version()
#: Metadata JSON (class names, the preprocessing record) is small; more is not ours.
_METADATA_LIMIT = 1 << 20


class OnnxImportError(ValueError):
    """A model that cannot be imported: one line naming the file, the node and why (defined
    here, below the importer, which re-exports it)."""


def _error(message: str) -> Exception:
    return OnnxImportError(message)


def check_opset(version: int) -> None:
    """Refuse an ONNX operator set older than MIN_OPSET or newer than MAX_OPSET."""
    if version < MIN_OPSET:
        raise _error(
            f"operator set {version} is older than {MIN_OPSET} (ONNX 1.2), the oldest this "
            "importer reads; convert the model with onnx.version_converter first"
        )
    if version > MAX_OPSET:
        raise _error(
            f"operator set {version} is newer than {MAX_OPSET}, the newest the installed onnx "
            f"package ({onnx.__version__}) knows; update onnx, or export with opset {MAX_OPSET}"
        )


def check_input(name: str, shape: list) -> None:
    """The fixed (C, H, W) of the image input must be sizes a spec accepts (engine.spec's
    input fields: at least 1, at most 4096 channels and 65536 pixels)."""
    from engine.spec import INPUT_FIELDS
    from engine.validation import check_int

    errors: list[str] = []
    for (field, info), value in zip(INPUT_FIELDS.items(), shape[1:], strict=True):
        check_int(field, value, info, errors)
    if errors:
        raise _error(f'input "{name}" has shape {shape}: ' + "; ".join(errors))


def _dtype(t: onnx.TensorProto, what: str) -> np.dtype:
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or t.data_type == onnx.TensorProto.UNDEFINED:
        raise _error(f"{what} has an unknown element type ({t.data_type})")
    if dtype.kind not in "fiub" and t.data_type != onnx.TensorProto.BFLOAT16:
        name = onnx.TensorProto.DataType.Name(t.data_type)
        raise _error(f"{what} holds {name} values; weights must be numbers")
    return dtype


def check_inside(t: onnx.TensorProto, what: str) -> None:
    """Refuse a tensor whose data lives in another file (a path in a model must never make us
    read one) or is a segment of one."""
    if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
        raise _error(f"{what} lives in an external file; save the model with its weights inside")
    if t.HasField("segment"):
        raise _error(f"{what} is a segment of a tensor, which is not supported")


def tensor_array(t: onnx.TensorProto, what: str) -> np.ndarray:
    """The numpy array of ``t`` (an initializer or a Constant's value), after checking that
    it lives in the file and that its data holds exactly what its dims declare (so a tensor
    claiming 10^12 values is refused before anything is allocated). ``what`` names it."""
    check_inside(t, what)
    dtype = _dtype(t, what)
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise _error(f"{what} has negative dimensions {dims}")
    count = math.prod(dims)
    if t.HasField("raw_data"):
        have = len(t.raw_data) / dtype.itemsize
    else:
        have = len(getattr(t, helper.tensor_dtype_to_field(t.data_type)))
    if have != count:
        shown = "x".join(map(str, dims)) or "a scalar"
        raise _error(
            f"{what} declares {shown} ({count} values) but its data holds {have:g}; the file "
            "is damaged or was cut short"
        )
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as e:
        raise _error(f"{what} cannot be read ({e})") from None


def metadata_json(text: str) -> Any:
    """A metadata value parsed as JSON within engine.safe_json's limits (depth, size, digits);
    None when it is not such JSON."""
    from engine.safe_json import JSONInputError, loads

    try:
        return loads(text, limit=_METADATA_LIMIT)
    except JSONInputError:
        return None


def check_model(model: onnx.ModelProto) -> None:
    """ONNX's own checker: every node's inputs, outputs and attributes as its operator's
    schema allows (a MaxPool given a Conv's weights, an attribute the operator does not
    have). What ONNX Runtime refuses to run is refused here too, with the checker's words."""
    for node in model.graph.node:  # our own words for what the checker also refuses
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                check_inside(a.t, f'node "{node.name}" ({node.op_type})')
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        text = " ".join(lines)
        if len(text) > 300:
            text = text[:280] + "... (shortened)"
        raise _error(f"not a valid ONNX model: {text}") from None
