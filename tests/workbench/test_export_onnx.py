"""File ▸ Export ▸ ONNX…: the open network, with the trained weights of its newest run where
one exists, checked by ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[test]' brings onnxruntime")
pytest.importorskip("onnx", reason="pip install -e '.[test]' brings onnx")


def logits(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"image": x})[0]


def choose(monkeypatch, target):
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))


def test_export_of_an_untrained_network_writes_its_initial_weights(make_window, monkeypatch,
                                                                   tmp_path):  # fmt: skip
    from engine.network import build

    window = make_window()
    menu = next(a for a in window.menuBar().actions() if a.text() == "&File").menu()
    export = next(a for a in menu.actions() if a.text() == "&Export").menu()
    assert export.actions() == [window.actionExportOnnx]
    choose(monkeypatch, tmp_path / "net")  # the suffix is added
    window.actionExportOnnx.trigger()
    path = tmp_path / "net.onnx"
    assert path.exists()
    assert "initial weights" in window.statusBar().currentMessage()
    net = build(window.document.spec, seed=0)
    x = np.random.default_rng(0).standard_normal((2, *net.spec.input.shape)).astype(np.float32)
    np.testing.assert_allclose(logits(path, x), net.forward(x), rtol=1e-4, atol=1e-5)


def test_export_after_a_run_writes_its_trained_weights(make_window, monkeypatch, tmp_path):
    from engine.checkpoint import save_checkpoint
    from engine.data import Preprocessing
    from engine.network import build
    from engine.train_config import TrainConfig

    window = make_window()
    spec = window.document.spec
    net = build(spec, seed=7)
    c, h, w = spec.input.shape
    folder = save_checkpoint(tmp_path / "run", spec=spec, config=TrainConfig(),
                             preprocessing=Preprocessing(c, h, w).to_dict(),
                             class_names=[str(k) for k in range(net.num_classes)], epoch=1,
                             batch=0, history={}, weights=net.state_dict(),
                             optimizer_state={})  # fmt: skip
    window.document.add_run({"id": "run-1", "started": "1", "spec": spec.to_dict(),
                             "config": TrainConfig().to_dict(), "data": "somewhere",
                             "status": "completed", "checkpoint": str(folder)})  # fmt: skip
    choose(monkeypatch, tmp_path / "trained.onnx")
    window.actionExportOnnx.trigger()
    assert "trained weights of run run-1" in window.statusBar().currentMessage()
    x = np.random.default_rng(1).standard_normal((2, c, h, w)).astype(np.float32)
    np.testing.assert_allclose(logits(tmp_path / "trained.onnx", x), net.forward(x), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_a_failed_export_says_why(make_window, monkeypatch, tmp_path, dialogs):
    window = make_window()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    choose(monkeypatch, blocker / "m.onnx")
    window.actionExportOnnx.trigger()
    assert str(blocker / "m.onnx") in dialogs.last
