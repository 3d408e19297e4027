"""engine.inception_edit: Make Inception block replaces one layer with GoogLeNet's module,
checked with shape inference, a round trip through JSON, and a forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from engine.graph_edits import GraphEditError
from engine.inception_edit import (
    InceptionCounts,
    default_counts,
    make_inception,
    preview_inception,
)
from engine.network import build
from engine.shapes import infer_shapes
from engine.spec import NetworkSpec, load_spec

COUNTS = InceptionCounts(c1=4, c3_reduce=3, c3=8, c5_reduce=2, c5=4, pool_proj=5)


def test_a_lenet_conv_becomes_four_branches_and_a_concat():
    spec = load_spec("lenet5")
    new, at = make_inception(spec, 0, COUNTS)
    types = [layer.type for layer in new.layers]
    assert types[at] == "concat" and len(new.inputs_of(at)) == 4
    assert at == 13 and types[at + 1 :] == [layer.type for layer in spec.layers[1:]]
    # each branch starts at the input and ends in a relu
    starts = [i for i in range(at) if new.inputs_of(i) == (-1,)]
    assert [types[i] for i in starts] == ["conv2d", "conv2d", "conv2d", "max_pool2d"]
    assert all(types[j] == "relu" for j in new.inputs_of(at))
    kernels = sorted(new.layers[i]["kernel"] for i in range(at) if types[i] == "conv2d")
    assert kernels == [(1, 1)] * 4 + [(3, 3), (5, 5)]
    report = infer_shapes(new)
    assert not report.problems
    assert report[at].output_shape == (4 + 8 + 4 + 5, 32, 32)  # the input's H×W kept
    assert new.inputs_of(at + 1) == (at,)  # the relu after the old conv takes the concat
    again = NetworkSpec.from_dict(new.to_dict())
    assert again == new
    net = build(new, seed=0)
    out = net.forward(np.zeros((2, 1, 32, 32), np.float32))
    assert out.shape == (2, 10)


def test_the_preview_counts_the_block_as_the_report_does():
    spec = load_spec("lenet5")
    p = preview_inception(spec, 3, COUNTS)  # the second conv: 6×14×14 in
    assert p.output_shape == (21, 14, 14)
    # parameters by hand: 1×1 convs from 6 channels, 3×3 and 5×5 from their reduces, biases
    by_hand = (6 * 4 + 4) + (6 * 3 + 3) + (9 * 3 * 8 + 8) + (6 * 2 + 2) + (25 * 2 * 4 + 4)
    by_hand += 6 * 5 + 5
    assert p.params == by_hand
    assert p.macs == sum(k * k * c * f for k, c, f in [(1, 6, 4), (1, 6, 3), (3, 3, 8),
                         (1, 6, 2), (5, 2, 4), (1, 6, 5)]) * 14 * 14  # fmt: skip
    assert (p.before_shape, p.before_params) == ((16, 10, 10), 2416)
    assert [len(b) for b in p.branches] == [1, 2, 2, 2] and p.branches[2][1] == "5×5 conv, 4"
    assert p.problems == ()


def test_batch_norm_and_a_graph_network_keep_every_other_connection():
    spec = load_spec("resnet20")
    add = [layer.type for layer in spec.layers].index("add")
    main, shortcut = spec.inputs_of(add)
    index = shortcut + 1  # the first conv of the first block (takes the stem relu)
    counts = default_counts(spec, index)
    assert counts.bn and counts.channels == 16  # GoogLeNet's proportions of 16 filters
    new, at = make_inception(spec, index, counts)
    types = [layer.type for layer in new.layers]
    grown = len(new.layers) - len(spec.layers)
    assert types.count("batch_norm") == [t.type for t in spec.layers].count("batch_norm") + 6
    assert all(not new.layers[i]["bias"] for i in range(index, at) if types[i] == "conv2d")
    assert new.inputs_of(add + grown) == (main + grown, shortcut)  # the shortcut is untouched
    assert not infer_shapes(new).problems
    again, _ = make_inception(new, at + 3, counts)  # a second module gets its own ids
    assert len(set(again.wiring.ids)) == len(again.layers)
    assert any(i.startswith("inception_2_") for i in again.wiring.ids)


def test_what_cannot_become_an_inception_block_says_why():
    spec = load_spec("lenet5")
    with pytest.raises(GraphEditError, match="flat vector of 400"):
        make_inception(spec, 7, COUNTS)  # the first dense layer
    with pytest.raises(GraphEditError, match="c3 must be a whole number"):
        make_inception(spec, 0, InceptionCounts(4, 3, 0, 2, 4, 5))
    resnet = load_spec("resnet20")
    add = [layer.type for layer in resnet.layers].index("add")
    with pytest.raises(GraphEditError, match="merges 2 inputs"):
        make_inception(resnet, add, COUNTS)
