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
    assert export.actions() == [window.actionExportOnnx, window.actionExportPytorch]
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


def test_import_model_makes_its_network_the_open_one_with_its_weights(make_window, monkeypatch,
                                                                      tmp_path):  # fmt: skip
    from engine.data import Preprocessing
    from engine.interop.onnx_export import onnx_model, write_onnx
    from engine.network import build

    window = make_window()
    window.training.runs_root = tmp_path / "runs"
    net = build("resnet20", seed=9)
    names = [f"kind {k}" for k in range(10)]
    model = onnx_model(net, preprocessing=Preprocessing(3, 32, 32).to_dict(), class_names=names)
    write_onnx(model, tmp_path / "r20.onnx")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(tmp_path / "r20.onnx"), ""))  # fmt: skip
    file_menu = next(a for a in window.menuBar().actions() if a.text() == "&File").menu()
    assert window.actionImportModel in file_menu.actions()
    window.actionImportModel.trigger()
    assert "Imported r20.onnx: " in window.statusBar().currentMessage()
    assert [layer.type for layer in window.document.spec.layers] == [
        layer.type for layer in net.spec.layers
    ]
    (run,) = window.document.runs
    assert run["status"] == "completed" and run["checkpoint"].startswith(str(tmp_path / "runs"))
    window.document.undo_stack.undo()  # the import is one undoable edit
    assert window.document.spec != net.spec
    window.document.undo_stack.redo()
    choose(monkeypatch, tmp_path / "again.onnx")
    window.actionExportOnnx.trigger()
    assert "trained weights of run imported-" in window.statusBar().currentMessage()
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(logits(tmp_path / "again.onnx", x), net.forward(x), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_a_refused_import_names_the_node_and_changes_nothing(make_window, tmp_path, dialogs):
    import onnx
    from onnx import TensorProto, helper

    from workbench.model_files import import_model_dialog

    window = make_window()
    before = window.document.spec
    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name="erf_7")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, 4, 4])],
    )  # fmt: skip
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert import_model_dialog(window, str(path)) is None
    assert 'node "erf_7" (Erf): operator Erf is not supported' in dialogs.last
    assert window.document.spec == before and not window.document.runs
