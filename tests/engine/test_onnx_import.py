"""ONNX import: what the exporter writes comes back as the same spec and weights (export →
import → export gives the same model), a network built and exported by PyTorch gives the
same logits, the common equivalent patterns fold into one layer, and what cannot be
represented is named with its node while nothing is written."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="pip install -e '.[test]' brings onnx")
ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[test]' brings onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_onnx_export import random_graph, session, with_statistics  # noqa: E402

from engine.commands.main import main  # noqa: E402
from engine.data import Preprocessing  # noqa: E402
from engine.interop.onnx_export import onnx_model  # noqa: E402
from engine.interop.onnx_import import OnnxImportError, read_onnx  # noqa: E402
from engine.network import build  # noqa: E402

TOLERANCE = 1e-4


def exported(net, **kw):
    c, h, w = net.spec.input.shape
    pre = Preprocessing(c, h, w, "pad", "channel", True, (0.5,) * c, (0.25,) * c).to_dict()
    kw.setdefault("preprocessing", pre)
    kw.setdefault("class_names", [f"kind {k}" for k in range(net.num_classes)])
    return onnx_model(net, **kw)


def save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def imported_net(imp):
    net = build(imp.spec, seed=0)
    net.load_state_dict(imp.weights)
    return net


def fields(layer):
    """A layer's fields, with the padding resolved ("same" is written as its numbers)."""
    d = layer.as_dict()
    window = layer.kind.window(layer)
    if window is not None and "padding" in d:
        d["padding"] = window.padding
    return d


def same_layers(a, b):
    """Same types, fields and wiring (ids may be spelled differently)."""
    assert [layer.type for layer in a.layers] == [layer.type for layer in b.layers]
    assert [fields(layer) for layer in a.layers] == [fields(layer) for layer in b.layers]
    assert [a.inputs_of(i) for i in range(len(a.layers))] == [
        b.inputs_of(i) for i in range(len(b.layers))
    ]
    assert a.input == b.input


ROUND_TRIP = ["lenet5", "mnist-2conv", "resnet20", "inception-cifar", "densenet-cifar"]


@pytest.mark.parametrize("source", ROUND_TRIP + [f"random {s}" for s in range(20)])
def test_export_import_export_gives_the_same_model(source, tmp_path):
    if source.startswith("random"):
        spec = random_graph(int(source.split()[1]))
    else:
        spec = source
    net = with_statistics(build(spec, seed=2), 2)
    first = exported(net, probabilities=True)
    imp = read_onnx(save(first, tmp_path))
    same_layers(imp.spec, net.spec)
    assert imp.class_names == tuple(f"kind {k}" for k in range(net.num_classes))
    back = imported_net(imp)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)
    second = exported(back, probabilities=True)
    assert [n.op_type for n in second.graph.node] == [n.op_type for n in first.graph.node]
    assert [n.name for n in second.graph.node] == [n.name for n in first.graph.node]
    assert {m.key: m.value for m in second.metadata_props} == {
        m.key: m.value for m in first.metadata_props
    }
    c, h, w = net.spec.input.shape
    x = np.random.default_rng(1).standard_normal((2, c, h, w)).astype(np.float32)
    np.testing.assert_array_equal(session(second).run(None, {"image": x})[0],
                                  session(first).run(None, {"image": x})[0])  # fmt: skip


def test_a_pytorch_network_exported_by_torch_onnx_export_gives_the_same_logits(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.bn = nn.BatchNorm2d(6)
            self.branch = nn.Conv2d(6, 6, 3, padding=1, bias=False)
            self.side = nn.Conv2d(6, 4, 1)
            self.bn_cat = nn.BatchNorm2d(10)  # after the concat: nothing to fold it into
            self.fc = nn.Linear(10 * 4 * 4, 16)
            self.bn_fc = nn.BatchNorm1d(16)
            self.out = nn.Linear(16, 5)

        def forward(self, x):
            y = torch.relu(self.bn(self.stem(x)))
            y = torch.relu(self.branch(y) + y)  # residual add
            y = self.bn_cat(torch.cat([y, self.side(y)], 1))
            y = nn.functional.avg_pool2d(torch.sigmoid(y), 2)
            y = nn.functional.leaky_relu(self.bn_fc(self.fc(torch.flatten(y, 1))), 0.2)
            return self.out(nn.functional.dropout(torch.tanh(y), 0.3, self.training))

    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():
        for bn in (model.bn, model.bn_cat, model.bn_fc):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    model.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.randn(1, 3, 8, 8),), buf, dynamo=False,
                          input_names=["x"], output_names=["scores"],
                          dynamic_axes={"x": {0: "n"}, "scores": {0: "n"}})  # fmt: skip
    path = tmp_path / "torch.onnx"
    path.write_bytes(buf.getvalue())
    imp = read_onnx(path)
    types = [layer.type for layer in imp.spec.layers]
    assert {"add", "concat", "batch_norm", "dense", "leaky_relu"} <= set(types)
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        theirs = model(x).numpy()
    ours = imported_net(imp).forward(x.numpy())
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < TOLERANCE


def test_a_view_to_batch_by_minus_one_with_a_dynamic_batch_is_a_flatten(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            return self.fc(y.view(y.size(0), -1))  # Shape → Gather → Unsqueeze → Concat

    torch.manual_seed(1)
    model = Net().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 8, 8),), buf, dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
    path = tmp_path / "view.onnx"
    path.write_bytes(buf.getvalue())
    assert "Shape" in [n.op_type for n in onnx.load(str(path)).graph.node]
    imp = read_onnx(path)
    assert [layer.type for layer in imp.spec.layers] == ["conv2d", "relu", "flatten", "dense"]
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        theirs = model(x).numpy()
    np.testing.assert_allclose(imported_net(imp).forward(x.numpy()), theirs, rtol=1e-4,
                               atol=1e-5)  # fmt: skip


# ---------------------------------------------------------------- equivalent patterns


def graph_model(nodes, inits, shape=(1, 4, 4), out_dim=3, out="y", meta=None):
    g = helper.make_graph(
        nodes,
        "hand made",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", *shape])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", out_dim])],
        initializer=[
            numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta:
        helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def agrees(model, tmp_path, shape=(1, 4, 4)):
    imp = read_onnx(save(model, tmp_path))
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    theirs = session(model).run(None, {"x": x})[0]
    ours = imported_net(imp).forward(x)
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < TOLERANCE
    return imp


def test_matmul_and_add_become_one_dense_layer_with_its_bias(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="flatten_it"),
        helper.make_node("MatMul", ["flat", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["y"], name="bias"),
    ]
    inits = {"shape": np.array([0, -1]), "w": rng.standard_normal((16, 3)), "b": [1, 2, 3]}
    inits["shape"] = inits["shape"].astype(np.int64)
    g = helper.make_graph(
        nodes, "mm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[numpy_helper.from_array(inits["shape"], "shape"),
                     numpy_helper.from_array(inits["w"].astype(np.float32), "w"),
                     numpy_helper.from_array(np.asarray(inits["b"], np.float32), "b")],
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    imp = agrees(model, tmp_path)
    assert [layer.type for layer in imp.spec.layers] == ["flatten", "dense"]
    assert imp.spec.layers[1]["bias"] is True


def test_gemm_with_alpha_beta_and_an_untransposed_weight_after_a_squeezed_global_pool(tmp_path):
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "k"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["gap"], name="gap"),
        helper.make_node("Squeeze", ["gap", "axes"], ["v"], name="squeeze"),
        helper.make_node("Identity", ["v"], ["v2"], name="same"),
        helper.make_node("Gemm", ["v2", "w", "b"], ["y"], name="fc", alpha=2.0, beta=0.5),
    ]  # fmt: skip
    g = helper.make_graph(
        nodes, "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[numpy_helper.from_array(a, k) for k, a in {
            "k": rng.standard_normal((5, 1, 3, 3)).astype(np.float32),
            "axes": np.array([2, 3], np.int64),
            "w": rng.standard_normal((5, 3)).astype(np.float32),
            "b": np.array([1, -1, 2], np.float32)}.items()],
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    imp = agrees(model, tmp_path)
    assert [layer.type for layer in imp.spec.layers] == ["conv2d", "global_avg_pool", "dense"]


def test_same_padding_at_stride_one_is_symmetric_padding(tmp_path):
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "k"], ["c"], name="conv", kernel_shape=[3, 3],
                         auto_pad="SAME_UPPER"),
        helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[3, 3],
                         auto_pad="SAME_LOWER"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1),
    ]  # fmt: skip
    model = graph_model(nodes, {"k": rng.standard_normal((2, 1, 3, 3)),
                                "w": rng.standard_normal((3, 32))})  # fmt: skip
    imp = agrees(model, tmp_path)
    assert imp.spec.layers[0].kind.window(imp.spec.layers[0]).padding == (1, 1)


def test_a_sum_of_three_and_a_softmax_at_the_end(tmp_path):
    rng = np.random.default_rng(2)
    k = {f"k{i}": rng.standard_normal((2, 1, 1, 1)) for i in range(3)}
    nodes = [helper.make_node("Conv", ["x", f"k{i}"], [f"c{i}"], name=f"conv{i}",
                              kernel_shape=[1, 1]) for i in range(3)]  # fmt: skip
    nodes += [
        helper.make_node("Sum", ["c0", "c1", "c2"], ["s"], name="sum"),
        helper.make_node("Flatten", ["s"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "w"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="probs", axis=1),
    ]
    model = graph_model(nodes, {**k, "w": rng.standard_normal((3, 32))})
    imp = read_onnx(save(model, tmp_path))
    assert [layer.type for layer in imp.spec.layers][-3:] == ["add", "flatten", "dense"]
    assert any('"probs" (Softmax)' in note for note in imp.notes)
    x = np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)
    probs = session(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(imported_net(imp).predict_proba(x), probs, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- what cannot be represented


def refused(model, tmp_path):
    out = tmp_path / "run"
    path = save(model, tmp_path)
    assert main(["import", str(path), "--out", str(out)]) == 1
    assert not out.exists()  # nothing half-imported
    with pytest.raises(OnnxImportError) as e:
        read_onnx(path)
    return str(e.value)


def test_a_depthwise_convolution_is_named_with_its_node(tmp_path, capsys):
    nodes = [
        helper.make_node("Conv", ["x", "k"], ["c"], name="Conv_12", kernel_shape=[3, 3],
                         group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1),
    ]  # fmt: skip
    model = graph_model(nodes, {"k": np.ones((4, 1, 3, 3)), "w": np.ones((3, 64))}, (4, 4, 4))
    message = refused(model, tmp_path)
    assert message.endswith('node "Conv_12" (Conv): group=4 (depthwise convolution) is not '
                            "supported")  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'node "Conv_12"' in err


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (helper.make_node("Erf", ["x"], ["c"], name="erf_1"),
         'node "erf_1" (Erf): operator Erf is not supported (supported: '),
        (helper.make_node("MaxPool", ["x"], ["c"], name="mp", kernel_shape=[2, 2],
                          pads=[0, 0, 1, 1], strides=[1, 1]),
         'node "mp" (MaxPool): pads=[0, 0, 1, 1] differ at the start and the end'),
        (helper.make_node("MaxPool", ["x"], ["c"], name="mp", kernel_shape=[1, 1],
                          dilations=[2, 2]),
         'node "mp" (MaxPool): dilations=[2, 2] (dilated windows) is not supported'),
        (helper.make_node("MaxPool", ["x"], ["c"], name="mp", kernel_shape=[2, 2],
                          auto_pad="SAME_UPPER"),
         'node "mp" (MaxPool): auto_pad=SAME_UPPER is supported only at stride 1 with odd'),
        (helper.make_node("AveragePool", ["x"], ["c"], name="ap", kernel_shape=[3, 3],
                          pads=[1, 1, 1, 1]),
         'node "ap" (AveragePool): count_include_pad=0 with padding'),
        (helper.make_node("LpPool", ["x"], ["c"], name="lp", kernel_shape=[1, 1], p=1),
         'node "lp" (LpPool): p=1: ONNX\'s LpPool sums |x|^p'),
    ],
)  # fmt: skip
def test_unsupported_operators_and_attributes_name_the_node(node, words, tmp_path):
    nodes = [
        node,
        helper.make_node("Flatten", ["c"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1),
    ]
    model = graph_model(nodes, {"w": np.ones((3, 16))})  # each node keeps the 4x4 size
    assert words in refused(model, tmp_path)


def test_an_unreadable_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    assert main(["import", str(bad), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cnn-workbench import: {bad}: not an ONNX model")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- the run folder


def test_an_imported_run_folder_predicts_and_exports_like_any_other(tmp_path, capsys):
    from engine.checkpoint import load_checkpoint
    from engine.predict import Predictor

    net = with_statistics(build("mnist-2conv", seed=5), 5)
    model = exported(net)
    run = tmp_path / "imported"
    assert main(["import", str(save(model, tmp_path)), "--out", str(run)]) == 0
    assert "10 classes" in capsys.readouterr().out
    ckpt = load_checkpoint(run)
    assert ckpt.epoch == 0 and ckpt.class_names == tuple(f"kind {k}" for k in range(10))
    meta = {m.key: m.value for m in model.metadata_props}
    assert ckpt.preprocessing == json.loads(meta["cnn_workbench.preprocessing"])
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    got = Predictor(run).predict_arrays(x)
    np.testing.assert_allclose(np.stack([g.probabilities for g in got]), net.predict_proba(x),
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    again = tmp_path / "again.onnx"
    assert main(["export", str(run), "--out", str(again)]) == 0
    back = onnx.load(str(again))
    assert {m.key: m.value for m in back.metadata_props}["class_names"] == meta["class_names"]


def test_weights_in_an_external_file_are_refused_by_name(tmp_path):
    from onnx.external_data_helper import convert_model_to_external_data

    net = build("lenet5", seed=0)
    model = exported(net)
    convert_model_to_external_data(model, location="weights.bin", size_threshold=0)
    onnx.save(model, str(tmp_path / "ext.onnx"))
    with pytest.raises(OnnxImportError, match=r"initializer '0\.weight' lives in an external file"):
        read_onnx(tmp_path / "ext.onnx")
