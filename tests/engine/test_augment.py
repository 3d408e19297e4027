"""Augmentation ops against naive per-image references; determinism; identity at 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.data.augment import Augmentation, augment_batch, augment_images, rotate_batch
from engine.data.errors import DatasetError
from engine.train_config import TrainConfig


def images(b=5, c=1, h=9, w=7, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, c, h, w), dtype=np.uint8)


# ---------------------------------------------------------------- naive references


def naive_crop(img: np.ndarray, pad: int, dy: int, dx: int) -> np.ndarray:
    """torchvision RandomCrop(padding=pad) with a given corner, one pixel at a time."""
    c, h, w = img.shape
    out = np.zeros_like(img)
    for k in range(c):
        for y in range(h):
            for x in range(w):
                sy, sx = y + dy - pad, x + dx - pad
                if 0 <= sy < h and 0 <= sx < w:
                    out[k, y, x] = img[k, sy, sx]
    return out


def naive_rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """float (C, H, W) turned counter-clockwise (as seen with y downwards), bilinear,
    zeros outside, one output pixel at a time."""
    c, h, w = img.shape
    t = math.radians(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    out = np.zeros(img.shape, np.float64)

    def at(k, y, x):
        return float(img[k, y, x]) if 0 <= y < h and 0 <= x < w else 0.0

    for y in range(h):
        for x in range(w):
            py, px = y - cy, x - cx
            sy = math.cos(t) * py + math.sin(t) * px + cy
            sx = -math.sin(t) * py + math.cos(t) * px + cx
            y0, x0 = math.floor(sy), math.floor(sx)
            fy, fx = sy - y0, sx - x0
            for k in range(c):
                out[k, y, x] = (
                    at(k, y0, x0) * (1 - fy) * (1 - fx)
                    + at(k, y0, x0 + 1) * (1 - fy) * fx
                    + at(k, y0 + 1, x0) * fy * (1 - fx)
                    + at(k, y0 + 1, x0 + 1) * fy * fx
                )
    return out


def naive_jitter(img: np.ndarray, brightness: float | None, contrast: float | None):
    x = img.astype(np.float64)
    if brightness is not None:
        x = np.clip(x * brightness, 0, 255)
    if contrast is not None:
        grey = x if x.shape[0] != 3 else 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
        mean = grey.mean()
        x = np.clip((x - mean) * contrast + mean, 0, 255)
    return x


# ---------------------------------------------------------------- semantics


def test_crop_matches_padding_then_cropping_each_image():
    imgs = images(b=4, c=2)
    offsets = np.array([[0, 0], [4, 4], [2, 2], [1, 3]])
    out = augment_batch(imgs, None, offsets, 2)
    assert out.shape == imgs.shape and out.dtype == np.uint8
    for i, (dy, dx) in enumerate(offsets):
        np.testing.assert_array_equal(out[i], naive_crop(imgs[i], 2, dy, dx))
    np.testing.assert_array_equal(out[2], imgs[2])  # the centred crop is the image


def test_rotation_matches_the_naive_bilinear_rotation():
    imgs = images(b=3, c=3, h=8, w=11)
    angles = np.array([7.5, -12.0, 90.0])
    got = rotate_batch(imgs.astype(np.float32), angles)
    for i, a in enumerate(angles):
        np.testing.assert_allclose(got[i], naive_rotate(imgs[i], a), atol=1e-3)


def test_rotation_by_90_degrees_of_a_square_is_rot90():
    img = images(b=1, h=6, w=6)
    got = augment_batch(img, None, None, 0, angles=np.array([90.0]))
    # Counter-clockwise on screen: the top row becomes the left column, read upwards.
    np.testing.assert_array_equal(got[0, 0], np.rot90(img[0, 0]))


def test_brightness_and_contrast_match_the_naive_jitter():
    for c in (1, 3):
        imgs = images(b=4, c=c)
        bright = np.array([0.5, 1.0, 1.4, 0.8])
        contrast = np.array([1.3, 0.6, 1.0, 0.0])
        got = augment_batch(imgs, None, None, 0, brightness=bright, contrast=contrast)
        assert got.dtype == np.uint8 and got.shape == imgs.shape
        for i in range(4):
            want = np.rint(naive_jitter(imgs[i], bright[i], contrast[i]))
            np.testing.assert_allclose(got[i], want, atol=1)
        # Contrast 0 makes a flat image of the mean grey level.
        assert np.ptp(got[3]) <= 1 if c == 1 else len(np.unique(got[3])) <= 3


def test_each_op_is_the_identity_at_zero_strength():
    imgs = images(b=6, c=3)
    ones, zeros = np.ones(6), np.zeros(6)
    same = augment_batch(
        imgs, zeros.astype(bool), np.zeros((6, 2), int), 0, angles=zeros, brightness=ones,
        contrast=ones,
    )  # fmt: skip
    np.testing.assert_array_equal(same, imgs)
    off = Augmentation()
    assert not off.enabled
    np.testing.assert_array_equal(augment_images(imgs, off, np.random.default_rng(0)), imgs)


def test_the_draws_are_deterministic_per_seed_and_epoch_and_within_range():
    aug = Augmentation(flip=True, shift=2, rotate=10, brightness=0.2, contrast=0.3)
    a = aug.draw(500, np.random.default_rng([7, 3]))
    b = aug.draw(500, np.random.default_rng([7, 3]))
    c = aug.draw(500, np.random.default_rng([7, 4]))
    for name in ("flips", "offsets", "angles", "brightness", "contrast"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))
    assert np.abs(a.angles).max() <= 10 and np.abs(a.angles).max() > 9
    assert 0.8 <= a.brightness.min() and a.brightness.max() <= 1.2
    assert 0.7 <= a.contrast.min() and a.contrast.max() <= 1.3
    assert a.offsets.min() == 0 and a.offsets.max() == 4
    imgs = images(b=500, h=5, w=5)
    np.testing.assert_array_equal(a.apply(imgs), b.apply(imgs))


def test_flip_and_shift_draw_what_they_drew_before_the_new_ops():
    """Old runs resume bit for bit: flips then offsets, nothing else, from the same rng."""
    rng, ref = np.random.default_rng(1), np.random.default_rng(1)
    d = Augmentation(flip=True, shift=3).draw(50, rng)
    np.testing.assert_array_equal(d.flips, ref.random(50) < 0.5)
    np.testing.assert_array_equal(d.offsets, ref.integers(0, 7, size=(50, 2)))
    assert d.angles is None and d.brightness is None and d.contrast is None
    assert rng.random() == ref.random()


def test_a_batch_is_the_slice_of_the_epoch_draws():
    aug = Augmentation(rotate=15, contrast=0.5)
    imgs = images(b=10)
    d = aug.draw(10, np.random.default_rng(0))
    whole = d.apply(imgs)
    np.testing.assert_array_equal(d.apply(imgs[3:7], slice(3, 7)), whole[3:7])


# ---------------------------------------------------------------- settings syntax


def test_config_items_map_to_the_augmentation():
    items = ("flip", "crop=2", "rotate=10", "brightness=0.2", "contrast=0.3")
    cfg = TrainConfig(augment=items)
    assert cfg.augmentation() == Augmentation(True, 2, 10.0, 0.2, 0.3)
    assert TrainConfig(augment=("shift",)).augmentation() == Augmentation(shift=2)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert Augmentation.parse("flip,crop=2,rotate=5") == Augmentation(True, 2, 5.0)


@pytest.mark.parametrize(
    "item", ["rotate", "rotate=0", "rotate=200", "brightness=1.5", "contrast=-0.1", "crop=x"]
)
def test_bad_items_are_refused_naming_the_setting(item):
    with pytest.raises(ValueError, match="training setting augment: must be items"):
        TrainConfig(augment=(item,))


def test_bad_augmentation_values_are_named():
    with pytest.raises(DatasetError, match=r"rotate=200"):
        Augmentation(rotate=200)
    with pytest.raises(DatasetError, match="'rotate=x'"):
        Augmentation.parse("rotate=x")
    with pytest.raises(DatasetError, match=r"augmentation\.blur: unknown"):
        Augmentation.from_dict({"blur": 1})
