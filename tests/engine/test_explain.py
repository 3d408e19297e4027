"""Step-by-step arithmetic (engine.explain) against naive references and the tutorial."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.explain import (
    TUTORIAL_FILTER,
    TUTORIAL_IMAGE,
    TUTORIAL_OUTPUT,
    conv_step,
    explain_pixel,
    output_size_text,
    pool_step,
    positions,
    relu_map,
    relu_step,
    run_steps,
)
from engine.layers import AvgPool2D, MaxPool2D


def _naive_conv(x, w, b, stride, padding):
    """Direct cross-correlation over a zero-padded (C, H, W) array: the textbook loops."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    _, kh, kw = w.shape
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = np.sum(patch * w) + b
    return out


def _naive_pool(x, k, s, p, mode):
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, p, constant_values=fill)
    oh = (xp.shape[0] - k) // s + 1
    ow = (xp.shape[1] - k) // s + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[i * s : i * s + k, j * s : j * s + k]
            out[i, j] = {
                "max": win.max(),
                "avg": win.sum() / win.size,
                "sum": win.sum(),
                "l2": np.sqrt(np.sum(win**2)),
            }[mode]
    return out


def test_tutorial_example_gives_the_tutorial_feature_map():
    out = run_steps(TUTORIAL_IMAGE, "conv", w=TUTORIAL_FILTER)
    np.testing.assert_array_equal(out, TUTORIAL_OUTPUT)
    assert TUTORIAL_OUTPUT.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


def test_tutorial_first_step_shows_window_products_and_sum():
    s = conv_step(TUTORIAL_IMAGE, TUTORIAL_FILTER, 0.0, 1, 0, 0, 0)
    np.testing.assert_array_equal(s.window[0], TUTORIAL_IMAGE[:3, :3])
    np.testing.assert_array_equal(s.products[0], TUTORIAL_IMAGE[:3, :3] * TUTORIAL_FILTER)
    assert s.total == 4 and s.value == 4 and (s.top, s.left) == (0, 0)
    assert s.formula.endswith("= 4 → 4")
    # The window at (1, 2) of the output starts at row 1, column 2 of the image.
    s = conv_step(TUTORIAL_IMAGE, TUTORIAL_FILTER, 0.0, 1, 0, 1, 2)
    assert (s.top, s.left, s.value) == (1, 2, 3)


@pytest.mark.parametrize("seed", range(6))
def test_conv_step_matches_naive_reference(seed):
    rng = np.random.default_rng(seed)
    c, k = rng.integers(1, 4), int(rng.integers(1, 5))
    stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    x = rng.standard_normal((c, int(rng.integers(k, 9)), int(rng.integers(k, 9))))
    w = rng.standard_normal((c, k, k))
    b = float(rng.standard_normal())
    expected = _naive_conv(x, w, b, stride, padding)
    got = run_steps(x, "conv", w=w, b=b, stride=stride, padding=padding)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_padding_moves_the_window_into_the_zeros():
    s = conv_step(TUTORIAL_IMAGE, TUTORIAL_FILTER, 0.5, 2, 1, 0, 0)
    assert (s.top, s.left) == (-1, -1)
    assert s.window[0, 0].tolist() == [0, 0, 0] and s.window[0, :, 0].tolist() == [0, 0, 0]
    assert s.value == pytest.approx(s.total + 0.5)
    with pytest.raises(ValueError, match="outside"):
        conv_step(TUTORIAL_IMAGE, TUTORIAL_FILTER, 0.0, 2, 1, 3, 0)


@pytest.mark.parametrize("mode", ["max", "avg", "sum", "l2"])
@pytest.mark.parametrize(("k", "s", "p"), [(2, 2, 0), (3, 1, 1), (2, 1, 0), (3, 2, 1)])
def test_pool_steps_match_naive_reference(mode, k, s, p):
    x = np.random.default_rng(k * 10 + s + p).standard_normal((7, 6))
    got = run_steps(x, mode, kernel=(k, k), stride=s, padding=p)
    np.testing.assert_allclose(got, _naive_pool(x, k, s, p, mode), rtol=1e-12)
    if mode in ("max", "avg"):  # and what the training code computes
        layer = (MaxPool2D if mode == "max" else AvgPool2D)((k, k), (s, s), (p, p))
        engine_out = layer.forward(x[None, None].astype(np.float32))[0, 0]
        np.testing.assert_allclose(got, engine_out, rtol=1e-5, atol=1e-6)


def test_max_pool_of_the_tutorial_image_and_padding_never_wins():
    step = pool_step(-np.ones((2, 2)), 2, 1, 1, 0, 0, "max")
    assert step.value == -1  # padding is -inf, not 0
    out = run_steps(TUTORIAL_IMAGE[:4, :4], "max", kernel=2, stride=2)
    assert out.tolist() == [[1, 1], [0, 1]]
    assert pool_step(TUTORIAL_IMAGE, 2, 2, 0, 0, 1, "avg").value == 0.75


def test_relu_sets_negatives_to_zero_and_marks_them():
    fmap = np.array([[-2.0, 3.0], [0.0, -0.5]])
    rectified, negative = relu_map(fmap)
    assert rectified.tolist() == [[0, 3], [0, 0]]
    assert negative.tolist() == [[True, False], [False, True]]
    step = relu_step(fmap, 0, 0)
    assert step.value == 0 and step.total == -2 and step.formula == "max(0, -2) = 0"


def test_positions_and_output_size_text():
    assert positions(2, 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert output_size_text(5, 3, 1, 0) == "(5 − 3 + 2·0)/1 + 1 = 3"
    assert output_size_text(227, 11, 4, 0).endswith("= 55")
    assert "rounded down to 2" in output_size_text(6, 3, 2, 0)
    assert "does not fit" in output_size_text(2, 5, 1, 0)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="channels"):
        conv_step(np.zeros((2, 4, 4)), np.zeros((3, 3, 3)), 0, 1, 0, 0, 0)
    with pytest.raises(ValueError, match="does not fit"):
        conv_step(np.zeros((2, 2)), np.zeros((3, 3)), 0, 1, 0, 0, 0)
    with pytest.raises(ValueError, match="pool mode"):
        pool_step(np.zeros((4, 4)), 2, 2, 0, 0, 0, "median")


def _small_net():
    spec = engine.load_spec(
        {
            "format": "cnn-workbench/network",
            "version": 1,
            "input": {"channels": 2, "height": 8, "width": 8},
            "layers": [
                {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1, "stride": 1},
                {"type": "relu"},
                {"type": "max_pool2d", "size": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 2},
            ],
        }
    )
    net = engine.build(spec, seed=3)
    sd = net.state_dict()
    sd["0.bias"] = np.array([0.1, -0.2, 0.3], np.float32)
    net.load_state_dict(sd)
    return net


@pytest.mark.parametrize(("layer", "cell"), [(0, (0, 0)), (0, (5, 7)), (1, (3, 2)), (2, (1, 3))])
def test_explain_pixel_reproduces_the_networks_own_numbers(layer, cell):
    net = _small_net()
    image = np.random.default_rng(1).standard_normal((2, 8, 8)).astype(np.float32)
    e = explain_pixel(net, image, layer, 1, *cell)
    assert e.step.value == pytest.approx(e.actual, rel=1e-5, abs=1e-5)
    assert e.layer_type == net.spec.layers[layer].type
    box = e.boxes[0]  # the patch of the input image this cell sees
    assert box.height <= 3 * (2 if layer == 2 else 1) + 1
    if layer == 0:
        np.testing.assert_array_equal(e.step.weights, net.layers[0].params["weight"][1])
        assert e.step.bias == pytest.approx(-0.2)


def test_explain_pixel_refuses_a_dense_layer():
    net = _small_net()
    with pytest.raises(ValueError, match="feature maps"):
        explain_pixel(net, np.zeros((2, 8, 8), np.float32), 4, 0, 0, 0)


def test_explain_pixel_reads_the_layers_own_input_in_a_graph():
    # resnet20: layer 10 (a conv) reads the relu after the first residual add (9), and
    # layer 9 (relu) reads that add (8): what the network computed must be what is explained.
    net = engine.build("resnet20", seed=0)
    x = np.random.default_rng(0).standard_normal((3, 32, 32)).astype(np.float32)
    for index in (9, 10):
        e = explain_pixel(net, x, index, 0, 3, 3)
        assert e.step.value == pytest.approx(e.actual, rel=1e-4, abs=1e-5)
