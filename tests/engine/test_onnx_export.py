"""ONNX export checked by ONNX Runtime: every preset and random graphs give the engine's logits,
onnx.checker passes, the metadata carries the preprocessing and class names, and the README's
ONNX Runtime example classifies the sample images as `cnn-workbench predict` does."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="pip install -e '.[test]' brings onnx")
ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[test]' brings onnxruntime")

from engine.blocks import GraphBuilder  # noqa: E402
from engine.checkpoint import save_checkpoint  # noqa: E402
from engine.commands.main import main  # noqa: E402
from engine.data import Preprocessing  # noqa: E402
from engine.graph import INPUT  # noqa: E402
from engine.interop.onnx_export import onnx_model  # noqa: E402
from engine.network import build  # noqa: E402
from engine.spec import load_spec  # noqa: E402
from engine.train_config import TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample" / "test"
TOLERANCE = 1e-4  # max |ORT − engine| / max |engine| over a batch of logits

#: Every bundled preset at its own input size, but AlexNet and VGG-16 at a smaller one: at
#: 227 and 224 their 62M and 138M parameters take 14 s and 27 s here (they agreed within
#: 1.0e-6 and 1.2e-6 when measured once); the smaller input keeps every layer and only
#: shrinks the first dense layer.
PRESETS = {
    "lenet5": None,
    "mnist-2conv": None,
    "alexnet": 67,  # 67 → 15 → 7 → 7 → 3 → 3 → 3 → 3 → 1: every size whole
    "vgg16": 32,
    "resnet20": None,
    "resnet18": None,
    "resnet50": None,
    "googlenet": None,
    "inception-cifar": None,
    "densenet121": None,
    "densenet-cifar": None,
    "fashion": None,
}


def test_every_bundled_preset_is_listed():
    from engine.spec import preset_names

    assert set(preset_names()) == set(PRESETS)


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def with_statistics(net, seed=0):
    """Non-trivial batch norm statistics and biases, so every term is exercised."""
    rng = np.random.default_rng(seed)
    state = net._state_arrays()
    for k, v in state.items():
        if k.endswith("running_var"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)
        elif k.endswith(("running_mean", ".bias")):
            v[...] = rng.uniform(-0.2, 0.2, v.shape)
    return net


def export(net, **kw):
    c, h, w = net.spec.input.shape
    kw.setdefault("preprocessing", Preprocessing(c, h, w).to_dict())
    kw.setdefault("class_names", [f"class {k}" for k in range(net.num_classes)])
    model = onnx_model(net, **kw)
    onnx.checker.check_model(model, full_check=True)
    return model


def relative_gap(net, model, batch=2, seed=0):
    c, h, w = net.spec.input.shape
    x = np.random.default_rng(seed).standard_normal((batch, c, h, w)).astype(np.float32)
    ours = net.forward(x)
    theirs = session(model).run(["logits"], {"image": x})[0]
    assert theirs.shape == ours.shape
    return float(np.abs(theirs - ours).max() / np.abs(ours).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_presets_give_the_engines_logits_in_onnx_runtime(name):
    spec = load_spec(name)
    if PRESETS[name]:
        spec = spec.with_input(height=PRESETS[name], width=PRESETS[name])
    net = with_statistics(build(spec, seed=1))
    model = export(net)
    assert relative_gap(net, model) < TOLERANCE


# ---------------------------------------------------------------- random graphs


def _layer(g: GraphBuilder, rng: random.Random, x: str, tag: str, filters: int = 3) -> str:
    """One random layer that keeps the height and width (a conv gives ``filters`` maps)."""
    kind = rng.choice(["conv", "conv", "relu", "leaky", "tanh", "sigmoid", "bn", "drop", "pool"])
    if kind == "conv":
        k = rng.choice([1, 3])
        return g.layer("conv2d", x, tag, filters=filters, kernel=k,
                       padding=rng.choice([k // 2, "same"]), bias=rng.random() < 0.7)  # fmt: skip
    if kind == "leaky":
        return g.layer("leaky_relu", x, tag, slope=rng.choice([0.01, 0.2]))
    if kind == "bn":
        return g.layer("batch_norm", x, tag, eps=rng.choice([1e-5, 1e-3]))
    if kind == "drop":
        return g.layer("dropout", x, tag, rate=0.3)
    if kind == "pool":  # windows that keep the size (LpPool has no padding: size 1)
        pool = rng.choice(["max_pool2d", "avg_pool2d", "lp_pool2d"])
        if pool == "lp_pool2d":
            return g.layer(pool, x, tag, p=2.0, size=1)
        return g.layer(pool, x, tag, size=3, stride=1, padding=1)
    return g.layer({"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}[kind], x, tag)


def random_graph(seed: int):
    """Residual adds of two or three inputs, concatenations, shared outputs, every
    layer type, strided and padded windows, and either head."""
    rng = random.Random(seed)
    g = GraphBuilder()
    x = g.layer("conv2d", INPUT, "stem", filters=3, kernel=3, padding=1)
    channels = 3  # every block ends in 3 maps
    for b in range(rng.randint(2, 4)):
        kind = rng.choice(["add", "add3", "concat", "chain", "sigmoid_lp"])
        tag = f"b{b}"
        if kind in ("add", "add3"):
            branches = [x]
            for k in range(2 if kind == "add" else 1):
                y = _layer(g, rng, x, f"{tag}_{k}a", rng.randint(2, 4))
                branches.append(g.layer("conv2d", y, f"{tag}_{k}p", filters=channels, kernel=1))
            if kind == "add3":
                y = g.layer("conv2d", x, f"{tag}_3", filters=channels, kernel=3, padding=1)
                branches.append(y)
            x = g.layer("add", branches, tag + "add")
        elif kind == "concat":
            left = _layer(g, rng, x, tag + "l", rng.randint(1, 3))
            right = g.layer("conv2d", x, tag + "r", filters=2, kernel=3, padding=1)
            x = g.layer("concat", [left, x, right], tag + "cat")
            x = g.layer("conv2d", x, tag + "mix", filters=3, kernel=1)
        elif kind == "sigmoid_lp":
            # An odd or fractional p needs non-negative inputs (else NaN, here and in PyTorch).
            x = g.layer("sigmoid", x, tag + "s")
            x = g.layer("lp_pool2d", x, tag + "lp", p=rng.choice([1.0, 3.0, 1.5, 2.0]), size=2,
                        stride=1)  # fmt: skip
        else:
            x = _layer(g, rng, x, tag + "c")
            x = _layer(g, rng, x, tag + "d")
    if rng.random() < 0.5:
        x = g.layer("conv2d", x, "down", filters=4, kernel=3, stride=2, padding=1)
    else:
        x = g.layer("max_pool2d", x, "down", size=3, stride=2)
    x = g.layer(rng.choice(["global_avg_pool", "flatten"]), x, "head")
    x = g.layer("dense", x, "fc1", units=5)
    x = g.layer(rng.choice(["relu", "batch_norm", "dropout"]), x, "fc1_act")
    g.layer("dense", x, "fc2", units=3)
    # Floor rounding (PyTorch's and ONNX's), so a stride-2 window over an even size works.
    return g.spec((3, 8, 8), name=f"random graph {seed}", rounding="floor")


@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_give_the_engines_logits_in_onnx_runtime(seed):
    net = with_statistics(build(random_graph(seed), seed=seed), seed)
    for p in net.parameters().values():  # weights large enough that every path matters
        p *= 2
    model = export(net)
    assert relative_gap(net, model, batch=3, seed=seed) < TOLERANCE


def test_random_graphs_cover_every_layer_type():
    from engine.layers import LAYER_TYPES

    seen = {layer.type for s in range(20) for layer in random_graph(s).layers}
    assert seen == set(LAYER_TYPES)
    p = {layer["p"] for s in range(20) for layer in random_graph(s).layers
         if layer.type == "lp_pool2d"}  # fmt: skip
    assert {2.0, 1.0, 3.0, 1.5} <= p


# ---------------------------------------------------------------- the model's form


def test_one_node_per_layer_named_by_its_id_with_readable_io_and_a_dynamic_batch():
    net = build("lenet5", seed=0)
    model = export(net, probabilities=True)
    graph = model.graph
    assert [n.op_type for n in graph.node] == [layer.kind.onnx for layer in net.spec.layers] + [
        "Softmax"
    ]
    assert [n.name for n in graph.node][:-1] == list(net.spec.wiring.ids)
    assert model.opset_import[0].version >= 17
    (inp,) = graph.input
    assert inp.name == "image"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 32, 32]
    assert [o.name for o in graph.output] == ["logits", "probabilities"]
    assert {i.name for i in graph.initializer} == set(net.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 1, 32, 32)).astype(np.float32)
    logits, probs = session(model).run(None, {"image": x})
    np.testing.assert_allclose(logits, net.forward(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs, net.predict_proba(x), rtol=1e-4, atol=1e-6)
    one = session(model).run(["logits"], {"image": x[:1]})[0]
    np.testing.assert_allclose(one, logits[:1], rtol=1e-5, atol=1e-6)


def test_batch_norm_is_in_inference_form_and_keeps_eps_and_momentum():
    g = GraphBuilder()
    x = g.layer("conv2d", INPUT, "c", filters=2, kernel=3)
    x = g.layer("batch_norm", x, "bn", eps=1e-3, momentum=0.25)
    x = g.layer("flatten", x, "f")
    g.layer("dense", x, "fc", units=2)
    net = with_statistics(build(g.spec((1, 5, 5)), seed=0))
    model = export(net)
    (bn,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in bn.attribute}
    assert attrs["epsilon"] == pytest.approx(1e-3) and attrs["momentum"] == pytest.approx(0.75)
    assert len(bn.output) == 1  # no training outputs
    assert relative_gap(net, model) < TOLERANCE


# ---------------------------------------------------------------- run folders and the README


def run_folder(tmp_path, spec, pre: Preprocessing, seed=3):
    net = with_statistics(build(spec, seed=seed), seed)
    names = sorted(p.name for p in SAMPLE.iterdir())
    save_checkpoint(tmp_path, spec=net.spec, config=TrainConfig(), preprocessing=pre.to_dict(),
                    class_names=names, epoch=2, batch=0, history={}, weights=net.state_dict(),
                    optimizer_state={})  # fmt: skip
    return tmp_path


def small_rgb(h, w):
    g = GraphBuilder()
    x = g.layer("conv2d", INPUT, "c1", filters=4, kernel=3, padding=1)
    x = g.layer("relu", x, "r1")
    x = g.layer("max_pool2d", x, "p1", size=2)
    x = g.layer("flatten", x, "f")
    g.layer("dense", x, "fc", units=10)
    return g.spec((3, h, w), name="small rgb")


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- onnx-example -->\n```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ONNX Runtime example after <!-- onnx-example -->"
    return m.group(1)


CASES = {
    "gray 28x28, channel mean/std": lambda: (
        load_spec("mnist-2conv"),
        Preprocessing(1, 28, 28, "stretch", "channel", True, (0.286,), (0.353,)),
    ),
    "rgb 32x32 stretched, pixel mean": lambda: (
        small_rgb(32, 32),
        Preprocessing(
            3, 32, 32, "stretch", "pixel", False, tuple(np.linspace(0.1, 0.6, 3 * 32 * 32))
        ),
    ),
    "rgb 20x36 padded, channel mean/std": lambda: (
        small_rgb(20, 36),
        Preprocessing(3, 20, 36, "pad", "channel", True, (0.2, 0.3, 0.4), (0.5, 0.25, 0.3)),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_readme_example_classifies_the_sample_images_as_predict_does(
    case, tmp_path, capsys, monkeypatch
):
    from engine.predict import Predictor

    spec, pre = CASES[case]()
    run = run_folder(tmp_path / "run", spec, pre)
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert "ONNX opset 17" in capsys.readouterr().out
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    predictor = Predictor(run)
    assert json.loads(meta["class_names"]) == list(predictor.class_names)
    recipe = json.loads(meta["preprocessing"])
    assert recipe["resize"] == pre.resize and recipe["channels"] == pre.channels
    assert meta["weights"].startswith("trained: ") and "2 epochs" in meta["weights"]
    code = compile(readme_example(), "README.md", "exec")
    if pre.channels == 1:  # every sample test image (their own size, 28x28 gray)
        images = sorted(SAMPLE.glob("*/*.png"))
        assert len(images) == 200
    else:  # resized and converted: one per class
        images = [sorted((SAMPLE / c).iterdir())[0] for c in predictor.class_names]
    for image in images:
        monkeypatch.setattr(sys, "argv", ["classify.py", str(out), str(image)])
        scope: dict = {}
        exec(code, scope)
        printed = capsys.readouterr().out.strip()
        ours = predictor.predict_image(image, top=1)
        np.testing.assert_allclose(scope["p"], ours.probabilities, atol=2e-6)
        assert printed == f"{ours.label} {ours.top[0][1]:.2%}"


def test_export_of_a_spec_uses_the_seeds_initial_weights(tmp_path, capsys):
    out = tmp_path / "r.onnx"
    assert main(["export", "resnet20", "--out", str(out), "--seed", "4", "--probabilities"]) == 0
    model = onnx.load(str(out))
    net = build("resnet20", seed=4)
    assert relative_gap(net, model) < TOLERANCE
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["weights"] == "initial: seed 4, untrained"
    assert json.loads(meta["class_names"]) == [str(k) for k in range(10)]
    assert json.loads(meta["preprocessing"])["mean"] == [0.0, 0.0, 0.0]
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_bad_sources_are_one_line_on_stderr(tmp_path, capsys):
    assert main(["export", "no-such-net", "--out", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnn-workbench export: no-such-net: no such file or preset")
    empty = tmp_path / "run"
    empty.mkdir()
    assert main(["export", str(empty), "--out", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(empty) in err
    assert not (tmp_path / "m.onnx").exists()
