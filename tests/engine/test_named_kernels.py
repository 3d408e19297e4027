"""Named kernels, the playground convolution (through the engine's Conv2D) and the nearest
named kernel of learned filters."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.named_kernels import NAMED_KERNELS, kernel, nearest_named, playground_convolve


def _correlate(x, w, stride, padding):
    """Direct numpy cross-correlation of one (H, W) plane, zero padding."""
    xp = np.pad(x.astype(np.float64), padding)
    kh, kw = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, w.astype(np.float64))


def test_catalogue_has_the_tutorials_kernels():
    expected = {
        "identity", "edge detection 1", "edge detection 2", "edge detection 3", "sharpen",
        "box blur", "gaussian blur 3×3", "gaussian blur 5×5", "sobel x", "sobel y", "emboss",
    }  # fmt: skip
    assert set(NAMED_KERNELS) == expected
    for name in ("box blur", "gaussian blur 3×3", "gaussian blur 5×5"):
        assert NAMED_KERNELS[name].sum() == pytest.approx(1.0)  # blurs keep brightness
    for name in ("edge detection 1", "edge detection 2", "edge detection 3", "sobel x"):
        assert NAMED_KERNELS[name].sum() == 0  # flat regions go to zero
    assert NAMED_KERNELS["gaussian blur 5×5"].shape == (5, 5)
    k = kernel("sharpen")
    k[0, 0] = 9  # a copy: the catalogue stays as it was
    assert NAMED_KERNELS["sharpen"][0, 0] == 0
    with pytest.raises(KeyError, match="named kernels"):
        kernel("nope")


@pytest.mark.parametrize("name", list(NAMED_KERNELS))
@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 2)])
def test_playground_matches_direct_numpy_correlation_per_channel(name, stride, padding):
    rng = np.random.default_rng(len(name))
    image = rng.random((3, 11, 9)).astype(np.float32)
    w = NAMED_KERNELS[name]
    out = playground_convolve(image, w, stride, padding)
    assert out.dtype == np.float32 and out.shape[0] == 3
    for c in range(3):
        np.testing.assert_allclose(
            out[c], _correlate(image[c], w, stride, padding), rtol=1e-5, atol=1e-5
        )


def test_identity_returns_the_image_and_gray_keeps_its_rank():
    image = np.arange(30, dtype=np.float32).reshape(5, 6)
    same = playground_convolve(image, NAMED_KERNELS["identity"], 1, 1)
    np.testing.assert_array_equal(same, image)
    assert playground_convolve(image, np.ones((2, 2)), 1, 0).shape == (4, 5)


def test_playground_refuses_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        playground_convolve(np.zeros((3, 3)), np.ones((5, 5)))
    with pytest.raises(ValueError, match="stride"):
        playground_convolve(np.zeros((6, 6)), np.ones((3, 3)), stride=0)


def test_nearest_named_finds_planted_kernels_through_noise_and_sign():
    rng = np.random.default_rng(0)
    sobel_x, emboss = NAMED_KERNELS["sobel x"], NAMED_KERNELS["emboss"]
    weights = np.stack(
        [
            np.stack([sobel_x, sobel_x]) * 0.3 + rng.normal(0, 0.02, (2, 3, 3)),
            -np.stack([emboss, emboss]) * 0.1,  # an inverted emboss
        ]
    ).astype(np.float32)
    first, second = nearest_named(weights)
    assert first.name == "sobel x" and first.score > 0.95
    assert second.name == "emboss" and second.score == pytest.approx(-1.0, abs=1e-6)
    assert first.filter.shape == (3, 3)


def test_nearest_named_compares_5x5_filters_with_centred_3x3_kernels():
    w = np.zeros((1, 1, 5, 5), np.float32)
    w[0, 0, 1:4, 1:4] = NAMED_KERNELS["sobel y"]
    (only,) = nearest_named(w)
    assert only.name == "sobel y" and only.score == pytest.approx(1.0)
    (blank,) = nearest_named(np.zeros((1, 1, 3, 3)))
    assert blank.score == 0
    with pytest.raises(ValueError, match="no named kernel"):
        nearest_named(np.zeros((1, 1, 2, 2)))


def test_conv_weights_start_from_the_named_kernels():
    from engine.named_kernels import NAMED_KERNELS, named_filters, nearest_named

    w = named_filters((12, 3, 3, 3))
    names = [r.name for r in nearest_named(w)]
    fits = [n for n, k in NAMED_KERNELS.items() if k.shape == (3, 3)]
    assert names == [fits[k % len(fits)] for k in range(12)]
    assert all(r.score == pytest.approx(1.0) for r in nearest_named(w))
    np.testing.assert_allclose(np.linalg.norm(w.reshape(12, -1), axis=1), np.sqrt(2), rtol=1e-6)
    with pytest.raises(ValueError, match="no named kernel fits"):
        named_filters((2, 1, 2, 2))


def test_the_choice_is_recorded_in_the_spec_and_training_starts_from_it(tmp_path):
    from engine.named_kernels import named_filters, start_first_conv_from_named

    spec, index = start_first_conv_from_named(engine.load_spec("lenet5"))
    assert index == 0 and spec.layers[0]["init"] == "kernels"
    spec.save(tmp_path / "net.json")
    again = engine.load_spec(str(tmp_path / "net.json"))
    assert again == spec
    net = engine.build(again, seed=3)
    np.testing.assert_array_equal(net.parameters()["0.weight"], named_filters((6, 1, 5, 5)))
    small = spec.replace_layer(0, spec.layers[0].replace(kernel=2))
    (problem,) = [p for p in engine.infer_shapes(small).problems if p.kind == "init_kernels"]
    assert problem.layer == 0 and problem.fixes[0].label == "init auto"
    with pytest.raises(ValueError, match="2×2 kernel"):
        start_first_conv_from_named(small.replace_layer(0, small.layers[0].replace(init="auto")))
    with pytest.raises(ValueError, match="no convolution"):
        flat = {"input": {"channels": 1, "height": 4, "width": 4},
                "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}  # fmt: skip
        start_first_conv_from_named(engine.load_spec(flat))
