"""PyTorch weights into a matching spec: safetensors and torch.save files, names and shapes
checked with every mismatch listed, and a pickle that asks for code refused unrun."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from torch import nn  # noqa: E402

from engine.blocks import GraphBuilder  # noqa: E402
from engine.commands.main import main  # noqa: E402
from engine.graph import INPUT  # noqa: E402
from engine.interop.torch_weights import WeightsError, match_weights, read_weights  # noqa: E402


def spec(filters=6, units=4):
    g = GraphBuilder()
    x = g.layer("conv2d", INPUT, "c1", filters=filters, kernel=3, padding=1, bias=False)
    x = g.layer("batch_norm", x, "bn")
    x = g.layer("relu", x, "r")
    x = g.layer("max_pool2d", x, "p", size=2)
    x = g.layer("flatten", x, "f")
    g.layer("dense", x, "fc", units=units)
    return g.spec((3, 8, 8), name="small")


class Theirs(nn.Module):
    """The same network as someone would write it, with their own names."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Linear(6 * 4 * 4, 4)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = Theirs()
    with torch.no_grad():
        bn = m.features[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
    return m.eval()


@pytest.mark.parametrize("form", ["safetensors", "torch.save"])
def test_their_weights_give_their_logits(form, model, tmp_path, capsys):
    from engine.predict import Predictor

    path = tmp_path / ("w.safetensors" if form == "safetensors" else "w.pt")
    if form == "safetensors":
        safetensors_torch.save_file(model.state_dict(), str(path))
    else:
        torch.save(model.state_dict(), path)
    spec_file = tmp_path / "small.json"
    spec().save(spec_file)
    run = tmp_path / "run"
    assert main(["import", str(path), "--spec", str(spec_file), "--out", str(run)]) == 0
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        theirs = torch.softmax(model(x), 1).numpy()
    ours = np.stack([p.probabilities for p in Predictor(run).predict_arrays(x.numpy())])
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_our_own_names_match_by_name(tmp_path):
    from engine.interop.torch_module import torch_module
    from engine.network import build

    net = build(spec(), seed=3)
    path = tmp_path / "ours.safetensors"
    safetensors_torch.save_file(torch_module(net).state_dict(), str(path))
    state = match_weights(spec(), read_weights(path))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(state[k], v)


def test_every_mismatch_is_listed_and_nothing_is_written(model, tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(model.state_dict(), str(path))
    wrong = tmp_path / "wrong.json"
    spec(filters=8, units=5).save(wrong)
    run = tmp_path / "run"
    assert main(["import", str(path), "--spec", str(wrong), "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not run.exists()
    for words in (
        "3 mismatches with the spec: ",
        "layer 0 (conv2d_0, conv2d) needs 0.weight (8, 3, 3, 3); the next such module in the "
        "file has features.0.weight (6, 3, 3, 3)",
        "layer 1 (batch_norm_1, batch_norm) needs 1.weight (8,), 1.bias (8,), "
        "1.running_mean (8,), 1.running_var (8,); the next such module in the file has "
        "features.1.bias (6,)",
        "layer 5 (dense_5, dense) needs 5.weight (5, 128), 5.bias (5,); the next such module "
        "in the file has classifier.bias (4,), classifier.weight (4, 96)",
    ):
        assert words in err, words
    assert main(["import", str(path), "--out", str(run)]) == 1
    assert "PyTorch weights need --spec SPEC" in capsys.readouterr().err


def test_a_pickle_that_asks_for_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"0.weight": Payload()}, protocol=2))
    path = tmp_path / "evil.pt"
    path.write_bytes(buf.getvalue())
    with pytest.raises(WeightsError, match=r"asks for (posix|os)\.system; only tensors"):
        read_weights(path)
    assert not marker.exists()


def test_a_crafted_safetensors_header_is_refused_with_the_file_named(tmp_path):
    import json
    import struct

    header = json.dumps({"0.weight": {"dtype": "F32", "shape": [60000, 60000],
                                      "data_offsets": [0, 16]}}).encode()  # fmt: skip
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(
        WeightsError, match=r"crafted\.safetensors: tensor '0\.weight': its offsets"
    ):
        read_weights(path)
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(WeightsError, match="its header claims 1000000000000 bytes"):
        read_weights(path)
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match="too short"):
        read_weights(path)
