"""PyTorch project export: model.py gives the engine's logits for every preset and random
graphs with our state_dict names, weights.safetensors loads in the safetensors package and
torch, train.py runs under torchrun on 2 CPU processes (each on half the data) and writes a
run folder that `cnn-workbench predict`, load_checkpoint and the engine's resume open."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="pip install -e '.[test]' brings torch")
safetensors = pytest.importorskip("safetensors", reason="pip install -e '.[test]' brings it")

from safetensors.numpy import load_file as load_numpy  # noqa: E402
from safetensors.torch import load_file as load_torch  # noqa: E402
from test_onnx_export import random_graph, with_statistics  # noqa: E402

from engine.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from engine.commands.main import main  # noqa: E402
from engine.data import Preprocessing  # noqa: E402
from engine.interop.torch_module import torch_module  # noqa: E402
from engine.interop.torch_project import export_torch_project, torch_state  # noqa: E402
from engine.interop.torch_project_model import class_name, model_source, module_source  # noqa: E402
from engine.interop.torch_weights import read_weights, safetensors_bytes  # noqa: E402
from engine.network import build  # noqa: E402
from engine.spec import load_spec, preset_names  # noqa: E402
from engine.train_config import TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
TOLERANCE = 1e-4  # max |torch − engine| / max |engine| over a batch of logits
nn = torch.nn


def load_model(text: str, name: str):
    """The class ``name`` of model.py's ``text``, as a fresh module would define it."""
    scope: dict = {"__name__": "model"}
    exec(compile(text, "model.py", "exec"), scope)
    return scope[name]


def imports(text: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module.split(".")[0])
    return found


def gap(net, model, batch: int, seed: int = 0) -> float:
    x = np.random.default_rng(seed).standard_normal((batch, *net.spec.input.shape))
    x = x.astype(np.float32)
    ours = net.forward(x)
    with torch.no_grad():
        theirs = model.eval()(torch.from_numpy(x)).numpy()
    assert theirs.shape == ours.shape
    return float(np.abs(theirs - ours).max() / np.abs(ours).max())


def exported(net):
    """model.py's model with net's weights loaded strictly, as a user loads them."""
    text = model_source(net.spec)
    assert imports(text) == {"torch"}
    model = load_model(text, class_name(net.spec))()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state(net).items()})
    return text, model


# ---------------------------------------------------------------- logits


def test_every_bundled_preset_is_checked():
    assert len(preset_names()) >= 11  # the parametrisation below takes them all


@pytest.mark.slow
@pytest.mark.parametrize("name", preset_names())
def test_presets_at_their_input_size_give_the_engines_logits(name):
    # Batch 1 at 224 (densenet121 takes ~12 s of PyTorch's first pass here), 2 below.
    net = with_statistics(build(load_spec(name), seed=1))
    _, model = exported(net)
    assert gap(net, model, batch=1 if net.spec.input.height > 100 else 2) < TOLERANCE
    ours = {k: v.shape for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}  # fmt: skip
    assert theirs == ours
    assert isinstance(model, nn.Sequential) == net.spec.is_chain


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_give_the_engines_logits(seed):
    net = with_statistics(build(random_graph(seed), seed=seed), seed)
    for p in net.parameters().values():  # weights large enough that every path matters
        p *= 2
    _, model = exported(net)
    assert gap(net, model, batch=3, seed=seed) < TOLERANCE
    # It agrees with the interop module the benchmarks and gradient tests use.
    reference = torch_module(net).eval()
    assert [type(m) for m in model.modules()][1:] == [type(m) for m in reference.modules()][1:]
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, 3, 8, 8)).astype("f4"))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-6)


def test_random_graphs_cover_every_layer_type():
    from engine.layers import LAYER_TYPES

    assert {layer.type for s in range(10) for layer in random_graph(s).layers} == set(LAYER_TYPES)


# ---------------------------------------------------------------- the source


def test_layers_read_as_a_person_writes_them():
    assert module_source(nn.Conv2d(3, 16, 3, 1, 1, bias=False)) == (
        "nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)"
    )
    assert module_source(nn.Conv2d(3, 8, (3, 5), stride=2)) == (
        "nn.Conv2d(3, 8, kernel_size=(3, 5), stride=2)"
    )
    assert module_source(nn.MaxPool2d(2)) == "nn.MaxPool2d(2)"
    assert module_source(nn.MaxPool2d(3, 1, 1)) == "nn.MaxPool2d(3, stride=1, padding=1)"
    assert module_source(nn.BatchNorm2d(16, eps=1e-3, momentum=0.25)) == (
        "nn.BatchNorm2d(16, eps=0.001, momentum=0.25)"
    )
    assert module_source(nn.Linear(400, 120)) == "nn.Linear(400, 120)"
    assert module_source(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())) == (
        "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())"
    )
    assert module_source(nn.LeakyReLU(0.2)) == "nn.LeakyReLU(negative_slope=0.2)"
    with pytest.raises(ValueError, match=r"not a torch\.nn layer"):
        module_source(type("Mine", (nn.Module,), {})())


def test_a_chain_is_a_commented_sequential_and_a_graph_follows_its_wiring():
    text = model_source(load_spec("lenet5"))
    assert "class LeNet5(nn.Sequential):" in text
    assert (
        "# conv2d_0: 6×28×28, 156 parameters\n            nn.Conv2d(1, 6, kernel_size=5)," in text
    )
    graph = model_source(load_spec("resnet20"))
    assert "class ResNet20(nn.Module):" in graph
    assert "# block 2: conv2d_3 … s1b1_out; add_8 = s1b1_b_bn + stem_relu" in graph
    assert "x = x + stem_relu  # add_8" in graph
    assert max(len(line) for line in (text + graph).splitlines()) <= 99
    compile(graph, "model.py", "exec")


# ---------------------------------------------------------------- files


def test_the_project_of_a_spec_loads_in_safetensors_and_torch(tmp_path, capsys):
    out = tmp_path / "p"
    assert (
        main(["export", "resnet20", "--format", "pytorch", "--out", str(out), "--seed", "3"]) == 0
    )
    line = capsys.readouterr().out
    assert line.startswith(f"{out}: PyTorch project (ResNet20; initial: seed 3, untrained)")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.py", "weights.safetensors", "train.py", "spec.json", "README.md"]
    )
    net = build("resnet20", seed=3)
    numpy_side = load_numpy(str(out / "weights.safetensors"))
    torch_side = load_torch(str(out / "weights.safetensors"))
    ours = net.state_dict()
    for k, v in ours.items():
        np.testing.assert_array_equal(numpy_side[k], v)
        np.testing.assert_array_equal(torch_side[k].numpy(), v)
    assert set(read_weights(out / "weights.safetensors")) == set(numpy_side)
    with safetensors.safe_open(str(out / "weights.safetensors"), "np") as f:
        assert f.metadata()["weights"] == "initial: seed 3, untrained"
    sys.path.insert(0, str(out))
    try:
        import model as module  # the file itself, as train.py imports it
    finally:
        sys.path.remove(str(out))
        sys.modules.pop("model", None)
    assert Path(module.__file__).parent == out
    m = module.ResNet20()
    m.load_state_dict(torch_side)  # strict
    assert gap(net, m, batch=2) < TOLERANCE
    train = (out / "train.py").read_text(encoding="utf-8")
    scope = _train_constants(train)
    assert scope["CONFIG"] == TrainConfig().to_dict() and scope["CLASS_NAMES"] is None
    assert scope["PREPROCESSING"]["standardize"] is True and "mean" not in scope["PREPROCESSING"]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "torchrun --standalone --nproc-per-node=N train.py" in readme
    assert "--rdzv-endpoint=HOST:29500" in readme
    assert not list(out.glob(".*"))  # no temporaries left


def _train_constants(text: str) -> dict:
    """CONFIG, PREPROCESSING, CLASS_NAMES and FROZEN of train.py, read as literals."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("CONFIG", "PREPROCESSING", "CLASS_NAMES", "FROZEN"):
                out[name] = ast.literal_eval(node.value)
    return out


def run_folder(path: Path, config: TrainConfig, seed=5) -> Path:
    spec = load_spec("mnist-2conv")
    net = with_statistics(build(spec, seed=seed), seed)
    names = sorted(p.name for p in (SAMPLE / "train").iterdir())
    pre = Preprocessing(1, 28, 28, "stretch", "channel", True, (0.29,), (0.35,))
    save_checkpoint(path, spec=spec, config=config, preprocessing=pre.to_dict(),
                    class_names=names, epoch=3, batch=0, history={}, weights=net.state_dict(),
                    optimizer_state={})  # fmt: skip
    return path


def test_the_project_of_a_run_has_its_weights_settings_and_classes(tmp_path):
    config = TrainConfig(epochs=7, optimizer="adam", lr=0.002, schedule="cosine", seed=4,
                         augment=("flip",), loss="total_error")  # fmt: skip
    run = run_folder(tmp_path / "run", config)
    project = export_torch_project(run, tmp_path / "p")
    assert project.weights.startswith("trained: ") and "3 epochs" in project.weights
    ckpt = load_checkpoint(run)
    got = load_numpy(str(tmp_path / "p" / "weights.safetensors"))
    for k, v in ckpt.weights.items():
        np.testing.assert_array_equal(got[k], v)
    scope = _train_constants((tmp_path / "p" / "train.py").read_text(encoding="utf-8"))
    assert scope["CONFIG"] == config.to_dict()
    assert scope["CLASS_NAMES"] == list(ckpt.class_names)
    assert scope["PREPROCESSING"]["center"] == "channel"


def test_bad_sources_are_one_line_on_stderr(tmp_path, capsys):
    assert main(["export", "no-such-net", "--format", "pytorch", "--out", str(tmp_path / "p")]) == 1
    assert capsys.readouterr().err.startswith("cnn-workbench export: no-such-net: no such file")
    empty = tmp_path / "run"
    empty.mkdir()
    assert main(["export", str(empty), "--format", "pytorch", "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(empty) in err
    assert main(["export", "lenet5", "--format", "pytorch", "--probabilities",
                 "--out", str(tmp_path / "p")]) == 1  # fmt: skip
    assert "--probabilities is for --format onnx" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_the_safetensors_writer_refuses_what_the_format_cannot_hold():
    with pytest.raises(ValueError, match=r"'x'.*complex"):
        safetensors_bytes({"x": np.zeros(2, np.complex64)})
    with pytest.raises(ValueError, match="metadata 'n'"):
        safetensors_bytes({}, {"n": 1})
    data = safetensors_bytes({"a": np.arange(3, dtype=">f4")})  # big-endian in, little out
    assert safetensors.numpy.load(data)["a"].tolist() == [0.0, 1.0, 2.0]


# ---------------------------------------------------------------- torchrun


def test_train_py_under_torchrun_on_two_processes_writes_a_run_folder(
    tmp_path, monkeypatch, capsys
):
    project = tmp_path / "p"
    name = export_torch_project("mnist-2conv", project).class_name
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CNN_WORKBENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node=2", "train.py",
           "--data", str(SAMPLE), "--out", str(run), "--epochs", "1"]  # fmt: skip
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", env["CNN_WORKBENCH_CACHE"])
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    # 1,000 training images less the 10% validation: 450 each, the halves of 900.
    assert "900 training images" in out and "2 process(es) on cpu (gloo)" in out
    assert "epoch 1: rank 0 trained on 450 images, rank 1 trained on 450 images" in out
    assert out.count("epoch 1/1: loss") == 1  # rank 0 alone logs
    ckpt = load_checkpoint(run)
    assert ckpt.epoch == 1 and len(ckpt.history["val_accuracy"]) == 1
    assert ckpt.spec.to_dict() == load_spec("mnist-2conv").to_dict()
    assert ckpt.optimizer_state["kind"] == "sgd" and ckpt.optimizer_state["steps"] == 15
    assert "momentum_buffer/0.weight" in ckpt.optimizer_state
    assert ckpt.preprocessing["mean"] is not None  # measured on the training split
    # cnn-workbench predict opens it and agrees with model.py on the checkpoint's weights.
    image = sorted((SAMPLE / "test" / "Bag").iterdir())[0]
    entry = Path(sys.executable).with_name("cnn-workbench")
    start = [str(entry)] if entry.exists() else [sys.executable, "-m", "workbench.cli"]
    cli = [*start, "predict", str(run), str(image), "--json"]
    shown = subprocess.run(cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    probs = json.loads(shown.stdout)["predictions"][0]["probabilities"]
    from engine.data import apply_image

    x = apply_image(Preprocessing.from_dict(ckpt.preprocessing), image)[None]
    model = load_model((project / "model.py").read_text(encoding="utf-8"), name)()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in ckpt.weights.items()}, strict=False)
    with torch.no_grad():
        p = model.eval()(torch.from_numpy(x)).softmax(1)[0].numpy()
    np.testing.assert_allclose(p, probs, atol=1e-5)
    # Without torchrun (world size 1, as `python train.py`; here in this process), resumed
    # from that run up to 2 epochs.
    train = run_train_py(project, ["--data", str(SAMPLE), "--resume", str(run), "--epochs", "2"],
                         monkeypatch, capsys)  # fmt: skip
    assert "1 process(es) on cpu (one process)" in train
    assert "epoch 2: rank 0 trained on 900 images" in train
    resumed = load_checkpoint(run)
    assert resumed.epoch == 2 and resumed.history["epoch"] == [1, 2]
    assert resumed.optimizer_state["steps"] == 15 + 15


def run_train_py(project: Path, argv: list[str], monkeypatch, capsys) -> str:
    """Run the project's train.py main(argv) here; returns what it printed."""
    import importlib.util

    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "model", raising=False)
    spec = importlib.util.spec_from_file_location("exported_train", project / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop("model", None)
    capsys.readouterr()
    assert module.main(argv) == 0
    return capsys.readouterr().out
