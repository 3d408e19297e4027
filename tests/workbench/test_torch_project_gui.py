"""File ▸ Export ▸ PyTorch project…: the open network as a PyTorch project folder (model.py
gives its logits), with the trained weights and settings of its newest run; a run folder
that the exported train.py writes reopens in the window's run history."""

from __future__ import annotations

import ast
import importlib.util
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

torch = pytest.importorskip("torch", reason="pip install -e '.[test]' brings torch")
from safetensors.torch import load_file  # noqa: E402

from workbench.model_files import install_pytorch_export  # noqa: E402

FILES = ["README.md", "model.py", "spec.json", "train.py", "weights.safetensors"]


def choose_folder(monkeypatch, folder):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))


def export_menu(window):
    file_menu = next(a for a in window.menuBar().actions() if a.text() == "&File").menu()
    return next(a for a in file_menu.actions() if a.text() == "&Export").menu()


def pytorch_action(window):
    """File ▸ Export ▸ PyTorch project…, found in the menu as a person finds it."""
    install_pytorch_export(window)  # what window_menus does once it lists the action
    (action,) = [a for a in export_menu(window).actions()
                 if a.objectName() == "actionExportPytorch"]  # fmt: skip
    assert action.text() == "&PyTorch project…"
    return action


def load_model(folder, name):
    spec = importlib.util.spec_from_file_location(f"model_{id(folder)}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, name)()
    model.load_state_dict(load_file(str(folder / "weights.safetensors")))
    return model.eval()


def test_export_writes_a_project_whose_model_gives_the_networks_logits(make_window, monkeypatch,
                                                                       tmp_path):  # fmt: skip
    from engine.interop.torch_project_model import class_name
    from engine.network import build

    window = make_window()
    action = pytorch_action(window)
    assert export_menu(window).actions()[0] is window.actionExportOnnx  # PyTorch comes next
    out = tmp_path / "project"
    out.mkdir()
    choose_folder(monkeypatch, out)
    action.trigger()
    assert sorted(p.name for p in out.iterdir()) == FILES
    message = window.statusBar().currentMessage()
    assert str(out) in message and "initial weights" in message
    spec = window.document.spec
    net = build(spec, seed=0)
    x = np.random.default_rng(0).standard_normal((2, *spec.input.shape)).astype(np.float32)
    with torch.no_grad():
        theirs = load_model(out, class_name(spec))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, net.forward(x), rtol=1e-4, atol=1e-5)


def test_a_second_export_into_the_folder_asks_first(make_window, monkeypatch, tmp_path, dialogs):
    window = make_window()
    choose_folder(monkeypatch, tmp_path)
    pytorch_action(window).trigger()
    before = (tmp_path / "model.py").stat().st_mtime_ns
    dialogs.answer = dialogs.answer.No
    pytorch_action(window).trigger()
    assert "already holds model.py" in dialogs.last
    assert (tmp_path / "model.py").stat().st_mtime_ns == before


def test_a_failed_export_says_why(make_window, monkeypatch, tmp_path, dialogs):
    window = make_window()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    choose_folder(monkeypatch, blocker / "inside")
    pytorch_action(window).trigger()
    assert str(blocker / "inside") in dialogs.last


def test_a_run_of_the_exported_train_py_reopens_in_the_run_history(make_window, monkeypatch,
                                                                   tmp_path):  # fmt: skip
    from engine.checkpoint import load_checkpoint, save_checkpoint
    from engine.data import Preprocessing
    from engine.network import build
    from engine.resources import resource_path
    from engine.train_config import TrainConfig
    from workbench.runs import RunRecord

    window = make_window()
    spec = window.document.spec
    # A trained run of the open network: its settings go into train.py.
    config = TrainConfig(epochs=1, batch_size=128, lr=0.02)
    c, h, w = spec.input.shape
    names = sorted(p.name for p in resource_path("sample", "train").iterdir())
    first = save_checkpoint(tmp_path / "run-1", spec=spec, config=config,
                            preprocessing=Preprocessing(c, h, w).to_dict(), class_names=names,
                            epoch=1, batch=0, history={}, weights=build(spec, seed=2).state_dict(),
                            optimizer_state={})  # fmt: skip
    window.document.add_run({"id": "run-1", "started": "1", "spec": spec.to_dict(),
                             "config": config.to_dict(), "data": "sample", "status": "completed",
                             "checkpoint": str(first)})  # fmt: skip
    out = tmp_path / "project"
    choose_folder(monkeypatch, out)
    pytorch_action(window).trigger()
    assert "trained weights of run run-1" in window.statusBar().currentMessage()
    text = (out / "train.py").read_text(encoding="utf-8")
    config_literal = next(n.value for n in ast.parse(text).body if isinstance(n, ast.Assign)
                          and n.targets[0].id == "CONFIG")  # fmt: skip
    assert ast.literal_eval(config_literal) == config.to_dict()
    # train.py in this process (world size 1, as `python train.py`), on the bundled sample.
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(out))
    spec_ = importlib.util.spec_from_file_location("exported_train", out / "train.py")
    train = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(train)
    sys.modules.pop("model", None)
    assert train.main(["--data", str(resource_path("sample")), "--out", str(tmp_path / "r")]) == 0
    ckpt = load_checkpoint(tmp_path / "r")
    record = RunRecord(id="cluster-1", started="2", network=spec.name, spec=ckpt.spec.to_dict(),
                       config=ckpt.config.to_dict(), data="sample", status="completed",
                       epochs_done=ckpt.epoch, history=ckpt.history,
                       checkpoint=str(ckpt.path))  # fmt: skip
    window.document.add_run(record.to_dict())
    window.training.pages.runs_panel.set_runs(window.document.runs)
    assert window.training.reopen_run(record)
    assert "Reopened cluster-1" in window.training.pages.training_panel.status_label.text()
