"""Run comparison: architecture diffs on real presets, settings and outcome deltas, the CSV
and the `cnn-workbench compare` command (on runs trained here and on written checkpoints)."""

from __future__ import annotations

import csv
import io

import pytest

from engine.checkpoint import save_checkpoint
from engine.commands.main import main
from engine.compare import COMPARISON_CSV_HEADER, RunInput, compare_runs, diff_settings
from engine.data import CACHE_ENV, Preprocessing
from engine.network_diff import diff_networks, layer_names
from engine.spec import LayerSpec, load_spec
from engine.train_config import TrainConfig


def _without_first_residual(spec):
    """resnet20 with its first shortcut taken out: the add goes, the relu after it takes the
    main path alone."""
    i = next(k for k, layer in enumerate(spec.layers) if layer.type == "add")
    layers = list(spec.remove_layer(i).layers)
    layers[i] = layers[i].wired(inputs=None)
    return spec.with_layers(layers)


def test_layer_names_are_ids_or_ordinals():
    names = layer_names(load_spec("resnet20"))
    assert names[:4] == ["the 1st conv2d", "the 1st batch_norm", "stem_relu", "the 2nd conv2d"]


def test_lenet5_with_batch_norm_added():
    a = load_spec("lenet5")
    b = a.insert_layer(4, LayerSpec.create("batch_norm"))
    assert diff_networks(a, b) == ["adds batch_norm after the 2nd conv2d"]
    assert diff_networks(b, a) == ["removes the 1st batch_norm"]
    assert diff_networks(a, a) == []


def test_batch_norm_after_both_convs_and_field_changes():
    a = load_spec("lenet5")
    b = a.insert_layer(1, LayerSpec.create("batch_norm"))
    b = b.insert_layer(5, LayerSpec.create("batch_norm"))
    b = b.replace_layer(4, b.layers[4].replace(filters=32, kernel=3, padding="same"))
    assert diff_networks(a, b) == [
        "adds batch_norm after the 1st conv2d",
        "the 2nd conv2d: filters 16 → 32, kernel 5 → 3, padding 0 → same",
        "adds batch_norm after the 2nd conv2d",
    ]


def test_several_layers_added_in_one_place_and_a_replacement():
    a = load_spec("lenet5")
    b = a.insert_layer(8, LayerSpec.create("dropout", rate=0.5))
    b = b.insert_layer(9, LayerSpec.create("dense", units=64))
    assert diff_networks(a, b) == ["adds dropout 0.5 and dense 64 after the 1st dense"]
    c = a.replace_layer(2, LayerSpec.create("avg_pool2d", size=2))
    assert diff_networks(a, c) == ["replaces the 1st max_pool2d with avg_pool2d 2×2"]


def test_input_change():
    a = load_spec("lenet5")
    b = a.with_input(channels=3)
    assert diff_networks(a, b) == ["input 1×32×32 → 3×32×32"]


def test_resnet20_with_a_residual_removed_and_restored():
    a = load_spec("resnet20")
    b = _without_first_residual(a)
    assert b.inputs_of(8) == (7,)
    assert diff_networks(a, b) == [
        "removes the residual connection from stem_relu (the 1st add after s1b1_b_bn)"
    ]
    assert diff_networks(b, a) == [
        "adds a residual connection from stem_relu (add after s1b1_b_bn)"
    ]


def test_resnet20_with_a_shortcut_rewired():
    a = load_spec("resnet20")
    i = next(k for k, layer in enumerate(a.layers) if layer.type == "add")
    b = a.replace_layer(i, a.layers[i].wired(inputs=["s1b1_b_bn", "input"]))
    assert diff_networks(a, b) == [
        "removes the residual connection from stem_relu to the 1st add",
        "adds a residual connection from the input to the 1st add",
    ]


def test_settings_diff_lists_every_differing_field():
    a = TrainConfig()
    b = TrainConfig(lr=0.001, optimizer="adam", augment=("flip", "shift"), init="he")
    assert diff_settings(a, b) == [
        "optimizer sgd → adam",
        "lr 0.01 → 0.001",
        "augment none → flip, shift",
        "init per layer → he",
    ]
    assert diff_settings(a, TrainConfig()) == []


def _history(val, seconds):
    n = len(val)
    return {"epoch": list(range(1, n + 1)), "val_accuracy": list(val),
            "train_loss": [1.0] * n, "val_loss": [0.9] * n,
            "elapsed_s": [seconds * (k + 1) for k in range(n)]}  # fmt: skip


def test_outcome_deltas_and_the_sentence():
    a_spec = load_spec("lenet5")
    b_spec = a_spec.insert_layer(4, LayerSpec.create("batch_norm"))
    b_spec = b_spec.replace_layer(3, b_spec.layers[3].replace(filters=20))
    runs = [
        RunInput("base", a_spec, TrainConfig(), _history([0.80, 0.86, 0.85], 2.0)),
        RunInput(
            "bn",
            b_spec.to_dict(),
            TrainConfig(lr=0.001).to_dict(),
            _history([0.84, 0.89, 0.881], 2.4),
        ),
    ]
    comparison = compare_runs(runs)
    a, b = comparison.outcomes
    # conv 2: 5·5·6·20 + 20 = 3020 (was 2416); batch norm: 2·20; dense 1 takes 500 inputs, not 400
    assert (a.parameters, b.parameters) == (61706, 61706 + 604 + 40 + 100 * 120)
    assert a.multiply_adds == 416520 and b.multiply_adds > a.multiply_adds
    assert a.mean_epoch_s == pytest.approx(2.0) and b.mean_epoch_s == pytest.approx(2.4)
    macs = 100 * (b.multiply_adds - a.multiply_adds) / a.multiply_adds
    params = 100 * (b.parameters - a.parameters) / a.parameters
    (diff,) = comparison.differences
    assert diff.architecture == ("the 2nd conv2d: filters 16 → 20",
                                 "adds batch_norm after the 2nd conv2d")  # fmt: skip
    assert diff.settings == ("lr 0.01 → 0.001",)
    assert diff.outcome == (
        "+3.0 points best validation accuracy",
        "+3.1 points final validation accuracy",
        f"+{macs:.0f}% multiply-adds",
        f"+{params:.0f}% parameters",
        "1.2× epoch time",
    )
    assert 10 < macs < 100 and 10 < params < 100
    assert diff.sentence() == (
        "B vs A: the 2nd conv2d: filters 16 → 20; adds batch_norm after the 2nd conv2d; "
        "lr 0.01 → 0.001. Result: +3.0 points best validation accuracy, +3.1 points final "
        f"validation accuracy, +{macs:.0f}% multiply-adds, +{params:.0f}% parameters, "
        "1.2× epoch time."
    )
    table = comparison.table()
    assert "61,706" in table and "86.0%" in table and "2.4 s" in table


def test_small_cost_changes_keep_a_decimal():
    a_spec = load_spec("lenet5")
    b_spec = a_spec.insert_layer(4, LayerSpec.create("batch_norm"))
    c = compare_runs([RunInput("a", a_spec, TrainConfig()), RunInput("b", b_spec, TrainConfig())])
    assert c.differences[0].outcome == ("+0.1% parameters",)  # batch norm: no multiply-adds


def test_same_runs_and_missing_figures():
    spec = load_spec("lenet5")
    c = compare_runs([RunInput("a", spec, TrainConfig(), {}), RunInput("b", spec, TrainConfig())])
    assert c.sentences() == ["B vs A: the same network and settings."]
    assert c.outcomes[0].best_val_accuracy is None and c.outcomes[0].mean_epoch_s is None


def test_bad_input_is_named():
    spec = load_spec("lenet5")
    with pytest.raises(ValueError, match="two or more runs"):
        compare_runs([RunInput("a", spec, TrainConfig())])
    with pytest.raises(ValueError, match=r"run broken: its training settings.*lr"):
        compare_runs([RunInput("a", spec, TrainConfig()),
                      RunInput("broken", spec, {"lr": -1})])  # fmt: skip
    with pytest.raises(ValueError, match="run odd: its network cannot be read"):
        compare_runs([RunInput("a", spec, TrainConfig()),
                      RunInput("odd", {"layers": "x"}, TrainConfig())])  # fmt: skip


def test_csv_has_a_row_per_run():
    a_spec = load_spec("lenet5")
    b_spec = a_spec.insert_layer(4, LayerSpec.create("batch_norm"))
    c = compare_runs([
        RunInput("=base", a_spec, TrainConfig(), _history([0.5], 1.0)),
        RunInput("bn", b_spec, TrainConfig(epochs=3), _history([0.6], 1.5)),
    ])  # fmt: skip
    rows = list(csv.reader(io.StringIO(c.to_csv())))
    assert tuple(rows[0]) == COMPARISON_CSV_HEADER
    head = dict(zip(rows[0], rows[1], strict=True))
    assert head["name"] == "'=base"  # never a spreadsheet formula
    assert head["parameters"] == "61706" and head["best_val_accuracy"] == "0.5"
    assert "lr=0.01" in head["settings"] and head["differences"] == ""
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["epochs"] == "1" and second["mean_epoch_s"] == "1.5"
    assert second["differences"].startswith("B vs A: adds batch_norm after the 2nd conv2d")
    assert "epochs 10 → 3" in second["differences"]


def _checkpoint(folder, spec, config, history):
    c, h, w = spec.input.shape
    return save_checkpoint(folder, spec=spec, config=config,
                           preprocessing=Preprocessing(c, h, w).to_dict(),
                           class_names=[str(k) for k in range(10)], epoch=len(history["epoch"]),
                           batch=0, history=history, weights={}, optimizer_state={})  # fmt: skip


def test_cli_on_written_checkpoints(tmp_path, capsys):
    a_spec = load_spec("resnet20")
    b_spec = _without_first_residual(a_spec)
    _checkpoint(tmp_path / "with", a_spec, TrainConfig(), _history([0.7, 0.8], 10.0))
    _checkpoint(tmp_path / "without", b_spec, TrainConfig(batch_size=128),
                _history([0.7, 0.78], 9.0))  # fmt: skip
    csv_path = tmp_path / "cmp.csv"
    code = main(["compare", str(tmp_path / "with"), str(tmp_path / "without" / "checkpoint"),
                 "--csv", str(csv_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == ["Run", "Network", "Parameters", "Multiply-adds",
                                           "Best", "val", "acc", "Final", "val", "acc",
                                           "Epochs", "Epoch", "time"]  # fmt: skip
    assert "A  with" in out and "B  without" in out
    assert ("B vs A: removes the residual connection from stem_relu (the 1st add after "
            "s1b1_b_bn); batch_size 64 → 128. Result: -2.0 points best validation accuracy"
            ) in out  # fmt: skip
    assert "0.9× epoch time" in out
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    assert [r[1] for r in rows[1:]] == ["with", "without"]


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere"), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnn-workbench compare: ") and "nowhere" in err
    assert len(err.splitlines()) == 1
    assert main(["compare", str(tmp_path)]) == 1
    assert "two or more runs" in capsys.readouterr().err


def test_cli_on_runs_trained_here(tmp_path, monkeypatch, capsys):
    """Two real runs of the tiny network (one with batch norm, another learning rate):
    their checkpoints' histories carry the timings and accuracies the comparison reads."""
    from test_training import SPEC, write_pattern_folder

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    data = str(write_pattern_folder(tmp_path / "data", per_class=8, test_per_class=2))
    SPEC.save(tmp_path / "tiny.json")
    SPEC.insert_layer(1, LayerSpec.create("batch_norm")).save(tmp_path / "tiny_bn.json")
    common = ["--data", data, "--epochs", "2", "--batch-size", "8", "--optimizer", "adam"]
    assert main(["train", str(tmp_path / "tiny.json"), *common, "--lr", "0.02",
                 "--out", str(tmp_path / "a")]) == 0  # fmt: skip
    assert main(["train", str(tmp_path / "tiny_bn.json"), *common, "--lr", "0.01",
                 "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    a, b = result["runs"]
    assert a["epochs"] == b["epochs"] == 2
    assert a["mean_epoch_s"] > 0 and 0 <= a["best_val_accuracy"] <= 1
    assert b["parameters"] == a["parameters"] + 8  # batch norm over 4 channels: 4 + 4
    (d,) = result["differences"]
    assert d["architecture"] == ["adds batch_norm after the 1st conv2d"]
    assert d["settings"] == ["lr 0.02 → 0.01"]
    assert any(o.endswith("epoch time") for o in d["outcome"])


def test_branches_joined_and_a_projection_shortcut():
    g = load_spec("googlenet")
    i = next(k for k, layer in enumerate(g.layers) if layer.type == "concat")
    assert diff_networks(g, g.remove_layer(i)) == [
        "removes inception3a_cat joining inception3a_1x1_relu, inception3a_3x3_relu, "
        "inception3a_5x5_relu and inception3a_poolproj_relu"
    ]
    r = load_spec("resnet50")
    i = next(k for k, layer in enumerate(r.layers) if layer.type == "add")
    assert diff_networks(r, r.remove_layer(i)) == [
        "removes the residual connection from layer1.0_proj_bn (the 1st add after layer1.0_c_bn)"
    ]
