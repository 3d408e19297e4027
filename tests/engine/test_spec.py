"""The network spec (contract): round trips, one clear message per malformed spec, loading."""

from __future__ import annotations

import json

import pytest

from engine.layers import LAYER_TYPES
from engine.spec import (
    FORMAT,
    LayerSpec,
    NetworkSpec,
    SpecError,
    load_spec,
    preset_names,
)

PRESETS = ("alexnet", "lenet5", "mnist-2conv", "vgg16")


def network(*layers, **input_changes) -> dict:
    inp = {"channels": 1, "height": 28, "width": 28, **input_changes}
    return {"format": FORMAT, "version": 1, "input": inp, "layers": list(layers)}


def test_the_presets_are_bundled():
    assert set(PRESETS) <= set(preset_names())


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips(name):
    spec = load_spec(name)
    assert spec.name
    again = NetworkSpec.from_dict(json.loads(spec.to_json()))
    assert again == spec
    assert again.to_dict() == spec.to_dict()


# Every layer type with every field off its default (so nothing is left out of to_dict).
NON_DEFAULT = {
    "conv2d": {
        "filters": 5,
        "kernel": [3, 5],
        "stride": 2,
        "padding": [1, 2],
        "bias": False,
        "init": "gaussian",
        "std": 0.05,
    },
    "relu": {},
    "leaky_relu": {"slope": 0.2},
    "sigmoid": {},
    "tanh": {},
    "max_pool2d": {"size": 3, "stride": 2, "padding": 1},
    "avg_pool2d": {"size": [2, 3], "stride": [1, 2], "padding": [0, 1]},
    "global_avg_pool": {},
    "flatten": {},
    "dense": {"units": 7, "bias": False, "init": "xavier", "std": 0.5},
    "dropout": {"rate": 0.25},
    "batch_norm": {"eps": 0.001, "momentum": 0.3},
    "lp_pool2d": {"p": 1.0, "size": 3, "stride": 2},
    "add": {},
    "concat": {},
}


def test_the_non_default_table_covers_the_catalogue():
    assert set(NON_DEFAULT) == set(LAYER_TYPES)
    for name, fields in NON_DEFAULT.items():
        assert set(fields) == set(LAYER_TYPES[name].field_names), name


@pytest.mark.parametrize("type_name", sorted(NON_DEFAULT))
def test_every_layer_type_round_trips_with_non_default_fields(type_name):
    raw = {"type": type_name, **NON_DEFAULT[type_name]}
    layers = [raw]
    if LAYER_TYPES[type_name].multi_input:
        raw = {"type": type_name, "inputs": ["input", "r"], **NON_DEFAULT[type_name]}
        layers = [{"type": "relu", "id": "r"}, raw]
    spec = NetworkSpec.from_dict({**network(*layers), "version": 2})
    written = spec.to_dict()["layers"][-1]
    assert written == raw
    assert NetworkSpec.from_dict(spec.to_dict()) == spec


def test_same_padding_and_square_pairs_are_written_compactly():
    spec = NetworkSpec.from_dict(
        network({"type": "conv2d", "filters": 4, "kernel": [3, 3], "padding": "same"})
    )
    assert spec.layers[0]["kernel"] == (3, 3)
    assert spec.to_dict()["layers"][0] == {
        "type": "conv2d",
        "filters": 4,
        "kernel": 3,
        "padding": "same",
    }


CONV = {"type": "conv2d", "filters": 4, "kernel": 3}

# (what is wrong, the spec, the path the one message must start with, words it must contain)
MALFORMED = [
    ("not an object", [], "must be a JSON object", "got []"),
    ("wrong format", {**network(), "format": "keras"}, "format:", '"keras"'),
    ("version zero", {**network(), "version": 0}, "version:", "positive integer"),
    ("version a string", {**network(), "version": "1"}, "version:", '"1"'),
    ("unknown top key", {**network(), "layer": []}, "layer:", "did you mean 'layers'"),
    ("name not a string", {**network(), "name": 3}, "name:", "string"),
    ("no input", {"format": FORMAT, "version": 1, "layers": []}, "input:", "missing"),
    ("input a list", {**network(), "input": [1, 28, 28]}, "input:", "object"),
    (
        "input missing width",
        {**network(), "input": {"channels": 1, "height": 28}},
        "input.width:",
        "missing",
    ),
    ("input zero height", network(height=0), "input.height:", "got 0"),
    ("input float channels", network(channels=1.5), "input.channels:", "1.5"),
    ("input unknown key", network(depth=3), "input.depth:", "unknown field"),
    (
        "no layers",
        {"format": FORMAT, "version": 1, "input": network()["input"]},
        "layers:",
        "missing",
    ),
    ("layers an object", {**network(), "layers": {}}, "layers:", "list"),
    ("layer a string", network("conv2d"), "layers[0]:", '"conv2d"'),
    ("layer without type", network({"filters": 3}), "layers[0]:", 'missing "type"'),
    ("unknown type", network({"type": "conv3d"}), "layers[0].type:", "conv3d"),
    ("typo'd type", network({"type": "dense_"}), "layers[0].type:", "did you mean 'dense'"),
    ("conv kernel zero", network({**CONV, "kernel": 0}), "layers[0].kernel:", "got 0"),
    ("conv kernel negative", network({**CONV, "kernel": -3}), "layers[0].kernel:", "-3"),
    ("conv kernel float", network({**CONV, "kernel": 2.5}), "layers[0].kernel:", "2.5"),
    (
        "conv kernel triple",
        network({**CONV, "kernel": [3, 3, 3]}),
        "layers[0].kernel:",
        "[3, 3, 3]",
    ),
    (
        "conv kernel pair with zero",
        network({**CONV, "kernel": [3, 0]}),
        "layers[0].kernel[1]:",
        "got 0",
    ),
    ("conv kernel too large", network({**CONV, "kernel": 5000}), "layers[0].kernel:", "at most"),
    (
        "conv missing filters",
        network({"type": "conv2d", "kernel": 3}),
        "layers[0].filters:",
        "missing",
    ),
    ("conv filters bool", network({**CONV, "filters": True}), "layers[0].filters:", "true"),
    ("conv stride zero", network({**CONV, "stride": 0}), "layers[0].stride:", "got 0"),
    ("conv padding word", network({**CONV, "padding": "full"}), "layers[0].padding:", '"full"'),
    ("conv padding negative", network({**CONV, "padding": -1}), "layers[0].padding:", "-1"),
    ("conv bias a string", network({**CONV, "bias": "yes"}), "layers[0].bias:", "true or false"),
    ("conv init unknown", network({**CONV, "init": "lecun"}), "layers[0].init:", '"lecun"'),
    ("conv std zero", network({**CONV, "std": 0}), "layers[0].std:", "at least"),
    (
        "conv unknown field",
        network({**CONV, "kernal": 3}),
        "layers[0].kernal:",
        "did you mean 'kernel'",
    ),
    (
        "dense units zero",
        network({"type": "flatten"}, {"type": "dense", "units": 0}),
        "layers[1].units:",
        "got 0",
    ),
    ("dense units string", network({"type": "dense", "units": "10"}), "layers[0].units:", '"10"'),
    ("dropout rate one", network({"type": "dropout", "rate": 1.0}), "layers[0].rate:", "below 1"),
    (
        "dropout rate negative",
        network({"type": "dropout", "rate": -0.1}),
        "layers[0].rate:",
        "-0.1",
    ),
    (
        "leaky slope too big",
        network({"type": "leaky_relu", "slope": 2}),
        "layers[0].slope:",
        "at most 1",
    ),
    ("pool size zero", network({"type": "max_pool2d", "size": 0}), "layers[0].size:", "got 0"),
    (
        "pool stride zero",
        network({"type": "avg_pool2d", "size": 2, "stride": 0}),
        "layers[0].stride:",
        "got 0",
    ),
    (
        "pool padding same",
        network({"type": "max_pool2d", "size": 2, "padding": "same"}),
        "layers[0].padding:",
        '"same"',
    ),
    (
        "relu with a field",
        network({"type": "relu", "slope": 0.1}),
        "layers[0].slope:",
        "unknown field",
    ),
    (
        "batch norm momentum",
        network({"type": "batch_norm", "momentum": 1.5}),
        "layers[0].momentum:",
        "1.5",
    ),
    (
        "flatten with a field",
        network({"type": "flatten", "size": 2}),
        "layers[0].size:",
        "no fields",
    ),
    ("NaN rate", network({"type": "dropout", "rate": float("nan")}), "layers[0].rate:", "number"),
]


@pytest.mark.parametrize(("what", "raw", "path", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_spec_gives_exactly_one_clear_message(what, raw, path, words):
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_dict(raw)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(path), problems[0]
    assert words in problems[0], problems[0]


def test_there_are_at_least_thirty_malformed_cases():
    assert len(MALFORMED) >= 30


def test_every_problem_is_listed_at_once():
    raw = network({**CONV, "kernel": 0}, {"type": "dense", "units": -1}, height=0)
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_dict(raw)
    paths = [p.split(":")[0] for p in caught.value.problems]
    assert paths == ["input.height", "layers[0].kernel", "layers[1].units"]


def test_a_newer_version_is_refused_not_half_read():
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_dict({**network({"type": "hologram"}), "version": 3})
    assert len(caught.value.problems) == 1
    assert "version 3" in caught.value.problems[0]
    assert "newer" in caught.value.problems[0]


def test_load_spec_by_name_path_dict_and_project(tmp_path):
    by_name = load_spec("lenet5")
    path = tmp_path / "net.json"
    by_name.save(path)
    assert load_spec(path) == by_name
    assert load_spec(str(path)) == by_name
    assert load_spec(by_name.to_dict()) == by_name
    assert load_spec(by_name) is by_name
    project = tmp_path / "work.cnnproj"
    project.write_text(
        json.dumps({"format": "cnn-workbench/project", "network": by_name.to_dict()}),
        encoding="utf-8",
    )
    assert load_spec(project) == by_name


def test_a_bad_file_names_itself(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad\.json: not valid JSON: line 1"):
        load_spec(bad)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(network({"type": "dense", "units": 0})), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(wrong)
    assert caught.value.problems == [f"{wrong}: layers[0].units: must be a positive integer, got 0"]


def test_an_unknown_preset_name_lists_the_presets():
    with pytest.raises(SpecError) as caught:
        load_spec("lenet")
    message = caught.value.problems[0]
    assert message.startswith("lenet: no such file or preset")
    assert "alexnet" in message and "did you mean 'lenet5'" in message


def test_load_spec_refuses_other_things():
    with pytest.raises(SpecError, match="give a preset name, path or dict"):
        load_spec(42)


def test_edit_helpers_return_new_specs():
    spec = load_spec("lenet5")
    relu = LayerSpec.create("relu")
    tanh = LayerSpec.create("tanh")
    inserted = spec.insert_layer(0, relu)
    assert inserted.layers[0] == relu and len(inserted.layers) == len(spec.layers) + 1
    assert inserted.remove_layer(0) == spec
    assert spec.replace_layer(1, tanh).layers[1] == tanh
    moved = spec.move_layer(0, 2)
    assert moved.layers[2] == spec.layers[0] and moved.layers[0] == spec.layers[1]
    assert spec.with_input(height=30).input.height == 30
    assert spec.with_name("mine").name == "mine"
    assert load_spec("lenet5") == spec  # untouched: specs are immutable
    with pytest.raises(SpecError, match=r"input\.height"):
        spec.with_input(height=0)


def test_layer_replace_validates_and_keeps_other_fields():
    conv = LayerSpec.create("conv2d", filters=8, kernel=5, stride=2)
    wider = conv.replace(filters=16)
    assert wider["filters"] == 16 and wider["kernel"] == (5, 5) and wider["stride"] == (2, 2)
    with pytest.raises(SpecError, match="kernel"):
        conv.replace(kernel=0)
