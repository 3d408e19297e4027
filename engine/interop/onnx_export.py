"""ONNX export of a network (spec and weights), written with the ``onnx`` helper API.

    model = onnx_model(net, preprocessing=pre.to_dict(), class_names=names)
    write_onnx(model, "model.onnx")

The graph follows the spec's: one node per layer where ONNX has the operator (each layer
type writes itself, ``LayerDef.to_onnx`` in ``engine/layers/``), named by the layer's id,
with parameters as initializers under their state-dict names ("3.weight"). Input ``image``
float32 (batch, C, H, W) with a dynamic batch dimension; output ``logits`` (batch, classes),
and optionally ``probabilities`` (their softmax). ``metadata_props`` carry what a user needs
to feed the model (see :func:`preprocessing_metadata`), and the class names.

The onnx package is imported when this module is; the rest of the engine never needs it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.interop.export_source import load_source
from engine.io import atomic_write_bytes, size_text
from engine.shapes import infer_shapes

__all__ = [
    "INPUT_NAME",
    "LOGITS_NAME",
    "OPSET",
    "PROBABILITIES_NAME",
    "OnnxGraph",
    "export_onnx",
    "load_source",
    "onnx_model",
    "preprocessing_metadata",
    "write_onnx",
]

#: Opset 17 (ONNX 1.12, 2022): every operator we write is in its final form there, and ONNX
#: Runtime, OpenCV's dnn module, TensorRT 8.5+ and the mobile runtimes all read it; newer
#: opsets change nothing we use but lock out older runtimes.
OPSET = 17
INPUT_NAME = "image"
LOGITS_NAME = "logits"
PROBABILITIES_NAME = "probabilities"
#: metadata_props keys: the readable recipe, the class names, and our own preprocessing
#: record (what `cnn-workbench import` restores exactly).
META_PREPROCESSING = "preprocessing"
META_CLASSES = "class_names"
META_NATIVE = "cnn_workbench.preprocessing"
META_WEIGHTS = "weights"
#: protobuf refuses to serialise a message of 2 GiB or more.
_PROTOBUF_LIMIT = 2**31 - 1


class OnnxGraph:
    """The graph being written: nodes, initializers, unique names. Layers call :meth:`node`,
    :meth:`param` and :meth:`constant` from their ``to_onnx`` while :meth:`layer` says whose
    turn it is."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        # Tensor names are one namespace: a layer whose id is "0.weight" must not name its
        # output like the initializer of that name (ONNX requires every name assigned once).
        self._names: set[str] = {INPUT_NAME, LOGITS_NAME, PROBABILITIES_NAME, *state}
        self._position = -1
        self._stem = ""

    def layer(self, position: int, stem: str) -> None:
        self._position, self._stem = position, self._unique(stem)

    def _unique(self, name: str) -> str:
        base, k = name, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def node(self, op: str, inputs: Sequence[str], suffix: str | None = None, **attrs: Any) -> str:
        """Add one node named after the layer (``layer/suffix`` for a helper node); its one
        output tensor has the node's name, which is returned."""
        name = self._stem if suffix is None else self._unique(f"{self._stem}/{suffix}")
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, **attrs))
        return name

    def param(self, name: str) -> str:
        """The current layer's parameter or buffer ``name`` as an initializer "{pos}.{name}"."""
        key = f"{self._position}.{name}"
        if key not in self.initializers:
            if key not in self.state:
                raise KeyError(f"layer {self._position} ({self._stem}) has no {name!r}")
            array = np.ascontiguousarray(self.state[key], dtype=np.float32)
            self.initializers[key] = numpy_helper.from_array(array, key)
        return key

    def constant(self, name: str, value: np.ndarray | np.generic) -> str:
        """A constant of the current layer, as an initializer "{layer}/{name}"."""
        key = self._unique(f"{self._stem}/{name}")
        self.initializers[key] = numpy_helper.from_array(np.asarray(value), key)
        return key


def preprocessing_metadata(pre: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe a user follows to feed the model, from our preprocessing record ``pre``
    (``engine.data.Preprocessing.to_dict()``): convert to ``color`` ("L" or "RGB"), fit to
    ``width`` × ``height`` by ``resize`` ("stretch", "pad" on black keeping the aspect, or
    "crop" at the centre) with bilinear resampling, then as float32 in C, H, W order:
    x = (pixels · scale − mean) / std, with ``mean`` and ``std`` reshaped to ``stats_shape``
    ([C, 1, 1] per channel or [C, H, W] per pixel)."""
    from engine.data import Preprocessing

    p = Preprocessing.from_dict(dict(pre))
    stats = [p.channels, p.height, p.width] if p.center == "pixel" else [p.channels, 1, 1]
    size = int(np.prod(stats))
    return {
        "layout": "NCHW",
        "channels": p.channels,
        "color": "L" if p.channels == 1 else "RGB",
        "height": p.height,
        "width": p.width,
        "resize": p.resize,
        "resample": "bilinear",
        "scale": 1.0 / 255.0,
        "mean": list(p.mean) if p.mean is not None else [0.0] * size,
        "std": list(p.std) if p.std is not None else [1.0] * size,
        "stats_shape": stats,
    }


def onnx_model(
    net,
    *,
    preprocessing: Mapping[str, Any] | None,
    class_names: Sequence[str],
    probabilities: bool = False,
    weights: str = "",
    opset: int = OPSET,
) -> onnx.ModelProto:
    """The ONNX model of ``net`` (an engine Network, its current weights), checked with
    ``onnx.checker``. ``preprocessing``: our preprocessing record for the metadata (None for
    an input that is not an image: neither 1 nor 3 channels); ``class_names``: one per
    output; ``weights``: a line saying where the weights come from. Raises ValueError for a
    network whose shapes do not work out."""
    spec = net.spec
    report = infer_shapes(spec)
    if not report.ok:
        raise ValueError(f"the network has problems: {report.problems[0].message}")
    if len(class_names) != net.num_classes:
        raise ValueError(f"{len(class_names)} class names for {net.num_classes} outputs")
    g = OnnxGraph(net.state_dict())
    outs: dict[int, str] = {-1: INPUT_NAME}
    ids = spec.wiring.ids
    for i, layer in enumerate(spec.layers):
        g.layer(i, ids[i])
        xs = [outs[j] for j in spec.inputs_of(i)]
        outs[i] = layer.kind.to_onnx(layer, g, xs, list(report.rows[i].input_shapes))
    last = outs[len(spec.layers) - 1]
    for node in g.nodes:  # the last layer's output is named "logits"
        node.output[:] = [LOGITS_NAME if o == last else o for o in node.output]
    c, h, w = spec.input.shape
    k = net.num_classes
    outputs = [helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["batch", k])]
    if probabilities:
        g.nodes.append(helper.make_node("Softmax", [LOGITS_NAME], [PROBABILITIES_NAME],
                                        name="softmax", axis=1))  # fmt: skip
        outputs.append(
            helper.make_tensor_value_info(PROBABILITIES_NAME, TensorProto.FLOAT, ["batch", k])
        )
    graph = helper.make_graph(
        g.nodes,
        spec.name or "network",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", c, h, w])],
        outputs,
        initializer=list(g.initializers.values()),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="cnn-workbench",
        producer_version=_version(),
        doc_string=spec.description or spec.name,
    )
    model.ir_version = min(model.ir_version, 8)  # what opset 17's runtimes read
    meta = {META_CLASSES: json.dumps(list(class_names))}
    if preprocessing is not None:
        meta[META_PREPROCESSING] = json.dumps(preprocessing_metadata(preprocessing))
        meta[META_NATIVE] = json.dumps(dict(preprocessing))
    if weights:
        meta[META_WEIGHTS] = weights
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def write_onnx(model: onnx.ModelProto, path: str | os.PathLike[str]) -> int:
    """Write ``model`` to ``path`` atomically; returns its size in bytes. Raises ValueError
    for a model over protobuf's 2 GiB limit, OSError when the disk refuses."""
    size = model.ByteSize()
    if size > _PROTOBUF_LIMIT:
        raise ValueError(
            f"the model is {size_text(size)}; an ONNX file holds at most 2 GiB "
            "(external weight files are not written)"
        )
    atomic_write_bytes(path, model.SerializeToString())
    return size


def export_onnx(source, out, *, seed: int = 0, probabilities: bool = False,
                opset: int = OPSET) -> onnx.ModelProto:  # fmt: skip
    """Load ``source`` (:func:`load_source`), write its ONNX model to ``out`` atomically and
    return the model."""
    net, pre, names, where = load_source(source, seed)
    model = onnx_model(net, preprocessing=pre, class_names=names, probabilities=probabilities,
                       weights=where, opset=opset)  # fmt: skip
    write_onnx(model, out)
    return model


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cnn-workbench")
    except Exception:  # running from a checkout that was never installed
        return ""
