"""Shape inference: the arithmetic, every problem on the right layer, fixes that work."""

from __future__ import annotations

import random

import pytest

from engine.shapes import LayerRow, ShapeReport, infer_shapes, num
from engine.spec import FORMAT, InputSpec, LayerSpec, NetworkSpec, load_spec


def net(c, h, w, *layers) -> NetworkSpec:
    return NetworkSpec.from_dict(
        {
            "format": FORMAT,
            "version": 1,
            "input": {"channels": c, "height": h, "width": w},
            "layers": list(layers),
        }
    )


def conv(k, f, **kw):
    return {"type": "conv2d", "filters": k, "kernel": f, **kw}


FLAT = {"type": "flatten"}
RELU = {"type": "relu"}


def dense(units, **kw):
    return {"type": "dense", "units": units, **kw}


def kinds(report: ShapeReport) -> list[tuple[int | None, str]]:
    return [(p.layer, p.kind) for p in report.problems]


# --------------------------------------------------------------------------- arithmetic


def test_a_conv_row_worked_by_hand():
    row = infer_shapes(net(1, 28, 28, conv(6, 5, padding=2), FLAT, dense(10)))[0]
    assert isinstance(row, LayerRow)
    assert (row.index, row.type, row.label) == (0, "conv2d", "conv2d #1")
    assert row.input_shape == (1, 28, 28)
    assert row.output_shape == (6, 28, 28)
    assert row.params == 5 * 5 * 1 * 6 + 6 == 156
    assert row.macs == 6 * 1 * 5 * 5 * 28 * 28
    assert row.memory == 4 * 6 * 28 * 28
    assert row.formula == "(28 − 5 + 2·2)/1 + 1 = 28; 5·5·1·6 + 6 = 156 parameters"
    assert row.ok


def test_conv_without_bias_stride_and_non_square_axes():
    row = infer_shapes(net(3, 32, 20, conv(8, [5, 3], stride=[3, 1], bias=False)))[0]
    assert row.output_shape == (8, 10, 18)  # (32 − 5)/3 + 1, (20 − 3)/1 + 1
    assert row.params == 5 * 3 * 3 * 8
    assert row.formula.startswith(
        "height (32 − 5 + 2·0)/3 + 1 = 10, width (20 − 3 + 2·0)/1 + 1 = 18"
    )


def test_same_and_valid_padding():
    rows = infer_shapes(net(1, 28, 28, conv(4, 5, padding="same"), conv(4, 5, padding="valid")))
    assert rows[0].output_shape == (4, 28, 28)
    assert rows[1].output_shape == (4, 24, 24)


def test_pools_flatten_dense_and_batch_norm():
    spec = net(
        3, 32, 32,
        {"type": "max_pool2d", "size": 2},
        {"type": "avg_pool2d", "size": 3, "stride": 1, "padding": 1},
        {"type": "batch_norm"},
        FLAT,
        {"type": "batch_norm"},
        {"type": "dropout", "rate": 0.5},
        dense(10),
        dense(4, bias=False),
    )  # fmt: skip
    r = infer_shapes(spec)
    shapes = [row.output_shape for row in r]
    assert shapes == [(3, 16, 16), (3, 16, 16), (3, 16, 16), (768,), (768,), (768,), (10,), (4,)]
    assert r[0].formula == "(32 − 2 + 2·0)/2 + 1 = 16; no parameters"
    assert (r[2].params, r[2].buffers) == (6, 6)  # per channel
    assert (r[4].params, r[4].buffers) == (2 * 768, 2 * 768)  # per feature
    assert r[3].formula == "3·16·16 = 768"
    assert (r[6].params, r[6].macs) == (768 * 10 + 10, 768 * 10)
    assert r[6].formula == "768·10 + 10 = 7,690 parameters"
    assert r[7].params == 40
    assert r.num_classes == 4
    assert r.ok


def test_global_average_pool_gives_one_value_per_channel():
    r = infer_shapes(net(3, 8, 8, conv(16, 3), {"type": "global_avg_pool"}, dense(10)))
    assert r[1].output_shape == (16,)
    assert r[2].params == 16 * 10 + 10
    assert r.ok


def test_totals_for_one_image_and_a_batch():
    r = infer_shapes(load_spec("lenet5"))
    assert r.input_shape == (1, 32, 32)
    assert r.total_params == sum(row.params for row in r) == 61_706
    assert r.total_macs == sum(row.macs for row in r)
    assert r.total_memory == 4 * 32 * 32 + sum(row.memory for row in r)
    assert r.param_memory == 4 * 61_706
    assert r.memory_for_batch(1) == r.total_memory + r.param_memory
    assert r.memory_for_batch(64) == 64 * r.total_memory + r.param_memory
    assert r.output_shape == (10,)
    assert r.num_classes == 10


def test_the_report_is_a_sequence_of_rows():
    r = infer_shapes(load_spec("lenet5"))
    assert len(r) == 12
    assert [row.index for row in r] == list(range(12))
    assert r[-1].label == "dense #12"
    assert r.ok and r.problems == ()


@pytest.mark.parametrize(
    ("x", "text"), [(54.25, "54.25"), (26.5, "26.5"), (55.0, "55"), (-1.0, "−1"), (1 / 3, "0.33")]
)
def test_numbers_are_written_as_a_teacher_would(x, text):
    assert num(x) == text


# --------------------------------------------------------------------------- problems


def test_a_non_whole_size_quotes_its_numbers_and_carries_on_rounded_down():
    r = infer_shapes(net(1, 28, 28, conv(4, 3, stride=2), FLAT, dense(10)))
    (p,) = r.problems
    assert (p.layer, p.kind) == (0, "not_whole")
    assert p.message.startswith("conv2d #1: (28 − 3 + 2·0)/2 + 1 = 13.5 is not a whole number; ")
    assert r[0].output_shape == (4, 13, 13)
    assert r[0].problems == (p,) and not r[0].ok
    assert r[1].output_shape == (4 * 13 * 13,)


def test_a_pool_with_a_non_whole_size_is_a_problem_too():
    r = infer_shapes(net(1, 7, 7, {"type": "max_pool2d", "size": 2}, FLAT, dense(10)))
    assert kinds(r) == [(0, "not_whole")]
    assert "(7 − 2 + 2·0)/2 + 1 = 3.5" in r.problems[0].message


def test_one_axis_only():
    spec = net(1, 29, 28, conv(4, 3, stride=2), FLAT, dense(10))
    r = infer_shapes(spec)
    (p,) = r.problems
    assert p.message.startswith("conv2d #1: width: (28 − 3 + 2·0)/2 + 1 = 13.5")
    assert r[0].output_shape == (4, 14, 13)
    local = [f for f in p.fixes if f.action != "rounding"]
    assert local and all(" width " in f.label for f in local)
    assert p.fixes[-1].label == "round down like PyTorch"
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_window_larger_than_its_input_leaves_later_sizes_unknown():
    r = infer_shapes(net(1, 5, 5, conv(4, 7), RELU, FLAT, dense(10)))
    assert kinds(r) == [(0, "window_too_large")]
    assert "(5 − 7 + 2·0)/1 + 1 = −1 is not positive" in r.problems[0].message
    assert "larger than the padded input 5 + 2·0 = 5" in r.problems[0].message
    assert [row.output_shape for row in r] == [None, None, None, (10,)]
    assert r[0].params == 7 * 7 * 4 + 4  # known without the sizes
    assert r.output_shape == (10,)


def test_even_kernel_with_same_padding():
    r = infer_shapes(net(1, 28, 28, conv(4, 4, padding="same"), FLAT, dense(10)))
    (p,) = r.problems
    assert p.kind == "even_same"
    assert "(28 − 4 + 2·1)/1 + 1 = 27, not 28" in p.message
    assert sorted(f.label for f in p.fixes) == ["kernel 3 (→ 28)", "kernel 5 (→ 28)"]


def test_dense_after_feature_maps_needs_a_flatten():
    spec = net(1, 8, 8, conv(2, 3), dense(10))
    r = infer_shapes(spec)
    (p,) = r.problems
    assert (p.layer, p.kind) == (1, "missing_flatten")
    assert "2×6×6 feature maps" in p.message
    assert r[1].params == 72 * 10 + 10  # carried on as if flattened
    (fix,) = p.fixes
    mended = fix.apply(spec)
    assert [layer.type for layer in mended.layers] == ["conv2d", "flatten", "dense"]
    assert infer_shapes(mended).ok


def test_flatten_of_a_flat_input_is_a_note_not_a_problem():
    spec = net(1, 8, 8, FLAT, FLAT, dense(10))
    r = infer_shapes(spec)
    assert r.ok
    assert r[1].output_shape == (64,)
    note = "flatten #2: its input is already a flat vector of 64; it changes nothing"
    assert r[1].notes == (note,)


@pytest.mark.parametrize(
    "layer", [conv(2, 3), {"type": "max_pool2d", "size": 2}, {"type": "global_avg_pool"}]
)
def test_feature_map_layers_after_flatten(layer):
    spec = net(1, 8, 8, FLAT, dense(16), layer, dense(10))
    r = infer_shapes(spec)
    assert kinds(r) == [(2, "needs_feature_maps")]
    assert "after flatten #1" in r.problems[0].message
    assert r[2].output_shape is None
    labels = [f.label for f in r.problems[0].fixes]
    # Moved before the flatten, a global average pool leaves that flatten a harmless note.
    assert labels == ["move it before flatten #1", f"remove {layer['type']} #3"]
    for fix in r.problems[0].fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_batch_norm_after_flatten_is_per_feature_not_a_problem():
    assert infer_shapes(net(1, 8, 8, FLAT, {"type": "batch_norm"}, dense(10))).ok


@pytest.mark.parametrize(
    ("layers", "fix_label"),
    [
        ((), "append flatten and dense 10"),
        ((conv(2, 3),), "append flatten and dense 10"),
        ((FLAT, dense(10), RELU), "append dense 10"),
    ],
)
def test_a_network_must_end_in_a_dense_layer(layers, fix_label):
    spec = net(1, 8, 8, *layers)
    r = infer_shapes(spec)
    assert kinds(r) == [(None, "no_final_dense")]
    assert r.problems[0].message.startswith("network: the last layer must be a dense layer")
    assert r.num_classes is None
    (fix,) = r.problems[0].fixes
    assert fix.label == fix_label
    mended = infer_shapes(fix.apply(spec))
    assert mended.ok and mended.num_classes == 10


def test_every_problem_is_reported_at_once_on_its_own_layer():
    spec = net(1, 28, 28, conv(4, 3, stride=2), FLAT, FLAT, conv(2, 3), RELU)
    r = infer_shapes(spec)
    assert kinds(r) == [
        (0, "not_whole"),
        (3, "needs_feature_maps"),
        (None, "no_final_dense"),
    ]
    for p in r.problems:
        if p.layer is not None:
            assert p in r[p.layer].problems
            assert p.message.startswith(r[p.layer].label + ": ")


def test_a_fix_makes_a_new_spec_and_leaves_the_old_one_alone():
    spec = load_spec("alexnet").with_input(height=224, width=224)
    fix = infer_shapes(spec).problems[0].fixes[0]
    mended = fix.apply(spec)
    assert spec.input.height == 224
    assert mended.input.height == 227 and mended.layers == spec.layers


# --------------------------------------------------------------------------- fixes, property-style


def _random_stack(rng: random.Random) -> NetworkSpec:
    layers = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.7:
            layers.append(
                conv(
                    rng.randint(1, 8),
                    rng.randint(1, 9),
                    stride=rng.randint(1, 4),
                    padding=rng.choice([0, 1, 2, 3, "same"]),
                )
            )
        else:
            layers.append(
                {
                    "type": "max_pool2d",
                    "size": rng.randint(2, 4),
                    "stride": rng.choice([None, 1, 2, 3]),
                }
            )
    h, w = rng.randint(4, 64), rng.randint(4, 64)
    if rng.random() < 0.5:
        w = h
    return net(rng.randint(1, 3), h, w, *layers, FLAT, dense(10))


WINDOW_KINDS = ("not_whole", "window_too_large", "even_same")


def test_every_offered_fix_clears_its_problem_and_makes_nothing_worse():
    rng = random.Random(1234)
    checked = 0
    for _ in range(150):
        spec = _random_stack(rng)
        report = infer_shapes(spec)
        for p in report.problems:
            assert p.kind in WINDOW_KINDS, p.message
            axis = (
                p.message.split(": ")[1] if p.message.split(": ")[1] in ("height", "width") else ""
            )
            for fix in p.fixes:
                after = infer_shapes(fix.apply(spec))
                prefix = f"{after[p.layer].label}: {axis}:"
                same = [
                    q
                    for q in after[p.layer].problems
                    if q.kind == p.kind and (not axis or q.message.startswith(prefix))
                ]
                assert not same, (spec.to_dict(), p.message, fix.label, same)
                assert len(after.problems) <= len(report.problems), (p.message, fix.label)
                shape = after[p.layer].output_shape
                if shape is not None and fix.action != "rounding":  # other axis may be broken
                    assert f"(→ {shape[2 if axis == 'width' else 1]})" in fix.label
                checked += 1
    assert checked > 100  # the seeded stacks do exercise the search


def test_fix_labels_in_the_message():
    spec = net(1, 28, 28, conv(4, 3, stride=2), FLAT, dense(10))
    p = infer_shapes(spec).problems[0]
    assert p.fixes
    for fix in p.fixes:
        assert fix.label in p.message


# --------------------------------------------------------------------------- never raises


def test_odd_specs_never_raise():
    empty = NetworkSpec(InputSpec(1, 1, 1))
    assert len(infer_shapes(empty)) == 0
    assert infer_shapes(empty).output_shape is None
    # Built without validation, as a buggy caller might.
    broken = NetworkSpec(InputSpec(3, 8, 8), (LayerSpec("conv2d", ()), LayerSpec("dense", ())))
    r = infer_shapes(broken)
    assert [p.kind for p in r.problems][:2] == ["bad_fields", "bad_fields"]
    huge = net(1, 65536, 65536, conv(4, 4096, stride=4096), FLAT, dense(10))
    assert infer_shapes(huge).ok
    tiny = net(1, 1, 1, {"type": "max_pool2d", "size": 4096}, conv(1, 4096), FLAT, dense(1))
    assert [p.kind for p in infer_shapes(tiny).problems] == ["window_too_large"]
    assert infer_shapes("not a spec").problems[0].message.startswith("network: cannot be read")


def test_a_kernel_fix_never_brings_an_even_kernel_to_same_padding():
    # (10 − 5 + 2·2)/2 + 1 = 5.5: kernel 4 or 6 would make it whole, but an even kernel
    # cannot keep "same" padding, so the fix would only trade one problem for another.
    spec = net(1, 10, 10, conv(2, 5, stride=2, padding="same"), FLAT, dense(3))
    (p,) = infer_shapes(spec).problems
    assert p.kind == "not_whole" and p.fixes
    assert not [f.label for f in p.fixes if f.field == "kernel"]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


def test_a_window_fix_that_would_pad_a_pool_past_half_its_window_is_not_offered():
    # (32 − 1 + 2·0)/3 + 1 = 11.33: padding 1 would make it whole, but a 1-pixel window
    # padded by 1 holds only padding (PyTorch refuses it).
    spec = net(1, 32, 32, {"type": "avg_pool2d", "size": 1, "stride": 3}, FLAT, dense(3))
    (p,) = infer_shapes(spec).problems
    assert p.fixes and not [f.label for f in p.fixes if f.field == "padding"]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label


@pytest.mark.parametrize(
    ("layer", "word"),
    [
        (
            LayerSpec("avg_pool2d", (("size", (2, 2)), ("stride", "x"), ("padding", (0, 0)))),
            "stride",
        ),
        (
            LayerSpec("max_pool2d", (("size", (2, 2)), ("stride", (0, 0)), ("padding", (0, 0)))),
            "stride",
        ),
        (LayerSpec("conv2d", (("filters", -3), ("kernel", (3, 3)))), "filters"),
        (LayerSpec("conv2d", ()), "missing"),
        (LayerSpec("dense", (("units", "same"),)), "units"),
        (LayerSpec("lp_pool2d", (("p", float("nan")), ("size", (2, 2)))), "p"),
        (LayerSpec("bogus"), "not a layer type"),
    ],
)
def test_a_layer_built_around_validation_gets_its_row_and_a_problem(layer, word):
    # LayerSpec(...) checks nothing: inference must neither compute with its numbers (a
    # stride of 0 divided by zero, "same" × 10**12 filled the memory) nor lose every row.
    spec = NetworkSpec(InputSpec(3, 10**6, 8), (LayerSpec.create("relu"), layer,
                                                LayerSpec.create("flatten"),
                                                LayerSpec.create("dense", units=2)))  # fmt: skip
    report = infer_shapes(spec)
    assert len(report.rows) == 4
    (p,) = [p for p in report.problems if p.kind == "bad_fields"]
    assert p.layer == 1 and "cannot be read" in p.message and word in p.message, p.message
    assert report.rows[0].output_shape == (3, 10**6, 8)
    assert report.total_memory > 0 and report.peak_memory > 0 and report.total_params >= 0


def test_when_the_nearest_value_breaks_a_later_layer_the_next_nearest_is_offered():
    # (8 − 9)/1 + 1 = 0: kernel 8 would fit (→ 1), but the 2×2 pool after it would then get
    # a 1×1 input; kernel 7 (→ 2) fits both.
    spec = net(1, 8, 8, conv(2, 9), {"type": "max_pool2d", "size": 2}, FLAT, dense(3))
    (p,) = infer_shapes(spec).problems
    assert p.kind == "window_too_large"
    assert "kernel 7 (→ 2)" in [f.label for f in p.fixes]
    for fix in p.fixes:
        assert infer_shapes(fix.apply(spec)).ok, fix.label
