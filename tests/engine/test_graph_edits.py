"""engine.graph_edits: the designer's one-gesture wiring edits, checked on real presets with
shape inference (a good edit leaves no problems; a refused one says why)."""

from __future__ import annotations

import pytest

from engine.graph_edits import (
    GraphEditError,
    add_residual,
    connect,
    insert_on_edge,
    move_to_edge,
    remove_connection,
)
from engine.shapes import infer_shapes
from engine.spec import LayerSpec, NetworkSpec, load_spec


def _types(spec: NetworkSpec) -> list[str]:
    return [layer.type for layer in spec.layers]


def _roundtrip(spec: NetworkSpec) -> NetworkSpec:
    again = NetworkSpec.from_dict(spec.to_dict())
    assert again.wiring.inputs == spec.wiring.inputs
    return again


def test_residual_on_same_shape_layers_is_a_plain_shortcut():
    spec = load_spec("lenet5")  # conv 6@5×5 → relu → pool → conv 16@5×5 → relu (4)
    spec = spec.replace_layer(3, spec.layers[3].replace(padding=2, filters=6))
    new, at = add_residual(spec, [3, 4])
    assert _types(new)[3:7] == ["conv2d", "relu", "add", "max_pool2d"]
    assert at == 5
    assert new.inputs_of(5) == (4, 2)  # the block's output and its input
    assert new.inputs_of(6) == (5,)  # the pool after the block takes the sum
    report = infer_shapes(new)
    assert not report.problems
    assert report[5].output_shape == (6, 14, 14)
    _roundtrip(new)


def test_residual_across_a_shape_change_gets_a_projection_shortcut():
    spec = load_spec("lenet5")
    new, at = add_residual(spec, [3, 4])  # 6×14×14 → 16×10×10 (a valid 5×5 conv)
    conv = new.layers[5]
    assert conv.type == "conv2d" and conv["filters"] == 16 and conv["bias"] is True
    # no 1×1 takes 14 to 10; the shortcut's kernel grows to the block's: 5×5, stride 1
    assert conv["kernel"] == (5, 5) and conv["stride"] == (1, 1)
    assert new.layers[at].type == "add"
    assert not infer_shapes(new).problems
    halving, at = add_residual(spec, [0, 1, 2])  # 1×32×32 → 6×14×14 (conv, relu, pool)
    conv = halving.layers[3]
    assert (conv["kernel"], conv["stride"]) == ((6, 6), (2, 2))
    assert not infer_shapes(halving).problems


def test_residual_on_a_resnet_stage_with_batch_norm_projects_with_batch_norm():
    spec = load_spec("resnet20")
    # a stride-2 conv → bn → relu of stage 2 (16×32×32 → 32×16×16)
    first = next(
        i for i, layer in enumerate(spec.layers)
        if layer.type == "conv2d" and layer["stride"] == (2, 2)
    )  # fmt: skip
    block = [first, first + 1, first + 2]
    new, at = add_residual(spec, block)
    added = new.layers[first + 3 : at + 1]
    assert [layer.type for layer in added] == ["conv2d", "batch_norm", "add"]
    assert added[0]["filters"] == 32 and added[0]["stride"] == (2, 2)
    assert added[0]["bias"] is False
    assert not infer_shapes(new).problems
    assert len(new.layers) == len(spec.layers) + 3
    _roundtrip(new)


def test_residual_refuses_what_is_not_a_block():
    spec = load_spec("lenet5")
    with pytest.raises(GraphEditError, match="consecutive"):
        add_residual(spec, [0, 2])
    with pytest.raises(GraphEditError, match="select"):
        add_residual(spec, [])
    with pytest.raises(GraphEditError, match="flat"):
        add_residual(spec, [7])  # dense 120 on 400 features
    resnet = load_spec("resnet20")
    add = _types(resnet).index("add")
    with pytest.raises(GraphEditError, match="one input"):
        add_residual(resnet, [add])  # the add takes two outside layers


def test_connect_with_add_then_remove_gives_the_network_back():
    spec = load_spec("lenet5")
    spec = spec.replace_layer(3, spec.layers[3].replace(padding=2, filters=6))
    new, at = connect(spec, 2, 5, "add")  # pool 1 → (new add) → pool 2
    assert new.layers[at].type == "add" and new.inputs_of(at) == (4, 2)
    assert new.inputs_of(at + 1) == (at,)
    assert not infer_shapes(new).problems
    back = remove_connection(new, 2, at)
    assert _types(back) == _types(spec)
    assert back.wiring.inputs == spec.wiring.inputs


def test_connect_into_a_concat_adds_one_more_input():
    spec = load_spec("inception-cifar")
    at = _types(spec).index("concat")
    sources = spec.inputs_of(at)
    extra = min(sources) - 1
    new, where = connect(spec, extra, at, "concat")
    assert where == at and new.inputs_of(at) == (*sources, extra)
    assert len(new.layers) == len(spec.layers)
    again = remove_connection(new, extra, at)
    assert again.inputs_of(at) == sources


def test_connect_refuses_backwards_and_repeated_connections():
    spec = load_spec("lenet5")
    with pytest.raises(GraphEditError, match="later"):
        connect(spec, 5, 3)
    with pytest.raises(GraphEditError, match="already"):
        connect(spec, 2, 3)
    with pytest.raises(GraphEditError, match="add or a concat"):
        connect(spec, 0, 3, "multiply")
    with pytest.raises(GraphEditError, match="only"):
        remove_connection(spec, 2, 3)


def test_insert_on_a_shortcut_edge_changes_only_that_edge():
    spec = load_spec("resnet20")
    add = _types(spec).index("add")
    main, shortcut = spec.inputs_of(add)
    new = insert_on_edge(spec, shortcut, add, LayerSpec.create("relu"))
    assert new.layers[add].type == "relu" and new.inputs_of(add) == (shortcut,)
    assert new.inputs_of(add + 1) == (main, add)
    assert not infer_shapes(new).problems
    chain = load_spec("lenet5")
    dropped = insert_on_edge(chain, 0, 1, LayerSpec.create("batch_norm"))
    assert dropped.is_chain and _types(dropped)[:3] == ["conv2d", "batch_norm", "relu"]


# --------------------------------------------------------------------------- move


@pytest.mark.parametrize(("index", "src", "dst"), [(6, 4, 5), (1, 3, 4), (4, -1, 0), (0, 10, 11)])
def test_moving_a_layer_of_a_chain_is_the_chain_move(index, src, dst):
    spec = load_spec("lenet5")
    new, at = move_to_edge(spec, index, src, dst)
    assert new.layers[at] == spec.layers[index]
    assert new == spec.move_layer(index, at)
    assert new.is_chain


def test_a_layer_moved_onto_a_shortcut_keeps_every_other_connection():
    spec = load_spec("resnet20")
    add = _types(spec).index("add")
    main, shortcut = spec.inputs_of(add)  # (batch norm 7, stem relu 2)
    relu = shortcut + 3  # the relu inside the first block
    assert spec.layers[relu].type == "relu" and spec.inputs_of(relu + 1) == (relu,)
    new, at = move_to_edge(spec, relu, shortcut, add)
    assert new.layers[at].type == "relu" and new.inputs_of(at) == (shortcut,)
    assert new.inputs_of(at + 1) == (main - 1, at)  # the add takes the moved relu's output
    assert new.inputs_of(relu) == (relu - 1,)  # the block's second conv takes the bn now
    assert len(new.layers) == len(spec.layers)
    assert not infer_shapes(new).problems
    _roundtrip(new)
    # a named layer keeps its id where it goes
    out = add + 1
    named, at = move_to_edge(spec, out, -1, 0)
    assert at == 0 and named.layers[0].id == spec.layers[out].id
    assert named.inputs_of(out + 1) == (add + 1,)  # what took it takes the add instead
    _roundtrip(named)


def test_moves_that_do_not_apply_say_why():
    spec = load_spec("resnet20")
    add = _types(spec).index("add")
    with pytest.raises(GraphEditError, match="already"):
        move_to_edge(spec, 3, 2, 3)
    with pytest.raises(GraphEditError, match="no such connection"):
        move_to_edge(spec, 3, 5, 9)
    with pytest.raises(GraphEditError, match="joins 2 inputs"):
        move_to_edge(spec, add, -1, 0)

