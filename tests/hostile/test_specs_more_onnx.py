"""Hostile ONNX files through `cnn-workbench import`: every one ends in one line naming the
file (and the node, tensor or input at fault), never a traceback, a huge allocation or a
read of a file the model points to; and what is imported loads again as a run folder."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="pip install -e '.[test]' brings onnx")

from hostile_tools import assert_refused  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from engine.interop.onnx_import import OnnxImportError, read_onnx, write_run  # noqa: E402


def _model(nodes, inits, shape=(1, 1, 4, 4), outputs=("y",), opset=17):
    tensors = [
        v if isinstance(v, TensorProto) else numpy_helper.from_array(np.asarray(v, np.float32), k)
        for k, v in inits.items()
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 3]) for o in outputs],
        initializer=tensors,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _head(x="x"):
    return [helper.make_node("Flatten", [x], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)]  # fmt: skip


W = np.ones((3, 16))


def _tensor(name, dims, dtype=TensorProto.FLOAT, raw=None, external=None):
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    if raw is not None:
        t.raw_data = raw
    if external is not None:
        t.data_location = TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", external
    return t


def _with(node, inits=None):
    return _model([node, *_head("a")], {"w": W, **(inits or {})})


def _conv(**attrs):
    node = helper.make_node("Conv", ["x", "k"], ["a"], name="conv", kernel_shape=[1, 1], **attrs)
    return _model([node, *_head("a")], {"k": np.ones((1, 1, 1, 1)), "w": W})


def _no_outputs():
    m = _model(_head(), {"w": W})
    del m.graph.output[:]
    return m


def _long_class_names():
    m = _model(_head(), {"w": W})
    helper.set_model_props(m, {"class_names": "[" * 100_000})
    return m


# (id, model, words the one line must hold)
CASES = [
    ("empty-file", lambda: onnx.ModelProto(), "holds no graph"),
    ("no-outputs", _no_outputs, "no outputs"),
    ("dims-without-data", lambda: _model(_head(), {"w": _tensor("w", [10**6, 10**6])}),
     "initializer 'w' declares 1000000x1000000"),
    ("cut-short-raw-data", lambda: _model(_head(), {"w": _tensor("w", [3, 16], raw=b"\0" * 10)}),
     "initializer 'w' declares 3x16 (48 values)"),
    ("undefined-type", lambda: _model(_head(), {"w": _tensor("w", [3, 16], 0)}),
     "initializer 'w' has an unknown element type"),
    ("string-weights", lambda: _model(_head(), {"w": _tensor("w", [1], TensorProto.STRING)}),
     "initializer 'w' holds STRING values"),
    ("constant-outside-the-folder",
     lambda: _model([helper.make_node("Constant", [], ["w"], name="cst",
                                      value=_tensor("c", [3, 16], external="../../etc/passwd")),
                     *_head()], {}),
     'node "cst" (Constant) lives in an external file'),
    ("constant-absolute-path",
     lambda: _model([helper.make_node("Constant", [], ["w"], name="cst",
                                      value=_tensor("c", [3, 16], external="/etc/passwd")),
                     *_head()], {}),
     'node "cst" (Constant) lives in an external file'),
    ("opset-too-new", lambda: _model(_head(), {"w": W}, opset=99), "operator set 99 is newer"),
    ("opset-too-old", lambda: _model(_head(), {"w": W}, opset=1), "operator set 1 is older"),
    ("zero-channels", lambda: _model(_head(), {"w": W}, shape=(1, 0, 4, 4)),
     'input "x" has shape [1, 0, 4, 4]: channels: must be a positive integer'),
    ("billion-pixels", lambda: _model(_head(), {"w": W}, shape=(1, 1, 10**9, 4)),
     "height: must be at most 65536"),
    ("stride-zero", lambda: _conv(strides=[0, 0]),
     'node "conv" (Conv): conv2d.stride[0]: must be a positive integer, got 0'),
    ("negative-pads", lambda: _conv(pads=[-1, -1, -1, -1]),
     'node "conv" (Conv): conv2d.padding[0]: must be a non-negative integer'),
    ("one-stride", lambda: _conv(strides=[1]), 'node "conv" (Conv): conv2d.stride'),
    ("eps-zero", lambda: _with(
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["a"], name="bn",
                         epsilon=0.0), {k: np.ones(1) for k in "sbmv"}),
     'node "bn" (BatchNormalization): batch_norm.eps'),
    ("nan-slope", lambda: _with(helper.make_node("LeakyRelu", ["x"], ["a"], name="lr",
                                                 alpha=float("nan"))),
     'node "lr" (LeakyRelu): leaky_relu.slope: must be a number'),
    ("dropout-of-all", lambda: _with(helper.make_node("Dropout", ["x", "r"], ["a"], name="dr"),
                                     {"r": np.array(1.0)}),
     'node "dr" (Dropout): dropout.rate'),
    ("maxpool-given-weights", lambda: _model(
        [helper.make_node("MaxPool", ["x", "k", "b"], ["a"], name="mp", kernel_shape=[1, 1]),
         *_head("a")], {"k": np.ones((1, 1, 1, 1)), "b": np.ones(1), "w": W}),
     "not a valid ONNX model"),
    ("add-with-an-attribute-it-lacks", lambda: _model(
        [helper.make_node("Relu", ["x"], ["r"], name="r"),
         helper.make_node("Add", ["r", "x"], ["a"], name="add", alpha=2.0), *_head("a")],
        {"w": W}), "not a valid ONNX model"),
    ("lp-chain-of-vectors", lambda: _model(
        [helper.make_node("Pow", ["x", "p"], ["q"], name="pow"),
         helper.make_node("AveragePool", ["q"], ["m"], name="avg", kernel_shape=[1, 1]),
         helper.make_node("Mul", ["m", "area"], ["s"], name="mul"),
         helper.make_node("Pow", ["s", "inv"], ["a"], name="root"), *_head("a")],
        {"p": np.array([2.0, 3.0]), "area": np.array(1.0), "inv": np.array(0.5), "w": W}),
     'node "pow" (Pow)'),
    ("gemm-bias-of-5-for-3",
     lambda: _model([helper.make_node("Flatten", ["x"], ["f"], name="flat"),
                     helper.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1)],
                    {"w": W, "b": np.ones(5)}),
     'node "fc" (Gemm): a bias of 5 values for 3 units'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_onnx_file_is_one_line(tmp_path, cli, name, make, words):
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(make().SerializeToString())
    out = tmp_path / "run"
    line = assert_refused(cli("import", path, "--out", out), str(path))
    assert words in line
    assert not out.exists()


def test_metadata_nested_deeply_is_left_out_with_a_note(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_long_class_names().SerializeToString())
    imported = read_onnx(path)
    assert imported.class_names == ("0", "1", "2")
    assert any("class_names" in note for note in imported.notes)


def test_a_long_node_name_on_a_branch_gives_a_run_folder_that_opens(tmp_path):
    from engine.checkpoint import load_checkpoint

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="a" * 300),
             helper.make_node("Add", ["r", "x"], ["s"], name="add"), *_head("s")]  # fmt: skip
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(nodes, {"w": W}).SerializeToString())
    imported = read_onnx(path)
    ids = [layer.id for layer in imported.spec.layers if layer.id]
    assert ids and all(len(i) <= 100 for i in ids)
    write_run(imported, tmp_path / "run")
    assert load_checkpoint(tmp_path / "run").spec == imported.spec


def test_the_refusal_is_an_onnx_import_error_for_the_gui_too(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_no_outputs().SerializeToString())
    with pytest.raises(OnnxImportError, match="no outputs"):
        read_onnx(path)
