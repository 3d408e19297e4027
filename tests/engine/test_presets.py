"""The bundled presets and the template generator, row by row."""

from __future__ import annotations

import pytest

from engine.shapes import infer_shapes
from engine.spec import load_spec
from engine.templates import template


def spatial(report) -> list[int]:
    return [
        row.output_shape[1] for row in report if row.output_shape and len(row.output_shape) == 3
    ]


def test_alexnet_rows():
    r = infer_shapes(load_spec("alexnet"))
    assert r.ok
    windowed = [row for row in r if row.type in ("conv2d", "max_pool2d")]
    assert [row.output_shape[1] for row in windowed] == [55, 27, 27, 13, 13, 13, 13, 6]
    assert [row.output_shape for row in r if row.type == "flatten"] == [(9216,)]
    assert r.total_params == 62_378_344
    assert [row.output_shape[0] for row in windowed] == [96, 96, 256, 256, 384, 384, 256, 256]
    assert [row.type for row in r].count("dropout") == 2
    assert r.num_classes == 1000


def test_alexnet_at_224_is_the_famous_typo():
    spec = load_spec("alexnet").with_input(height=224, width=224)
    r = infer_shapes(spec)
    first = r.problems[0]
    assert first.layer == 0 and first.kind == "not_whole"
    assert first.message == (
        "conv2d #1: (224 − 11 + 2·0)/4 + 1 = 54.25 is not a whole number; "
        "input 227 (→ 55) or kernel 12 (→ 54) would make it whole; "
        "or round down like PyTorch (floor rounding)"
    )
    assert not any("padding" in f.label for f in first.fixes)  # 213 + 2P is odd: none can
    (to_227,) = [f for f in first.fixes if f.label.startswith("input 227")]
    mended = infer_shapes(to_227.apply(spec))
    assert mended.ok and mended.total_params == 62_378_344
    (kernel,) = [f for f in first.fixes if f.label.startswith("kernel")]
    assert infer_shapes(kernel.apply(spec))[0].ok


def test_lenet5():
    r = infer_shapes(load_spec("lenet5"))
    assert r.ok and r.total_params == 61_706
    assert spatial(r) == [28, 28, 14, 10, 10, 5]
    assert r[6].output_shape == (400,)


def test_vgg16():
    r = infer_shapes(load_spec("vgg16"))
    assert r.ok and r.total_params == 138_357_544
    convs = [row for row in r if row.type == "conv2d"]
    assert len(convs) == 13 and [row.type for row in r].count("dense") == 3
    assert [row.output_shape[1] for row in r if row.type == "max_pool2d"] == [112, 56, 28, 14, 7]
    assert r.input_shape == (3, 224, 224)


def test_mnist_two_conv():
    r = infer_shapes(load_spec("mnist-2conv"))
    assert r.ok
    assert [row.output_shape for row in r if row.type in ("conv2d", "max_pool2d", "flatten")] == [
        (32, 28, 28),
        (32, 14, 14),
        (64, 14, 14),
        (64, 7, 7),
        (3136,),
    ]
    (drop,) = [load_spec("mnist-2conv").layers[row.index] for row in r if row.type == "dropout"]
    assert drop["rate"] == 0.4
    assert r.total_params == 3_274_634


@pytest.mark.parametrize("name", ["alexnet", "lenet5", "mnist-2conv", "vgg16"])
def test_every_preset_has_a_name_and_ends_in_logits(name):
    spec = load_spec(name)
    assert spec.name
    assert spec.layers[-1].type == "dense"


def test_the_default_template():
    spec = template()
    types = [layer.type for layer in spec.layers]
    assert types == [
        *(["conv2d", "relu"] * 2 + ["max_pool2d"]) * 2,
        "flatten",
        "dense",
        "relu",
        "dense",
    ]
    r = infer_shapes(spec)
    assert r.ok
    assert [row.output_shape[0] for row in r if row.type == "conv2d"] == [32, 32, 64, 64]
    assert r[10].output_shape == (64 * 7 * 7,)
    assert r.num_classes == 10


def test_a_template_with_every_argument():
    spec = template(
        n=1, m=3, k=2, filters=16, kernel=5, pool_size=2, dense_units=(64, 32),
        classes=4, input=(3, 32, 32), padding=2, name="small",
    )  # fmt: skip
    r = infer_shapes(spec)
    assert r.ok and spec.name == "small"
    assert [row.output_shape for row in r if row.type == "conv2d"] == [
        (16, 32, 32),
        (32, 16, 16),
        (64, 8, 8),
    ]  # a single filter count doubles at each stage
    assert [row.output_shape for row in r if row.type == "dense"] == [(64,), (32,), (4,)]


def test_a_template_without_pools_or_stages():
    no_pool = template(n=1, m=2, pool=False, filters=(8, 8))
    assert "max_pool2d" not in [layer.type for layer in no_pool.layers]
    assert infer_shapes(no_pool)[-1].output_shape == (10,)
    no_stage = template(m=0, k=0, input=(1, 4, 4))
    assert [layer.type for layer in no_stage.layers] == ["flatten", "dense"]
    assert infer_shapes(no_stage).total_params == 16 * 10 + 10


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n": 0}, "n must be an integer ≥ 1"),
        ({"m": -1}, "m must be an integer ≥ 0"),
        ({"k": 1.5}, "k must be"),
        ({"filters": (32,)}, "filters must give 2 values"),
        ({"filters": (32, 0)}, "filters[1]"),
        ({"filters": "32"}, "filters must be an integer or a sequence"),
        ({"dense_units": (1, 2)}, "dense_units must give 1 values"),
        ({"kernel": 0}, "kernel must be"),
        ({"kernel": 5000}, "kernel"),
        ({"padding": "full"}, "padding must be"),
        ({"pool": "yes"}, "pool must be true or false"),
        ({"classes": 0}, "classes must be"),
        ({"input": (28, 28)}, "input must be (channels, height, width)"),
        ({"input": (1, 0, 28)}, "input must be"),
    ],
)
def test_template_arguments_are_validated(kwargs, words):
    with pytest.raises(ValueError) as caught:
        template(**kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize("block", ["residual", "inception"])
def test_templates_with_residual_and_inception_blocks(block):
    from engine.shapes import infer_shapes
    from engine.templates import template

    spec = template(n=2, m=2, k=1, block=block, input=(3, 32, 32), classes=5)
    report = infer_shapes(spec)
    assert report.ok, [p.message for p in report.problems]
    assert spec.version == 2 and not spec.is_chain
    merge = "add" if block == "residual" else "concat"
    assert sum(layer.type == merge for layer in spec.layers) == 4
    assert report.output_shape == (5,)
    # Stage outputs have the stage's filters: 32 then 64.
    pools = [r.output_shape for r in report if r.type == "max_pool2d" and r.output_shape[1] < 16]
    assert pools[-1][0] == 64


def test_template_block_is_validated():
    from engine.templates import template

    with pytest.raises(ValueError, match="block must be one of"):
        template(block="dense")
