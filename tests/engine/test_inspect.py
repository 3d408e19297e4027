"""engine.inspect against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.inspect import (
    Box,
    activation_histograms,
    confusion_cell,
    confusion_matrix,
    dead_relu_fractions,
    filter_images,
    histogram,
    layer_names,
    misclassified,
    receptive_field,
    weight_histograms,
)
from engine.spec import NetworkSpec

LENET = NetworkSpec.from_dict(
    {
        "input": {"channels": 1, "height": 32, "width": 32},
        "layers": [
            {"type": "conv2d", "filters": 6, "kernel": 5},
            {"type": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "conv2d", "filters": 16, "kernel": 5},
            {"type": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 120},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    }
)


def test_confusion_matrix_counts_pairs_and_sums_to_n():
    labels = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(labels, pred, 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum() == len(labels)


def test_confusion_matrix_rejects_out_of_range_and_mismatch():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_confusion_cell_and_misclassified_sorted_by_confidence():
    probs = np.array(
        [[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32
    )
    labels = np.array([0, 0, 0, 1, 1])
    # true 0 predicted 1: examples 1 (0.7) and 2 (0.55), most confident first
    assert confusion_cell(probs, labels, 0, 1).tolist() == [1, 2]
    assert confusion_cell(probs, labels, 1, 1).tolist() == [3]
    wrong = misclassified(probs, labels)
    assert [(m.index, m.true, m.predicted) for m in wrong] == [(1, 0, 1), (4, 1, 0), (2, 0, 1)]
    assert wrong[0].confidence == pytest.approx(0.7)
    assert len(misclassified(probs, labels, limit=1)) == 1


def test_layer_names_number_each_kind():
    assert layer_names(LENET)[:7] == [
        "conv1",
        "relu1",
        "pool1",
        "conv2",
        "relu2",
        "pool2",
        "flatten1",
    ]


def test_dead_relu_fractions_names_the_feeding_layer_and_warns():
    n = 4
    acts = [np.zeros((n, 1))] * len(LENET.layers)
    relu1 = np.ones((n, 6, 28, 28), dtype=np.float32)
    relu1[:, :3] = 0.0  # half the channels never fire on any example
    relu2 = np.ones((n, 16, 10, 10), dtype=np.float32)
    relu2[0, :, :, :] = 0.0  # silent on one example only: alive
    relu3 = np.zeros((n, 120), dtype=np.float32)
    relu3[1, :12] = 2.0  # 12 of 120 alive -> 90% dead
    acts = list(acts)
    acts[1], acts[4], acts[8] = relu1, relu2, relu3
    report = dead_relu_fractions(acts, LENET)
    assert [(r.index, r.name) for r in report] == [(1, "conv1"), (4, "conv2"), (8, "dense1")]
    assert report[0].fraction == pytest.approx(0.5)
    assert report[1].fraction == 0.0 and report[1].warning is None
    assert report[2].fraction == pytest.approx(0.9)
    assert report[2].warning == (
        "dense1: 108 of 120 units never fire on 4 validation images — try a lower learning "
        "rate or leaky ReLU"
    )
    assert (report[0].dead, report[0].units, report[0].unit) == (3, 6, "filters")
    with pytest.raises(ValueError):
        dead_relu_fractions(acts[:3], LENET)


def test_a_filter_that_fires_anywhere_on_any_image_is_alive():
    """Per filter, not per position: a filter that fires only where its pattern is (one
    corner of one image) is alive; counting positions would call it 99.9% dead (issue 9)."""
    n = 8
    acts = [np.zeros((n, 1))] * len(LENET.layers)
    relu1 = np.zeros((n, 6, 28, 28), dtype=np.float32)
    relu1[5, :4, 0, 0] = 1.0  # filters 0-3 fire at one position of image 5; 4 and 5 never
    acts = list(acts)
    acts[1] = relu1
    (conv1, *_) = dead_relu_fractions(acts, LENET)
    assert (conv1.dead, conv1.units, conv1.images) == (2, 6, 8)
    assert conv1.fraction == pytest.approx(2 / 6)
    assert conv1.text == "conv1: 2 of 6 filters never fire on 8 validation images"


def test_histograms_skip_non_finite_and_handle_constants():
    counts, edges = histogram(np.array([0.0, 1.0, 1.0, np.nan, np.inf]), bins=2)
    assert counts.tolist() == [1, 2]
    assert edges.tolist() == [0.0, 0.5, 1.0]
    counts, edges = histogram(np.full(5, 3.0), bins=4)
    assert counts.sum() == 5 and edges[0] < 3.0 < edges[-1]
    hw = weight_histograms({"0.weight": np.arange(10.0)}, bins=5)
    assert hw["0.weight"][0].tolist() == [2, 2, 2, 2, 2]
    ha = activation_histograms([np.zeros(3), np.ones((2, 2))], bins=3)
    assert [h[0].sum() for h in ha] == [3, 4]


def test_filter_images_keep_zero_at_mid_grey_per_filter():
    w = np.zeros((2, 3, 2, 2), dtype=np.float32)
    w[0, 0, 0, 0] = 4.0
    w[0, 1, 1, 1] = -2.0
    w[1, 2, 0, 1] = -0.5
    img = filter_images(w)
    assert img.shape == w.shape and img.dtype == np.float32
    assert img[0, 0, 0, 0] == 1.0 and img[0, 1, 1, 1] == 0.25 and img[0, 2, 0, 0] == 0.5
    assert img[1, 2, 0, 1] == 0.0
    rgb = filter_images(w, rgb=True)
    assert rgb.shape == (2, 2, 2, 3) and rgb[0, 0, 0, 0] == 1.0
    with pytest.raises(ValueError):
        filter_images(w[:, :2], rgb=True)


def test_receptive_field_of_lenet_conv2_is_14_by_14():
    boxes = receptive_field(LENET, 3, 4, 6)
    assert len(boxes) == 5
    # conv2 pixel (4, 6) <- pool1 rows 4..8, cols 6..10 <- conv1 rows 8..17, cols 12..21
    # <- input rows 8..21, cols 12..25: 5 + (5 - 1) * 2 = 14 pixels each way.
    assert boxes[4] == Box(4, 6, 5, 7)
    assert boxes[3] == Box(4, 6, 9, 11)  # pool1 output (conv2's input)
    assert boxes[2] == boxes[1]  # relu1 keeps conv1's box
    assert boxes[1] == Box(8, 12, 18, 22)  # conv1 output
    assert boxes[0] == Box(8, 12, 22, 26)
    assert (boxes[0].height, boxes[0].width) == (14, 14)
    # pool2's output pixel sees 5 + 4*2 + 1*2... = 16 input pixels; the corner one is 16x16
    assert receptive_field(LENET, 5, 0, 0)[0] == Box(0, 0, 16, 16)


def test_receptive_field_clips_at_padded_borders_and_rejects_dense():
    spec = NetworkSpec.from_dict(
        {
            "input": {"channels": 1, "height": 8, "width": 8},
            "layers": [
                {"type": "conv2d", "filters": 2, "kernel": 3, "padding": "same"},
                {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
                {"type": "flatten"},
                {"type": "dense", "units": 2},
            ],
        }
    )
    assert receptive_field(spec, 1, 0, 0)[0] == Box(0, 0, 3, 3)  # unclipped -2..2
    assert receptive_field(spec, 1, 3, 3)[0] == Box(4, 4, 8, 8)  # 4..8 clipped to 4..7
    with pytest.raises(ValueError, match="no spatial layout"):
        receptive_field(spec, 3, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        receptive_field(spec, 1, 4, 0)
