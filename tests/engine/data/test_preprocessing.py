"""Preprocessing: resize modes, channels, scaling, mean/std on train only, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_builders import make_folder, write_idx
from PIL import Image

from engine.data import DatasetError, Preprocessing, apply_array, apply_image, load_dataset


def _bar_image(tmp_path):
    """40 wide, 20 high, black, with a white vertical bar in the middle 20 columns."""
    a = np.zeros((20, 40), dtype=np.uint8)
    a[:, 10:30] = 255
    path = tmp_path / "bar.png"
    Image.fromarray(a, "L").save(path)
    return path


def test_stretch_pad_and_crop_differ_as_documented(tmp_path):
    path = _bar_image(tmp_path)
    stretch = apply_image(Preprocessing(1, 10, 10, resize="stretch"), path)[0]
    pad = apply_image(Preprocessing(1, 10, 10, resize="pad"), path)[0]
    crop = apply_image(Preprocessing(1, 10, 10, resize="crop"), path)[0]
    # stretch squeezes the width: the bar spans the middle half, every row alike.
    assert stretch[:, 3:7].min() > 0.9 and stretch[:, 0].max() < 0.1
    # pad keeps the aspect: a 10x5 picture centred between black bands above and below.
    assert pad[0].max() == 0 and pad[-1].max() == 0 and pad[5, 5] > 0.9
    # crop takes the central 20x20 square: all bar.
    assert crop.min() > 0.9


def test_gray_and_rgb_follow_channels(tmp_path):
    path = tmp_path / "c.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
    rgb = apply_image(Preprocessing(3, 4, 4), path)
    gray = apply_image(Preprocessing(1, 4, 4), path)
    assert rgb.shape == (3, 4, 4) and gray.shape == (1, 4, 4)
    assert rgb.dtype == gray.dtype == np.float32
    np.testing.assert_allclose(rgb[:, 0, 0], [1.0, 0.0, 0.0])
    # Pillow's luma: 0.299 R (fixed point), one value for every pixel.
    assert gray.min() == gray.max() == pytest.approx(76 / 255)


def test_scale_and_statistics_arithmetic():
    images = np.array([[[[0, 255]]], [[[255, 255]]]], dtype=np.uint8)  # (2, 1, 1, 2)
    pre = Preprocessing(1, 1, 2, center="pixel", standardize=True).fit(images)
    assert pre.mean == (0.5, 1.0)
    assert pre.std[0] == pytest.approx(0.5) and pre.std[1] == pytest.approx(1 / 255)
    out = apply_array(pre, images)
    np.testing.assert_allclose(out[:, 0, 0, 0], [-1.0, 1.0], atol=1e-6)
    assert np.all(out[:, 0, 0, 1] == 0)  # a constant pixel stays 0, no division by zero
    channel = Preprocessing(1, 1, 2, center="channel").fit(images)
    assert channel.mean == pytest.approx((0.75,))
    plain = apply_array(Preprocessing(1, 1, 2), images)
    assert plain.dtype == np.float32 and plain.max() == 1.0 and plain.min() == 0.0


def test_mean_is_measured_on_the_training_split_only(tmp_path, cache_dir):
    # Train images are all 40, test images all 200: a mean that saw test would not be 40.
    train = np.full((6, 4, 4), 40, np.uint8)
    test = np.full((3, 4, 4), 200, np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", train, compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(6) % 2, compress=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test, compress=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(3) % 2, compress=False)
    ds = load_dataset(tmp_path, Preprocessing(1, 4, 4, center="channel"), cache_dir=cache_dir,
                      val_fraction=0.0)  # fmt: skip
    assert ds.preprocessing.mean == pytest.approx((40 / 255,))
    x, _ = next(iter(ds.iter_batches("test", 3)))
    np.testing.assert_allclose(x, (200 - 40) / 255, rtol=1e-6)


def test_mean_excludes_a_carved_validation_split(tmp_path, cache_dir):
    make_folder(tmp_path / "ds", {"a": 10, "b": 10}, size=(4, 4), mode="L")
    pre = Preprocessing(1, 4, 4, center="pixel")
    ds = load_dataset(tmp_path / "ds", pre, val_fraction=0.3, seed=1, cache_dir=cache_dir)
    train = ds.splits["train"].images.astype(np.float64)
    expected = train.mean(axis=0).ravel() / 255
    np.testing.assert_allclose(ds.preprocessing.mean, expected, rtol=1e-6)


def test_apply_image_matches_the_training_batches(tmp_path, cache_dir):
    make_folder(tmp_path / "ds", {"a": 2, "b": 2}, size=(13, 9), mode="RGBA")
    pre = Preprocessing(3, 8, 8, resize="pad", center="channel", standardize=True)
    ds = load_dataset(tmp_path / "ds", pre, val_fraction=0.0, cache_dir=cache_dir)
    x, _ = next(iter(ds.iter_batches("train", 4)))
    one = apply_image(ds.preprocessing, tmp_path / "ds" / "a" / "000.png")
    np.testing.assert_array_equal(one, x[0])
    pil = apply_image(ds.preprocessing, Image.open(tmp_path / "ds" / "b" / "001.png"))
    np.testing.assert_array_equal(pil, x[3])


def test_json_round_trip_is_exact(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 2, 2), dtype=np.uint8)
    pre = Preprocessing(3, 2, 2, resize="crop", center="pixel", standardize=True).fit(images)
    again = Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    np.testing.assert_array_equal(apply_array(again, images), apply_array(pre, images))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channels": 1, "height": 2}, r"preprocessing\.width: missing"),
        ({"channels": 1, "height": 2, "width": 2, "colour": 1}, r"preprocessing\.colour"),
        ({"channels": 1, "height": 2, "width": 2, "version": 9}, "newer"),
        ({"channels": 2, "height": 2, "width": 2}, "1 .grayscale. or 3"),
        ({"channels": 1, "height": 2, "width": 2, "resize": "zoom"}, "stretch, pad, crop"),
        ({"channels": 1, "height": 2, "width": 2, "standardize": True}, "needs center"),
        ({"channels": 1, "height": 2, "width": 2, "center": "channel", "mean": [0.1, 0.2]},
         "2 values, expected 1"),
    ],
)  # fmt: skip
def test_bad_dicts_name_the_field(data, message):
    with pytest.raises(DatasetError, match=message):
        Preprocessing.from_dict(data)


def test_unfitted_or_mis_shaped_input_is_refused():
    with pytest.raises(DatasetError, match="fit it on the training split"):
        apply_array(Preprocessing(1, 2, 2, center="pixel"), np.zeros((1, 1, 2, 2), np.uint8))
    with pytest.raises(DatasetError, match=r"expected uint8 \(N, 1, 2, 2\)"):
        apply_array(Preprocessing(1, 2, 2), np.zeros((1, 3, 2, 2), np.uint8))
