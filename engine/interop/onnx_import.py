"""ONNX import: a model file becomes a spec and its weights (and a run folder).

    imported = read_onnx("model.onnx")     # spec, weights, preprocessing, class names, notes
    write_run(imported, "runs/imported")   # a checkpoint predict, export and train open

Each layer type reads its own operator (``LayerDef.from_onnx`` in ``engine/layers/``, found
by its ``onnx`` name); this module follows the graph and folds the common equivalent
patterns into one layer: MatMul + Add (a dense layer and its bias), Gemm with alpha, beta or
an untransposed weight, GlobalAveragePool followed by Flatten, Reshape or Squeeze, a
Reshape to (N, -1) as a flatten (also when the target is computed from the shape, as
x.view(x.size(0), -1) exports), Identity, Dropout, Sum, Constant nodes, the Pow ·
AveragePool · Mul · Pow chain our exporter writes for an odd p, and a Softmax at the end
(dropped: the engine's output is the logits; predict applies the softmax).

Whatever cannot be represented raises :class:`OnnxImportError` naming the node and what
would be needed (``node "Conv_12" (Conv): group=32 (depthwise convolution) is not
supported``); nothing is half-imported: the run folder is written only once the whole
network was built and its weights loaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from engine.graph import INPUT
from engine.interop.onnx_checks import OnnxImportError
from engine.interop.onnx_checks import check_input as _check_input
from engine.interop.onnx_checks import check_model as _check_model
from engine.interop.onnx_checks import check_opset as _check_opset
from engine.interop.onnx_checks import metadata_json as _json
from engine.interop.onnx_checks import tensor_array as _array
from engine.io import read_regular_bytes
from engine.spec import MAX_ID as _MAX_ID
from engine.validation import show as meta_text

__all__ = ["Imported", "OnnxImportError", "OnnxNode", "read_onnx", "write_run"]

#: What a model file may weigh: more than VGG-16 (528 MiB), less than protobuf's 2 GiB.
MAX_MODEL_BYTES = 2**31 - 1
#: Operators the importer folds or passes through itself; the layer operators come from the
#: catalogue (each LayerDef's ``onnx``).
_PASS_THROUGH = ("Identity", "Dropout")
_GRAPH_OPS = ("MatMul", "Add", "Sum", "Flatten", "Reshape", "Squeeze", "Softmax", "Constant",
              "Pow", *_PASS_THROUGH)  # fmt: skip


@dataclass
class _Value:
    """A tensor of the ONNX graph as the spec sees it: the layer that makes it (-1: the
    input), its rank in ONNX (4 maps or 2 vectors) and whether our layer already gives the
    flat vector that ONNX still holds as (N, C, 1, 1) (after GlobalAveragePool)."""

    layer: int
    rank: int
    flat_already: bool = False


@dataclass
class _Record:
    type: str
    id: str
    inputs: list[int]
    fields: dict[str, Any]
    params: dict[str, np.ndarray]


class OnnxNode:
    """One ONNX node as a layer type's ``from_onnx`` reads it."""

    def __init__(self, node: onnx.NodeProto, consts: dict[str, np.ndarray], ranks: list[int]):
        self.proto = node
        self.op = node.op_type
        self.name = node.name or (node.output[0] if node.output else node.op_type)
        self._consts = consts
        #: ONNX ranks of the inputs that are tensors (not constants), in order.
        self.ranks = ranks
        self._attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def attr(self, name: str, default: Any = None) -> Any:
        value = self._attrs.get(name, default)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value

    def unsupported(self, what: str) -> OnnxImportError:
        return OnnxImportError(f'node "{self.name}" ({self.op}): {what}')

    def const(self, k: int, what: str) -> np.ndarray | None:
        """Input ``k`` as a constant array (None when the input is absent); raises when it is
        computed by the graph."""
        if k >= len(self.proto.input) or not self.proto.input[k]:
            return None
        name = self.proto.input[k]
        if name not in self._consts:
            raise self.unsupported(f"its {what} ({name!r}) must be a constant (an initializer)")
        return self._consts[name]

    def check_attrs(self, allowed: dict[str, Any]) -> None:
        """Refuse an attribute that is not listed, or listed with another (default) value;
        ``allowed`` maps names to their only accepted value, or None for any."""
        for name, value in self._attrs.items():
            if name not in allowed:
                raise self.unsupported(f"attribute {name} is not supported")
            want = allowed[name]
            if want is not None and _plain(value) != _plain(want):
                raise self.unsupported(f"{name}={_plain(value)} is not supported (only {want})")

    def window(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """kernel, stride and symmetric padding of a 2-D window node; raises for dilation,
        ceil mode, auto_pad other than NOTSET/VALID, or asymmetric padding."""
        kernel = self.attr("kernel_shape")
        if kernel is None or len(kernel) != 2:
            raise self.unsupported(f"kernel_shape {kernel} is not 2-D")
        strides = self.attr("strides", [1, 1])
        if any(d != 1 for d in self.attr("dilations", [1, 1])):
            raise self.unsupported(f"dilations={self.attr('dilations')} (dilated windows) is "
                                   "not supported")  # fmt: skip
        if self.attr("ceil_mode", 0):
            raise self.unsupported("ceil_mode=1 is not supported (sizes round down here)")
        auto = self.attr("auto_pad", "NOTSET")
        pads = self.attr("pads", [0, 0, 0, 0])
        if (
            auto in ("SAME_UPPER", "SAME_LOWER")
            and all(s == 1 for s in strides)
            and all(k % 2 for k in kernel)
        ):  # at stride 1 an odd window pads (k - 1) / 2 on each side
            pads = [(k - 1) // 2 for k in kernel] * 2
        elif auto not in ("NOTSET", "VALID"):
            raise self.unsupported(
                f"auto_pad={auto} is supported only at stride 1 with odd windows; give "
                "explicit pads"
            )
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        if list(pads[:2]) != list(pads[2:]):
            raise self.unsupported(
                f"pads={list(pads)} differ at the start and the end (asymmetric padding) "
                "and that is not supported"
            )
        return tuple(kernel), tuple(strides), tuple(pads[:2])  # type: ignore[return-value]


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


@dataclass(frozen=True)
class Imported:
    """What :func:`read_onnx` found: the spec, its weights (state-dict names), the
    preprocessing record and class names (from the model's metadata, else the plain
    preprocessing of its input size and "0", "1", ...) and notes on what was folded."""

    spec: Any
    weights: dict[str, np.ndarray]
    preprocessing: dict[str, Any] | None
    class_names: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


def _catalogue() -> dict[str, Any]:
    from engine.layers import LAYER_TYPES

    return {d.onnx: d for d in LAYER_TYPES.values() if d.onnx}


def _ident(name: str, taken: set[str]) -> str:
    """A layer id from a node name: safe characters, at most _MAX_ID long (a spec file
    refuses longer ids), unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name[: 4 * _MAX_ID]).strip("_") or "layer"
    base = base[: _MAX_ID - 8]  # room for a "_<k>" suffix
    if base == INPUT:
        base = "input_layer"
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out


def read_onnx(path: str | os.PathLike[str]) -> Imported:
    """Read the ONNX model at ``path``. Raises :class:`OnnxImportError` (one line naming the
    file and, for a node, the node) for anything that cannot be represented."""
    p = Path(path)
    try:
        data = read_regular_bytes(p, MAX_MODEL_BYTES)
        model = onnx.load_from_string(data)
    except OSError as e:
        reason = getattr(e, "strerror", None) or e
        raise OnnxImportError(f"{p}: cannot be read ({reason})") from None
    except Exception as e:  # protobuf's DecodeError and friends
        raise OnnxImportError(f"{p}: not an ONNX model ({type(e).__name__}: {e})") from None
    try:
        return _convert(model)
    except OnnxImportError as e:
        raise OnnxImportError(f"{p}: {e}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
        # A model that passed every named check yet does not add up (a field of the wrong
        # kind deep in a node): still one line naming the file, never a traceback.
        raise OnnxImportError(
            f"{p}: the model is malformed and cannot be imported ({type(e).__name__}: {e})"
        ) from None


def _convert(model: onnx.ModelProto) -> Imported:
    from engine.blocks import GraphBuilder
    from engine.shapes import infer_shapes
    from engine.spec import NetworkSpec, SpecError

    if not model.HasField("graph"):
        raise OnnxImportError("not an ONNX model (it holds no graph)")
    graph = model.graph
    for op in model.opset_import:
        if op.domain not in ("", "ai.onnx"):
            raise OnnxImportError(f"operator set {op.domain!r} is not supported (only ONNX's)")
        _check_opset(op.version)
    if not graph.output:
        raise OnnxImportError("the model has no outputs; the class scores (logits) are needed")
    consts = {t.name: _array(t, f"initializer {t.name!r}") for t in graph.initializer}
    _check_model(model)
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"the model has {len(inputs)} inputs; one image input is needed")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(shape) != 4 or None in shape[1:]:
        raise OnnxImportError(
            f'input "{inputs[0].name}" has shape {shape}; (batch, C, H, W) with fixed C, H, W '
            "is needed"
        )
    _check_input(inputs[0].name, shape)
    catalogue = _catalogue()
    values: dict[str, _Value] = {inputs[0].name: _Value(-1, 4)}
    records: list[_Record] = []
    taken: set[str] = set()
    notes: list[str] = []
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    skip: set[int] = set()
    nodes = list(graph.node)
    softmaxes: dict[str, str] = {}  # output -> node name
    # Shape arithmetic (x.view(x.size(0), -1) exports Shape → Gather → Unsqueeze → Concat):
    # tensor name -> its elements, "batch" or "dim" where the graph does not fix them.
    shapes: dict[str, list] = {}

    def add(kind, onode: OnnxNode, ins: list[int], fields, params) -> int:
        try:
            fields = _without_defaults(kind.name, fields)
        except SpecError as e:  # a value the catalogue refuses (stride 0, eps 5): name it
            raise onode.unsupported("; ".join(e.problems)) from None
        records.append(_Record(kind.name, _ident(onode.name, taken), ins, fields, params))
        return len(records) - 1

    for n, node in enumerate(nodes):
        if n in skip:
            continue
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise OnnxImportError(f'node "{node.name}" ({op}): operator domain {node.domain!r} '
                                  "is not supported")  # fmt: skip
        if op == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                raise OnnxImportError(f'node "{node.name}" (Constant): only a tensor value is '
                                      "supported")  # fmt: skip
            if not node.output:
                raise OnnxImportError(f'node "{node.name}" (Constant): it has no output')
            consts[node.output[0]] = _array(attr["value"].t, f'node "{node.name}" (Constant)')
            continue
        if op == "Shape" or (op != "Reshape" and any(name in shapes for name in node.input)):
            _shape_arithmetic(node, values, shapes, consts)
            continue
        data = [name for name in node.input if name and name not in consts and name not in shapes]
        for name in data:
            if name not in values:
                raise OnnxImportError(f'node "{node.name}" ({op}): its input {name!r} comes from '
                                      "nowhere (the graph is not in order)")  # fmt: skip
        onode = OnnxNode(node, consts, [values[name].rank for name in data])
        src = [values[name] for name in data]
        out = node.output[0] if node.output else ""
        if op in _PASS_THROUGH or (op in ("Flatten", "Reshape", "Squeeze") and src and
                                   (src[0].rank == 2 or src[0].flat_already)):  # fmt: skip
            if op == "Flatten" and onode.attr("axis", 1) != 1:
                raise onode.unsupported(f"axis={onode.attr('axis')} is not supported (only 1)")
            if op == "Dropout" and not _dropout_is_inference(onode):
                raise onode.unsupported("training_mode must be false")
            if op == "Dropout":
                rate = onode.const(1, "ratio")
                rate = 0.5 if rate is None else float(f"{float(rate):.7g}")  # float32
                fields = {"rate": rate}
                values[out] = _Value(add(catalogue["Dropout"], onode, [src[0].layer], fields, {}),
                                     src[0].rank)  # fmt: skip
            else:
                values[out] = _Value(src[0].layer, 2 if op != "Identity" else src[0].rank,
                                     src[0].flat_already and op == "Identity")  # fmt: skip
            continue
        if op == "Reshape":
            given = node.input[1] if len(node.input) > 1 else ""
            target = shapes[given] if given in shapes else onode.const(1, "shape")
            feats = None if target is None else [_dim(v) for v in target]
            if not (feats and len(feats) == 2 and (feats[0] in (0, -1, "batch") or feats[1] == -1)):
                raise onode.unsupported(
                    f"shape {feats} is not supported; only a flatten to (batch, -1)"
                )
            kind = catalogue["Flatten"]
            values[out] = _Value(add(kind, onode, [src[0].layer], {}, {}), 2)
            continue
        if op == "Squeeze":
            raise onode.unsupported("squeezing feature maps is not supported (only after "
                                    "GlobalAveragePool)")  # fmt: skip
        if op == "Softmax":
            if consumers.get(out):
                raise onode.unsupported("a Softmax inside the network is not supported (only "
                                        "at its end)")  # fmt: skip
            values[out] = _Value(src[0].layer, src[0].rank)
            softmaxes[out] = onode.name
            continue
        if op == "MatMul":
            w = onode.const(1, "weight")
            if src[0].rank != 2 or w is None or w.ndim != 2:
                raise onode.unsupported("only (batch, features) @ constant (in, out) is "
                                        "supported, as a dense layer")  # fmt: skip
            params = {"weight": np.ascontiguousarray(w.T, np.float32)}
            k = add(catalogue["Gemm"], onode, [src[0].layer],
                    {"units": int(w.shape[1]), "bias": False}, params)  # fmt: skip
            values[out] = _Value(k, 2)
            continue
        if op in ("Add", "Sum"):
            const = [name for name in node.input if name in consts]
            if op == "Add" and len(const) == 1:
                fold = _fold_bias(records, values, data, consts[const[0]], consumers, onode)
                values[out] = _Value(fold, 2)
                continue
            if const:
                raise onode.unsupported("adding a constant is not supported (only a dense "
                                        "layer's bias after MatMul)")  # fmt: skip
            if len({s.layer for s in src}) != len(src):
                raise onode.unsupported("adding a tensor to itself is not supported")
            k = add(catalogue["Add"], onode, [s.layer for s in src], {}, {})
            values[out] = _Value(k, src[0].rank)
            continue
        if op == "Pow":
            k, last = _lp_chain(n, nodes, consts, consumers, onode, skip)
            fields = {"p": k[0], "size": k[1], "stride": None if k[2] == k[1] else k[2]}
            named = OnnxNode(nodes[last], consts, [4])  # the chain's last node names the layer
            values[nodes[last].output[0]] = _Value(
                add(catalogue["LpPool"], named, [src[0].layer], fields, {}), 4
            )
            continue
        kind = catalogue.get(op)
        if kind is None:
            supported = sorted({*catalogue, *_GRAPH_OPS} - {"Constant"})
            raise onode.unsupported(f"operator {op} is not supported (supported: "
                                    f"{', '.join(supported)})")  # fmt: skip
        if kind.arity == (1, 1) and len(src) != 1:
            raise onode.unsupported(f"{len(src)} tensor inputs; one is needed")
        try:
            fields, params = kind.from_onnx(onode)
        except OnnxImportError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
            # weights of a shape the operator cannot have (a bias of 5 for 3 units)
            raise onode.unsupported(f"cannot be read ({type(e).__name__}: {e})") from None
        k = add(kind, onode, [s.layer for s in src], fields, params)
        rank = 2 if op in ("Flatten", "Gemm") else src[0].rank
        values[out] = _Value(k, rank, flat_already=op == "GlobalAveragePool")
        for extra in node.output[1:]:
            if extra and consumers.get(extra):
                raise onode.unsupported(f"its output {extra!r} is used; only the first one is "
                                        "supported")  # fmt: skip

    outputs = [o.name for o in graph.output]
    chosen = next((o for o in outputs if o == "logits"), None) or outputs[0]
    if chosen not in values or values[chosen].layer < 0:
        raise OnnxImportError(f"output {chosen!r} is not computed by any layer")
    if len(outputs) > 1:
        notes.append(f"output {chosen!r} imported; {', '.join(o for o in outputs if o != chosen)}"
                     " left out")  # fmt: skip
    if chosen in softmaxes:
        notes.append(f'node "{softmaxes[chosen]}" (Softmax) at the end was left out: the '
                     "network gives the logits; predict applies the softmax")  # fmt: skip
    last = values[chosen].layer
    keep = _ancestors(records, last)
    order = [i for i in range(len(records)) if i in keep]
    position = {old: new for new, old in enumerate(order)}
    position[-1] = -1
    g = GraphBuilder()
    weights: dict[str, np.ndarray] = {}
    for new, old in enumerate(order):
        r = records[old]
        refs = [INPUT if j < 0 else records[j].id for j in r.inputs]
        g.layer(r.type, refs if len(refs) > 1 else refs[0], r.id, **r.fields)
        for name, array in r.params.items():
            weights[f"{new}.{name}"] = np.ascontiguousarray(array, np.float32)
    c, h, w = shape[1:]
    meta = {p.key: p.value for p in model.metadata_props}
    spec = g.spec((c, h, w), name=graph.name or "imported", description=model.doc_string)
    if not infer_shapes(spec).ok:  # ONNX rounds sizes down: say so rather than refuse
        spec = spec.with_rounding("floor")
    problems = infer_shapes(spec).problems
    if problems:
        raise OnnxImportError(f"the imported network has a problem: {problems[0].message}")
    try:  # what the run folder will hold must load again as any spec file does
        NetworkSpec.from_dict(spec.to_dict())
    except SpecError as e:
        raise OnnxImportError(f"the imported network is not valid: {e.problems[0]}") from None
    pre, names = _metadata(meta, spec, notes)
    return Imported(spec, weights, pre, names, tuple(notes))


def _dim(v: Any) -> Any:
    return v if isinstance(v, str) else int(v)


def _shape_arithmetic(node, values, shapes, consts) -> None:
    """Follow the integer arithmetic on a tensor's shape that a Reshape target is made of;
    anything else on shapes is refused, naming the node."""
    name = node.name or node.output[0]
    op = node.op_type

    def elements(k: int) -> list:
        ref = node.input[k]
        if ref in shapes:
            return shapes[ref]
        if ref in consts:
            return [int(v) for v in np.asarray(consts[ref]).reshape(-1)]
        raise OnnxImportError(f'node "{name}" ({op}): shape arithmetic on a computed tensor '
                              "is not supported")  # fmt: skip

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if op == "Shape":
        rank = values[node.input[0]].rank if node.input[0] in values else None
        if rank is None:
            raise OnnxImportError(f'node "{name}" (Shape): of {node.input[0]!r}, not a tensor')
        dims = ["batch"] + ["dim"] * (rank - 1)
        out = dims[attrs.get("start", 0) : attrs.get("end", rank)]
    elif op == "Gather" and attrs.get("axis", 0) == 0:
        picked = elements(1)
        source = elements(0)
        out = [source[int(i)] for i in picked]
    elif op in ("Unsqueeze", "Squeeze", "Cast", "Identity"):
        out = elements(0)
    elif op == "Concat" and attrs.get("axis", 0) == 0:
        out = [v for k in range(len(node.input)) for v in elements(k)]
    else:
        raise OnnxImportError(f'node "{name}" ({op}): is computed from a tensor\'s shape, '
                              "which is supported only for a Reshape to (batch, -1)")  # fmt: skip
    shapes[node.output[0]] = out


def _without_defaults(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` less those that hold their default, so a spec reads as one written by hand."""
    from engine.spec import LayerSpec, SpecError

    full = LayerSpec.create(type_name, **fields)
    kept = dict(fields)
    for name in list(fields):
        rest = {k: v for k, v in kept.items() if k != name}
        try:
            if LayerSpec.create(type_name, **rest).as_dict() == full.as_dict():
                kept = rest
        except (SpecError, ValueError, TypeError):
            pass  # a required field
    return kept


def _dropout_is_inference(node: OnnxNode) -> bool:
    mode = node.const(2, "training_mode")
    return mode is None or not bool(mode)


def _fold_bias(records, values, data, bias, consumers, node: OnnxNode) -> int:
    """An Add of a constant right after a MatMul-made dense layer: that layer's bias."""
    src = values[data[0]]
    r = records[src.layer] if src.layer >= 0 else None
    if (r is None or r.type != "dense" or r.fields.get("bias", True) or
            len(consumers.get(data[0], [])) != 1):  # fmt: skip
        raise node.unsupported("adding a constant is supported only as the bias of a MatMul "
                               "(a dense layer)")  # fmt: skip
    b = np.asarray(bias, np.float32).reshape(-1)
    if b.size == 1:
        b = np.full(r.fields["units"], b[0], np.float32)
    if b.size != r.fields["units"]:
        raise node.unsupported(f"a bias of {b.size} values for {r.fields['units']} units")
    r.fields["bias"] = True
    r.params["bias"] = b
    return src.layer


def _lp_chain(n, nodes, consts, consumers, node: OnnxNode, skip: set[int]):
    """Pow(x, p) → AveragePool → Mul(area) → Pow(1/p): an Lp pool with any p."""
    what = ("Pow is supported only as x^p → AveragePool → Mul(window area) → Pow(1/p), "
            "an Lp pool")  # fmt: skip
    p = node.const(1, "exponent")
    chain, name = [], node.proto.output[0]
    for op in ("AveragePool", "Mul", "Pow"):
        users = consumers.get(name, [])
        if p is None or len(users) != 1 or users[0].op_type != op:
            raise node.unsupported(what)
        chain.append(users[0])
        name = users[0].output[0]
    pool = OnnxNode(chain[0], consts, [4])
    kernel, stride, pad = pool.window()
    area_name = next((i for i in chain[1].input if i in consts), None)
    inv_name = chain[2].input[1] if len(chain[2].input) > 1 else None
    if area_name is None or pad != (0, 0) or inv_name not in consts:
        raise node.unsupported(what)
    if any(np.asarray(c).size != 1 for c in (p, consts[area_name], consts[inv_name])):
        raise node.unsupported(what + "; its exponents and area must be single numbers")
    p = _scalar(p)
    area, inverse = _scalar(consts[area_name]), _scalar(consts[inv_name])
    if not (np.isclose(area, kernel[0] * kernel[1]) and np.isclose(inverse * p, 1.0)):
        raise node.unsupported(what)
    where = [next(i for i, m in enumerate(nodes) if m is other) for other in chain]
    skip.update(where)
    return (float(f"{p:.7g}"), kernel, stride), where[-1]


def _scalar(a) -> float:
    return float(np.asarray(a).reshape(-1)[0])


def _ancestors(records, last: int) -> set[int]:
    keep, todo = set(), [last]
    while todo:
        i = todo.pop()
        if i < 0 or i in keep:
            continue
        keep.add(i)
        todo.extend(records[i].inputs)
    return keep


def _metadata(meta: dict[str, str], spec, notes: list[str]):
    """Preprocessing and class names from the model's metadata where it has them."""
    from engine.data import DatasetError, Preprocessing
    from engine.shapes import infer_shapes

    k = infer_shapes(spec).num_classes
    names: tuple[str, ...] = tuple(str(i) for i in range(k))
    raw = meta.get("class_names")
    if raw is not None:
        given = _json(raw)
        if isinstance(given, list) and len(given) == k and all(isinstance(c, str) for c in given):
            names = tuple(given)
        else:
            notes.append(f"metadata class_names is not a list of {k} names; classes are numbered")
    c, h, w = spec.input.shape
    pre = None
    if "cnn_workbench.preprocessing" in meta:
        try:
            record = _json(meta["cnn_workbench.preprocessing"])
            if not isinstance(record, dict):
                raise DatasetError(f"it is not a JSON object: {meta_text(record)}")
            pre = Preprocessing.from_dict(record)
            if pre.shape != (c, h, w):
                raise DatasetError(f"it is {pre.shape}, the input {(c, h, w)}")
        except (ValueError, DatasetError) as e:
            notes.append(f"metadata preprocessing left out ({e})")
            pre = None
    if pre is None and c in (1, 3):
        pre = Preprocessing(c, h, w)
        notes.append("no preprocessing in the model's metadata: pixels / 255, stretched")
    return (pre.to_dict() if pre is not None else None), names


def write_run(imported: Imported, out: str | os.PathLike[str]) -> Path:
    """Write ``imported`` as a run folder (our checkpoint format, epoch 0) into ``out``,
    after building the network and loading its weights (a mismatch raises, nothing is
    written). Returns the checkpoint folder."""
    import engine
    from engine.checkpoint import save_checkpoint
    from engine.network import StateDictError
    from engine.train_config import TrainConfig

    if imported.preprocessing is None:
        raise OnnxImportError("the model's input has neither 1 nor 3 channels; a run folder "
                              "needs image preprocessing")  # fmt: skip
    try:
        net = engine.build(imported.spec, weights=imported.weights)
    except StateDictError as e:
        raise OnnxImportError(f"the weights do not fit the network: {e}") from None
    return save_checkpoint(
        out,
        spec=imported.spec,
        config=TrainConfig(),
        preprocessing=imported.preprocessing,
        class_names=imported.class_names,
        epoch=0,
        batch=0,
        history={},
        weights=net.state_dict(),
        optimizer_state={},
        rng={"imported": "onnx"},
    )
