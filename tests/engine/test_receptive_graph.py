"""engine.receptive_graph: a pixel's receptive field along every path, checked by hand on an
Inception module and a residual block, against engine.inspect.receptive_field's union on
real presets, and on path counts of a dense block (2^n paths)."""

from __future__ import annotations

import pytest

from engine.blocks import GraphBuilder, dense_block, inception_module
from engine.graph import INPUT
from engine.inspect import Box, receptive_field
from engine.receptive_graph import MAX_BOXES, path_fields
from engine.spec import load_spec


def small_inception():
    g = GraphBuilder()
    inception_module(g, INPUT, 4, 3, 8, 2, 4, 5, bn=False)
    return g.spec((3, 16, 16), name="one inception module")


def test_an_inception_pixel_sees_1_3_and_5_wide_patches_through_its_four_branches():
    spec = small_inception()
    concat = len(spec.layers) - 1
    f = path_fields(spec, concat, 8, 8)
    assert f[-1] == {Box(8, 8, 9, 9): 1, Box(7, 7, 10, 10): 2, Box(6, 6, 11, 11): 1}
    assert f.paths() == 4
    assert f.describe() == "4 paths: 1×1, 3×3 (2 paths), 5×5 of the input"
    layers = spec.layers
    five = next(i for i, layer in enumerate(layers) if layer.get("kernel") == (5, 5))
    assert f[five] == {Box(8, 8, 9, 9): 1}  # the 5×5 conv's own pixel (relu after it)
    assert f[five - 2] == {Box(6, 6, 11, 11): 1}  # its 1×1 reduce: the 5×5 window
    pool = next(i for i, layer in enumerate(layers) if layer.type == "max_pool2d")
    assert f[pool] == {Box(8, 8, 9, 9): 1}
    # at a corner, padding zeros depend on nothing: the boxes are clipped
    corner = path_fields(spec, concat, 0, 0)
    assert corner[-1] == {Box(0, 0, 1, 1): 1, Box(0, 0, 2, 2): 2, Box(0, 0, 3, 3): 1}


def test_a_resnet_pixel_sees_its_block_input_through_the_shortcut_and_the_convolutions():
    spec = load_spec("resnet20")
    add = [layer.type for layer in spec.layers].index("add")
    main, shortcut = spec.inputs_of(add)
    f = path_fields(spec, add, 10, 10)
    # the block's input (the stem's relu): 1×1 through the shortcut, 5×5 through two 3×3s
    assert f[shortcut] == {Box(10, 10, 11, 11): 1, Box(8, 8, 13, 13): 1}
    assert f[main] == {Box(10, 10, 11, 11): 1}
    # the stem's 3×3 conv widens both by one on each side
    assert f[-1] == {Box(9, 9, 12, 12): 1, Box(7, 7, 14, 14): 1}
    assert f.describe() == "2 paths: 3×3, 7×7 of the input"


@pytest.mark.parametrize("preset", ["lenet5", "resnet20", "googlenet", "inception-cifar"])
def test_the_union_over_paths_is_the_receptive_field_of_every_layer(preset):
    spec = load_spec(preset)
    from engine.shapes import infer_shapes

    report = infer_shapes(spec)
    spatial = [i for i, row in enumerate(report) if row.output_shape and len(row.output_shape) == 3]
    for index in [*spatial[:: max(1, len(spatial) // 12)], spatial[-1]]:
        _, h, w = report[index].output_shape
        for y, x in ((0, 0), (h // 2, w // 3), (h - 1, w - 1)):
            f = path_fields(spec, index, y, x)
            union = receptive_field(spec, index, y, x)
            assert [f.union(i) for i in range(-1, index + 1)] == union, (preset, index, y, x)
            if spec.is_chain:
                assert all(f.paths(i) == 1 for i in range(-1, index + 1) if union[i + 1])


def test_paths_through_a_dense_block_are_counted_exactly_without_listing_them():
    g = GraphBuilder()
    x = g.conv(INPUT, 8, 3, padding=1)
    dense_block(g, x, layers=5, growth=4, bottleneck=1)
    spec = g.spec((3, 12, 12))
    f = path_fields(spec, len(spec.layers) - 1, 6, 6)
    assert f.paths(0) == 2**5  # each concat doubles the ways from the block's input
    assert f.paths() == 2**5
    # through k of the 3×3 convolutions the box is (2k+1) wide (then the stem's 3×3: +2)
    widths = sorted(b.width for b in f[-1])
    assert widths == [3, 5, 7, 9, 11, 12]  # 13 clipped to the 12-pixel image
    counts = {b.width: n for b, n in f[-1].items()}
    assert counts[3] == 1 and counts[5] == 5 and counts[7] == 10  # binomial(5, k)
    assert not f.truncated


def test_many_distinct_boxes_are_merged_and_said_so():
    spec = load_spec("densenet121")
    last = max(i for i, layer in enumerate(spec.layers) if layer.type == "concat")
    f = path_fields(spec, last, 3, 3)
    assert f.truncated and len(f[-1]) <= MAX_BOXES
    assert f.union(-1) == receptive_field(spec, last, 3, 3)[0]
    assert "merged" in f.describe()


def test_layers_without_a_spatial_output_are_refused_with_a_reason():
    spec = load_spec("lenet5")
    with pytest.raises(ValueError, match="no spatial layout"):
        path_fields(spec, 7, 0, 0)  # a dense layer
    with pytest.raises(ValueError, match="outside layer 0"):
        path_fields(spec, 0, 28, 0)
    with pytest.raises(ValueError, match="layer_index 40"):
        path_fields(spec, 40, 0, 0)


def test_views_name_a_chains_layers_by_kind_and_a_graphs_by_id():
    import numpy as np

    from engine.inspect import dead_relu_fractions, layer_labels, layer_names
    from engine.network import build

    lenet = load_spec("lenet5")
    assert layer_labels(lenet) == layer_names(lenet)
    resnet = load_spec("resnet20")
    labels = layer_labels(resnet)
    assert labels == list(resnet.wiring.ids) and "s1b1_out" in labels
    # a relu is named by the layer that feeds it, not by the entry before it in the list
    # (which, in a graph, may be on another branch)
    g = GraphBuilder()
    a = g.conv(INPUT, 4, 3, padding=1, name="left")
    b = g.conv(INPUT, 4, 1, name="right")
    r = g.layer("relu", a, "left_relu")
    j = g.layer("add", [r, b], "join")
    f = g.layer("flatten", j, "flat")
    g.layer("dense", f, "out", units=2)
    spec = g.spec((1, 8, 8))
    assert spec.inputs_of(2) == (0,)  # the relu takes "left", the entry before is "right"
    acts = build(spec, seed=0).forward_activations(np.zeros((2, 1, 8, 8), np.float32))
    (dead,) = dead_relu_fractions(acts, spec)
    assert dead.index == 2 and dead.name == "left"
    stem = labels.index("stem_relu")
    acts = build(resnet, seed=0).forward_activations(np.zeros((1, 3, 32, 32), np.float32))
    named = {d.index: d.name for d in dead_relu_fractions(acts, resnet)}
    assert named[stem] == labels[0]  # through the batch norm to the stem's conv
