"""Grad-CAM against a direct numpy computation; occlusion on a network whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.saliency import default_cam_layer, grad_cam, occlusion_map, resize_map


def _spec(layers, channels=1, size=8):
    return engine.load_spec(
        {
            "format": "cnn-workbench/network",
            "version": 1,
            "input": {"channels": channels, "height": size, "width": size},
            "layers": layers,
        }
    )


def _numpy_conv(x, w, b):
    """(C, H, W) with (K, C, 3, 3) filters, stride 1, padding 1: the textbook loops."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    k, _, kh, kw = w.shape
    out = np.zeros((k, x.shape[1], x.shape[2]))
    for f in range(k):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                out[f, i, j] = np.sum(xp[:, i : i + kh, j : j + kw] * w[f]) + b[f]
    return out


def test_grad_cam_matches_a_direct_numpy_computation():
    spec = _spec(
        [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 3},
        ],
        channels=2,
    )
    net = engine.build(spec, seed=5)
    assert default_cam_layer(spec) == 1  # the rectified output of the last conv
    image = np.random.default_rng(2).standard_normal((2, 8, 8)).astype(np.float32)
    sd = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
    a = np.maximum(_numpy_conv(image.astype(np.float64), sd["0.weight"], sd["0.bias"]), 0)
    for target in range(3):
        # logit_c = W[c] · flatten(A) + b, so dlogit_c/dA is row c of W, reshaped.
        grad = sd["3.weight"][target].reshape(a.shape)
        expected = np.maximum(np.tensordot(grad.mean(axis=(1, 2)), a, axes=1), 0)
        cam = grad_cam(net, image, target)
        assert cam.layer == 1 and cam.target == target
        np.testing.assert_allclose(cam.raw, expected, rtol=1e-4, atol=1e-5)
        if expected.max() > 0:
            np.testing.assert_allclose(cam.heat, expected / expected.max(), rtol=1e-4, atol=1e-5)


def test_grad_cam_on_a_pooled_layer_is_resized_to_the_image():
    spec = _spec(
        [
            {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
        ]
    )
    net = engine.build(spec, seed=0)
    image = np.random.default_rng(0).standard_normal((1, 8, 8)).astype(np.float32)
    cam = grad_cam(net, image, 1, layer_index=2)
    assert cam.raw.shape == (4, 4) and cam.heat.shape == (8, 8)
    assert 0 <= cam.heat.min() and cam.heat.max() <= 1
    with pytest.raises(ValueError, match="feature maps"):
        grad_cam(net, image, 0, layer_index=4)


def test_resize_map_keeps_constants_and_averages_neighbours():
    np.testing.assert_allclose(resize_map(np.full((2, 2), 3.0), 6, 4), 3.0)
    up = resize_map(np.array([[0.0, 1.0]]), 1, 4)
    np.testing.assert_allclose(up[0], [0, 0.25, 0.75, 1])


def test_occlusion_finds_the_only_region_the_network_uses():
    # Class 0's logit is 4 × the sum of the top-left 4×4 quadrant; class 1's is constant.
    spec = _spec([{"type": "flatten"}, {"type": "dense", "units": 2}])
    net = engine.build(spec, seed=0)
    w = np.zeros((2, 64), np.float32)
    quadrant = np.zeros((8, 8), bool)
    quadrant[:4, :4] = True
    w[0, quadrant.ravel()] = 4.0
    net.load_state_dict({"1.weight": w, "1.bias": np.array([0.0, 8.0], np.float32)})
    image = np.zeros((1, 8, 8), np.float32)
    image[0, :4, :4] = 1.0
    occ = occlusion_map(net, image, 0, patch=4)
    assert occ.raw.shape == (2, 2) and occ.layer is None
    assert occ.raw[0, 0] > 0.5  # hiding the quadrant removes the evidence for class 0
    np.testing.assert_allclose(occ.raw.ravel()[1:], 0, atol=1e-6)
    assert occ.heat[:4, :4].min() == 1 and occ.heat[4:].max() == 0 and occ.heat[:, 4:].max() == 0
    finer = occlusion_map(net, image, 0, patch=3, stride=2)
    assert finer.raw.shape == (4, 4)  # starts 0, 2, 4 and 5 (flush with the edge)
    with pytest.raises(ValueError, match="patch"):
        occlusion_map(net, image, 0, patch=9)
