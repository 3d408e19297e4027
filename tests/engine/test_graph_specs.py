"""Graph specs (version 2): wiring, its problems with their paths, round trips, editing,
rounding, the presets after VGG and the fixes of branches that do not meet."""

from __future__ import annotations

import json
import random

import pytest

from engine.inspect import receptive_field
from engine.resources import resource_path
from engine.shapes import infer_shapes
from engine.spec import FORMAT, LayerSpec, NetworkSpec, SpecError, load_spec

OLD_PRESETS = ("lenet5", "mnist-2conv", "alexnet", "vgg16")
GRAPH_PRESETS = {
    "resnet20": 272_474,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
    "densenet121": 7_978_856,
    "inception-cifar": None,
    "densenet-cifar": None,
}


def doc(*layers, version=2, **top):
    return {
        "format": FORMAT,
        "version": version,
        "input": {"channels": 1, "height": 8, "width": 8},
        "layers": list(layers),
        **top,
    }


CONV = {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1}
TAIL = [{"type": "flatten"}, {"type": "dense", "units": 3}]


def residual(**changes):
    layers = [
        {**CONV, "id": "a"},
        {"type": "relu"},
        {**CONV, "id": "b"},
        {"type": "add", "inputs": ["b", "a"], "id": "sum"},
        *TAIL,
    ]
    for index, layer in changes.items():
        layers[int(index[1:])] = layer
    return doc(*layers)


MALFORMED = [
    # (document, the path the message must start with, a word it must contain)
    (residual(l3={"type": "add", "inputs": ["b", "nope"]}), "layers[3].inputs[1]", "unknown id"),
    (residual(l3={"type": "add", "inputs": ["b", "later"]}), "layers[3].inputs[1]", "unknown"),
    (doc({**CONV, "inputs": ["x"]}, {**CONV, "id": "x"}, *TAIL), "layers[0].inputs[0]", "cycle"),
    (doc({**CONV, "id": "x", "inputs": ["x"]}, *TAIL), "layers[0].inputs[0]", "itself"),
    (residual(l1={"type": "relu", "id": "a"}), "layers[1].id", "duplicate"),
    (residual(l1={"type": "relu", "id": "input"}), "layers[1].id", "network input"),
    (residual(l3={"type": "add", "inputs": ["b"]}), "layers[3].inputs", "at least 2"),
    (residual(l3={"type": "add"}), "layers[3].inputs", "at least 2"),
    (residual(l3={"type": "concat", "inputs": ["b"]}), "layers[3].inputs", "at least 2"),
    (residual(l1={"type": "relu", "inputs": ["a", "a"]}), "layers[1].inputs[1]", "twice"),
    (residual(l1={"type": "relu", "inputs": ["a", "input"]}), "layers[1].inputs", "takes 1"),
    (residual(l3={"type": "add", "inputs": "b"}), "layers[3].inputs", "list of layer ids"),
    (residual(l3={"type": "add", "inputs": []}), "layers[3].inputs", "empty list"),
    (residual(l3={"type": "add", "inputs": ["b", 7]}), "layers[3].inputs[1]", "layer id"),
    (residual(l0={**CONV, "id": ""}), "layers[0].id", "non-empty"),
    (residual(l0={**CONV, "id": 5}), "layers[0].id", "non-empty"),
    (doc({**CONV, "id": "a"}, {**CONV, "inputs": ["input"]}, *TAIL), "layers[0] (a)", "used by no"),
    (
        residual(l3={"type": "add", "inputs": ["b", "a"], "filters": 3}),
        "layers[3].filters",
        "unknown",
    ),
    # One mistake, one message: a typo'd id leaves the layer it meant unused, a duplicate id
    # makes its references look repeated, a layer taking a later one is itself unused.
    (
        doc(
            {**CONV, "id": "a"},
            {**CONV, "id": "b", "inputs": ["input"]},
            {"type": "add", "inputs": ["b", "aa"]},
            *TAIL,
        ),
        "layers[2].inputs[1]",
        "unknown id",
    ),
    (
        doc(
            {**CONV, "id": "a"},
            {**CONV, "id": "a", "inputs": ["input"]},
            {"type": "add", "inputs": ["a", "a"]},
            *TAIL,
        ),
        "layers[1].id",
        "duplicate",
    ),
    (
        doc(
            {**CONV, "id": "a"},
            {**CONV, "id": "b", "inputs": ["input"]},
            {"type": "add", "inputs": ["b", "c"]},
            {**CONV, "id": "c", "inputs": ["a"]},
            *TAIL,
        ),
        "layers[2].inputs[1]",
        "comes after it",
    ),
    (
        doc({**CONV, "id": "input"}, {**CONV, "inputs": ["input"]}, *TAIL),
        "layers[0].id",
        "network input",
    ),
    (residual(l3={"type": "add", "inputs": ["b", "b"]}), "layers[3].inputs[1]", "twice"),
    (
        residual(l3={"type": "concat", "inputs": ["b", "input", "input"]}),
        "layers[3].inputs[2]",
        "twice",
    ),
    ({**residual(), "rounding": "ceil"}, "rounding", "floor"),
    ({**residual(), "version": 3}, "version", "newer"),
]


@pytest.mark.parametrize(("document", "path", "word"), MALFORMED)
def test_malformed_graphs_give_one_clear_message_with_its_path(document, path, word):
    with pytest.raises(SpecError) as caught:
        NetworkSpec.from_dict(document)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(path), problems[0]
    assert word in problems[0], problems[0]


def test_wiring_problems_also_reach_shape_inference_for_specs_built_in_memory():
    spec = NetworkSpec.from_dict(residual()).with_layers(
        [LayerSpec.create("conv2d", filters=2, kernel=3, id="a"),
         LayerSpec.create("add", inputs=["a", "ghost"]),
         LayerSpec.create("flatten"), LayerSpec.create("dense", units=3)]
    )  # fmt: skip
    report = infer_shapes(spec)
    assert [p.kind for p in report.problems] == ["unknown_input"]
    assert report.problems[0].message.startswith("add #2: layers[1].inputs[1]")


def test_lenient_loading_keeps_a_half_drawn_graph():
    d = doc({**CONV, "id": "a"}, {**CONV, "inputs": ["input"]}, *TAIL)
    spec = NetworkSpec.from_dict(d, wiring="lenient")
    (problem,) = infer_shapes(spec).problems
    assert problem.kind == "dangling" and problem.fixes[0].label == "remove conv2d #1"
    assert infer_shapes(problem.fixes[0].apply(spec)).ok


@pytest.mark.parametrize("name", OLD_PRESETS)
def test_old_presets_round_trip_byte_for_byte_as_version_1(name, tmp_path):
    original = resource_path("presets", f"{name}.json").read_text(encoding="utf-8")
    spec = load_spec(name)
    assert spec.version == 1 and spec.is_chain
    spec.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == original


@pytest.mark.parametrize("name", sorted(GRAPH_PRESETS))
def test_graph_presets_round_trip_as_version_2(name, tmp_path):
    original = resource_path("presets", f"{name}.json").read_text(encoding="utf-8")
    spec = load_spec(name)
    assert spec.version == 2 and not spec.is_chain and spec.rounding == "floor"
    assert json.loads(original)["version"] == 2
    spec.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == original
    assert load_spec(str(tmp_path / "again.json")) == spec


@pytest.mark.parametrize("name", sorted(GRAPH_PRESETS))
def test_graph_presets_have_their_published_parameter_counts(name):
    spec = load_spec(name)
    report = infer_shapes(spec)
    assert report.ok, [p.message for p in report.problems]
    if GRAPH_PRESETS[name] is not None:
        assert report.total_params == GRAPH_PRESETS[name]
    assert f"{report.total_params:,} parameters" in spec.description


def test_resnet18_rows_follow_torchvision():
    report = infer_shapes(load_spec("resnet18"))
    shapes = [r.output_shape for r in report]
    assert shapes[0] == (64, 112, 112) and shapes[3] == (64, 56, 56)
    assert (512, 7, 7) in shapes and shapes[-1] == (1000,)
    adds = [r for r in report if r.type == "add"]
    assert len(adds) == 8
    assert all(len(set(r.input_shapes)) == 1 and len(r.inputs) == 2 for r in adds)
    # The stem's 112.5 is rounded down, with a note saying what is left out.
    assert "112.5 is rounded down" in report[0].notes[0]


def test_googlenet_concats_and_sizes():
    report = infer_shapes(load_spec("googlenet"))
    cats = [r for r in report if r.type == "concat"]
    assert [r.output_shape[0] for r in cats] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [r.output_shape[1] for r in cats] == [28, 28, 14, 14, 14, 14, 14, 7, 7]


def test_densenet121_has_about_430_layers_and_reads_fast():
    spec = load_spec("densenet121")
    assert 400 <= len(spec.layers) <= 450
    report = infer_shapes(spec)
    assert report.ok and report.output_shape == (1000,)
    assert report.peak_memory < report.total_memory


def test_exact_rounding_still_catches_alexnet_at_224_and_floor_makes_it_a_note():
    spec = load_spec("alexnet").with_input(height=224, width=224)
    first = infer_shapes(spec).problems[0]
    assert "54.25 is not a whole number" in first.message
    floor = [f for f in first.fixes if f.label == "round down like PyTorch"]
    assert floor
    mended = floor[0].apply(spec)
    report = infer_shapes(mended)
    assert report.ok and report[0].output_shape == (96, 54, 54)
    assert "the last input row and column (223) never reaches a window" in report[0].notes[0]
    assert mended.to_dict()["rounding"] == "floor" and mended.version == 2


def test_a_chain_saved_with_ids_or_rounding_becomes_version_2_and_back():
    spec = load_spec("lenet5")
    assert spec.with_rounding("floor").version == 2
    assert spec.with_rounding("floor").with_rounding(None).to_dict() == spec.to_dict()


def _add_mismatch():
    return NetworkSpec.from_dict(
        doc(
            {**CONV, "id": "a"},
            {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "relu", "id": "b"},
            {"type": "add", "inputs": ["b", "a"]},
            *TAIL,
            rounding="floor",
        )
    )


def test_an_add_of_different_shapes_names_both_and_offers_a_projection_shortcut():
    spec = _add_mismatch()
    report = infer_shapes(spec)
    (p,) = report.problems
    assert p.kind == "add_mismatch" and "4×4×4 and 2×8×8" in p.message
    labels = [f.label for f in p.fixes]
    assert "projection shortcut (1×1 conv, 4 filters, stride 2)" in labels
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_an_add_whose_channels_differ_offers_the_branch_filters():
    spec = NetworkSpec.from_dict(
        doc(
            {**CONV, "id": "a"},
            {**CONV, "filters": 5},
            {"type": "add", "inputs": ["conv2d_1", "a"]},
            *TAIL,
        )
    )
    (p,) = infer_shapes(spec).problems
    labels = [f.label for f in p.fixes]
    assert "filters 2 on conv2d #2" in labels
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_concat_of_different_sizes_offers_padding_or_stride():
    spec = NetworkSpec.from_dict(
        doc(
            {**CONV, "id": "a"},
            {"type": "conv2d", "filters": 3, "kernel": 3, "id": "valid"},
            {"type": "concat", "inputs": ["a", "valid"]},
            *TAIL,
        )
    )
    (p,) = infer_shapes(spec).problems
    assert p.kind == "concat_mismatch" and "2×8×8 and 3×6×6" in p.message
    assert "padding 1 on conv2d #2 (→ 8×8)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label
    fixed = infer_shapes(p.fixes[0].apply(spec))
    assert fixed[2].output_shape == (5, 8, 8)


def test_inserting_and_removing_keep_every_connection():
    spec = load_spec("resnet20")
    add_at = next(i for i, layer in enumerate(spec.layers) if layer.type == "add")
    # A relu inserted on the connection into the add goes between the branch and the add.
    more = spec.insert_layer(add_at, LayerSpec.create("relu"))
    assert infer_shapes(more).ok
    branch, shortcut = spec.inputs_of(add_at)
    assert more.inputs_of(add_at) == (branch,)
    assert more.inputs_of(add_at + 1) == (add_at, shortcut)
    assert more.remove_layer(add_at).to_dict() == spec.to_dict()
    # Removing the stem's relu: the shortcut that read it now reads its batch norm.
    fewer = spec.remove_layer(2)
    assert infer_shapes(fewer).ok
    assert 1 in fewer.inputs_of(add_at - 1)


def test_receptive_field_is_the_union_over_every_path():
    spec = NetworkSpec.from_dict(
        doc(
            {"type": "conv2d", "filters": 1, "kernel": 1, "id": "a"},
            {"type": "conv2d", "filters": 1, "kernel": 5, "padding": 2, "id": "wide"},
            {"type": "add", "inputs": ["wide", "a"], "id": "sum"},
            *TAIL,
        )
    )
    boxes = receptive_field(spec, 2, 4, 4)
    assert boxes[0] == (2, 2, 7, 7)  # the 5×5 path wins in the input
    assert boxes[1] == (2, 2, 7, 7) and boxes[3] == (4, 4, 5, 5)


def test_a_pool_with_padding_over_half_its_window_is_a_problem_with_a_fix():
    spec = NetworkSpec.from_dict(doc({"type": "max_pool2d", "size": 2, "padding": 2}, *TAIL))
    (p,) = infer_shapes(spec).problems
    assert p.kind == "pool_padding" and "more than half" in p.message
    assert infer_shapes(p.fixes[0].apply(spec)).ok


def _random_branches(rng):
    """Two random branches from the input joined by an add or a concat."""
    channels, height = rng.choice([1, 3, 4]), rng.choice([8, 9, 12, 16, 17])
    width = rng.choice([height, height + 1, 10])

    def branch(stem, n):
        layers, last = [], "input"
        for k in range(n):
            kind = rng.choice(
                ["conv2d", "conv2d", "max_pool2d", "avg_pool2d", "relu", "batch_norm"]
            )
            layer = {"type": kind, "id": f"{stem}{k}", "inputs": [last]}
            if kind == "conv2d":
                layer["filters"] = rng.choice([2, 4, channels])
                layer["kernel"] = rng.choice([1, 3, 5])
                layer["stride"] = rng.choice([1, 1, 2])
                layer["padding"] = rng.choice([0, 1, "same"])
            elif kind.endswith("pool2d"):
                layer.update(size=rng.choice([2, 3]), stride=rng.choice([1, 2]))
            layers.append(layer)
            last = layer["id"]
        return layers, last

    a, a_end = branch("a", rng.randint(0, 3))
    b, b_end = branch("b", rng.randint(1, 3))
    merge = {"type": rng.choice(["add", "concat"]), "id": "m", "inputs": [b_end, a_end]}
    d = doc(*a, *b, merge, *TAIL, rounding=rng.choice(["exact", "floor"]))
    d["input"] = {"channels": channels, "height": height, "width": width}
    return NetworkSpec.from_dict(d)


def test_every_fix_offered_on_random_graphs_leaves_fewer_problems():
    rng = random.Random(8)
    tried = 0
    for _ in range(120):
        spec = _random_branches(rng)
        report = infer_shapes(spec)
        for p in report.problems:
            for fix in p.fixes:
                after = infer_shapes(fix.apply(spec))
                left = [q.message for q in after.problems]
                assert len(left) < len(report.problems), (spec.to_dict(), fix.label, left)
                tried += 1
    assert tried > 100


def test_an_unused_branch_of_several_layers_is_removed_whole():
    # conv -> relu nobody uses: removing the relu alone would leave the conv unused.
    d = doc({**CONV, "id": "a"}, {"type": "relu"}, {**CONV, "inputs": ["input"]}, *TAIL)
    spec = NetworkSpec.from_dict(d, wiring="lenient")
    (problem,) = infer_shapes(spec).problems
    assert problem.kind == "dangling" and problem.message.startswith("relu #2: layers[1]")
    (fix,) = problem.fixes
    assert fix.label == "remove relu #2 and the layer that only feeds it"
    mended = fix.apply(spec)
    assert infer_shapes(mended).ok
    assert [layer.type for layer in mended.layers] == ["conv2d", "flatten", "dense"]


def test_an_add_whose_older_input_is_the_smaller_gets_a_projection_on_the_other():
    # The shortcut (conv2d #1, stride 2) is 4×5×5, the branch after it 2×9×9: no 1×1 conv can
    # enlarge the shortcut, but one with stride 2 brings the branch down to it.
    d = doc(
        {**CONV, "filters": 4, "stride": 2, "id": "a"},
        {**CONV, "id": "b", "inputs": ["input"]},
        {"type": "add", "inputs": ["b", "a"]},
        *TAIL,
    )
    spec = NetworkSpec.from_dict(d).with_input(height=9, width=9)
    (p,) = infer_shapes(spec).problems
    assert "2×9×9 and 4×5×5" in p.message
    assert "projection shortcut (1×1 conv, 4 filters, stride 2)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_concat_whose_first_input_is_the_odd_one_is_fixed_on_that_branch():
    spec = NetworkSpec.from_dict(
        doc(
            {"type": "conv2d", "filters": 3, "kernel": 3, "id": "valid"},
            {"type": "concat", "inputs": ["valid", "input"]},
            *TAIL,
        )
    )
    (p,) = infer_shapes(spec).problems
    assert "3×6×6 and 1×8×8" in p.message
    assert "padding 1 on conv2d #1 (→ 8×8)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_concat_is_fixed_on_an_earlier_window_when_the_last_cannot_reach_the_size():
    # conv 5×5 (8 → 4) then pool 2 (4 → 2) against pool 2 of the input (8 → 4): no padding or
    # stride of the last pool makes 4, padding 2 on the conv does.
    pool = {"type": "max_pool2d", "size": 2}
    spec = NetworkSpec.from_dict(
        doc(
            {"type": "conv2d", "filters": 2, "kernel": 5, "id": "c"},
            {**pool, "id": "p"},
            {**pool, "id": "q", "inputs": ["input"]},
            {"type": "concat", "inputs": ["p", "q"]},
            *TAIL,
        )
    )
    (p,) = infer_shapes(spec).problems
    assert "2×2×2 and 1×4×4" in p.message
    assert "padding 2 on conv2d #1 (→ 4×4)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_generated_id_never_takes_a_name_another_layer_gave_itself():
    # Layer 0 calls itself "conv2d_1", the name layer 1 would be given: exports name their
    # nodes by id, so the two must differ.
    spec = NetworkSpec.from_dict(
        doc(
            {**CONV, "id": "conv2d_1"},
            CONV,
            {"type": "add", "inputs": ["conv2d_1", "conv2d_1_2"]},
            *TAIL,
        )  # fmt: skip
    )
    ids = spec.wiring.ids
    assert len(set(ids)) == len(ids) and ids[:2] == ("conv2d_1", "conv2d_1_2")
    assert spec.inputs_of(2) == (0, 1) and infer_shapes(spec).ok


def test_an_add_whose_branch_lost_its_padding_offers_the_padding_back():
    # No 1×1 projection turns 8×8 into 6×6 or back; the branch's 3×3 conv wants padding 1.
    spec = NetworkSpec.from_dict(
        doc(
            {**CONV, "id": "a"},
            {**CONV, "padding": 0, "id": "b"},
            {"type": "add", "inputs": ["b", "a"]},
            *TAIL,
        )
    )
    (p,) = infer_shapes(spec).problems
    assert "2×6×6 and 2×8×8" in p.message
    assert "padding 1 on conv2d #2 (→ 8×8)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_layer_whose_only_input_is_unknown_is_one_problem_not_a_flat_cascade():
    # A half-drawn graph (lenient): the conv's one input is a typo; the conv after it must
    # not also be told that its input is a flat vector.
    d = doc({**CONV, "inputs": ["nope"]}, CONV, *TAIL)
    report = infer_shapes(NetworkSpec.from_dict(d, wiring="lenient"))
    assert [p.kind for p in report.problems] == ["unknown_input"]
    assert report.rows[1].output_shape is None  # its size is unknown, not made up


def test_an_add_of_flat_vectors_of_different_lengths_offers_the_branch_units():
    spec = NetworkSpec.from_dict(
        doc(
            {"type": "flatten", "id": "f"},
            {"type": "dense", "units": 5, "id": "a"},
            {"type": "dense", "units": 6, "id": "b", "inputs": ["f"]},
            {"type": "add", "inputs": ["b", "a"]},
            {"type": "dense", "units": 3},
        )
    )
    (p,) = infer_shapes(spec).problems
    assert "6 and 5" in p.message
    assert "units 5 on dense #3" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label
