"""Random changes to training images, drawn per epoch and applied to whole batches at once.

Geometric: ``flip`` (mirror left-right), ``shift`` = random crop with padding (pad P zero
pixels on every side, crop back to size at a random corner: torchvision's
``RandomCrop(size, padding=P)``; "crop=P" is the same operation), ``rotate`` (a random angle
in [-D, D] degrees about the centre, bilinear, zero outside: torchvision's
``RandomRotation(D, interpolation=BILINEAR)``). Photometric: ``brightness`` multiplies each
image by a factor in [1 - B, 1 + B]; ``contrast`` scales each image about its mean grey level
by a factor in [1 - C, 1 + C] (torchvision's ``ColorJitter`` factors, brightness first).

Every random number of an epoch is drawn by ``Augmentation.draw`` in one fixed order (flips,
offsets, angles, brightness, contrast; each only when that change is on), so runs that used
only flip and shift draw exactly what they drew before these were added, and a resumed run
equals an uninterrupted one. Images stay uint8 (B, C, H, W): the ops compute in float32 and
round back, as a PIL pipeline would; preprocessing then makes the float32 batch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.data.errors import DatasetError

__all__ = ["AugmentDraws", "Augmentation", "augment_batch", "augment_images"]

#: ITU-R 601 luma weights: the grey level of an RGB image, as torchvision's contrast uses.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_MAX_ROTATE = 180.0
_FIELDS = ("flip", "shift", "rotate", "brightness", "contrast")


@dataclass(frozen=True)
class Augmentation:
    """Which random changes to make (see the module docstring); the default changes nothing.

    ``shift``: pixels >= 0; ``rotate``: degrees in [0, 180]; ``brightness`` and
    ``contrast``: in [0, 1]. Raises ``DatasetError`` naming the field otherwise."""

    flip: bool = False
    shift: int = 0
    rotate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.shift, int) or isinstance(self.shift, bool) or self.shift < 0:
            raise DatasetError(f"augmentation shift={self.shift!r}: expected pixels >= 0")
        for name, hi, what in (
            ("rotate", _MAX_ROTATE, "degrees in [0, 180]"),
            ("brightness", 1.0, "a fraction in [0, 1]"),
            ("contrast", 1.0, "a fraction in [0, 1]"),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= hi:
                raise DatasetError(f"augmentation {name}={v!r}: expected {what}")

    @property
    def enabled(self) -> bool:
        return bool(self.flip or self.shift or self.rotate or self.brightness or self.contrast)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Augmentation:
        """Inverse of ``to_dict``; raises ``DatasetError`` naming an unknown field."""
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise DatasetError(f"augmentation.{unknown[0]}: unknown field ({', '.join(_FIELDS)})")
        if not isinstance(data.get("flip", False), bool):
            raise DatasetError("augmentation.flip: expected true or false")
        return cls(**data)

    @classmethod
    def parse(cls, text: str) -> Augmentation:
        """From a command-line value: "none", or a comma list of "flip", "shift=N" (or
        "crop=N"), "rotate=D", "brightness=B", "contrast=C" (e.g. "flip,crop=2,rotate=10").
        Raises ``DatasetError`` quoting the bad item."""
        values: dict = {}
        for item in (s.strip() for s in text.split(",")):
            if item in ("", "none"):
                continue
            name, _, value = item.partition("=")
            try:
                if item == "flip":
                    values["flip"] = True
                elif name in ("shift", "crop") and value.isdigit():
                    values["shift"] = int(value)
                elif name in ("rotate", "brightness", "contrast") and value:
                    values[name] = float(value)
                else:
                    raise ValueError(item)
            except ValueError:
                raise DatasetError(
                    f"--augment item {item!r}: expected 'none', 'flip' or 'shift=N' "
                    "(also crop=N, rotate=D, brightness=B, contrast=C; e.g. --augment "
                    "flip,shift=4)"
                ) from None
        return cls(**values)

    def draw(self, n: int, rng: np.random.Generator) -> AugmentDraws:
        """Everything random for ``n`` images, drawn from ``rng`` in the fixed order."""
        flips = rng.random(n) < 0.5 if self.flip else None
        offsets = rng.integers(0, 2 * self.shift + 1, size=(n, 2)) if self.shift else None
        angles = rng.uniform(-self.rotate, self.rotate, n) if self.rotate else None
        bright = (
            rng.uniform(1 - self.brightness, 1 + self.brightness, n) if self.brightness else None
        )
        contrast = rng.uniform(1 - self.contrast, 1 + self.contrast, n) if self.contrast else None
        return AugmentDraws(self.shift, flips, offsets, angles, bright, contrast)


@dataclass(frozen=True)
class AugmentDraws:
    """One epoch's random numbers: per image a flip (bool), a crop corner (dy, dx) in
    [0, 2*shift], an angle in degrees and brightness/contrast factors; None where off."""

    shift: int
    flips: np.ndarray | None
    offsets: np.ndarray | None
    angles: np.ndarray | None
    brightness: np.ndarray | None
    contrast: np.ndarray | None

    @property
    def any(self) -> bool:
        return any(
            a is not None
            for a in (self.flips, self.offsets, self.angles, self.brightness, self.contrast)
        )

    def apply(self, images: np.ndarray, sel: slice | np.ndarray = slice(None)) -> np.ndarray:
        """uint8 (B, C, H, W), the images ``sel`` of the drawn ones -> augmented, new array."""

        def pick(a):
            return None if a is None else a[sel]

        return augment_batch(
            images,
            pick(self.flips),
            pick(self.offsets),
            self.shift,
            angles=pick(self.angles),
            brightness=pick(self.brightness),
            contrast=pick(self.contrast),
        )


def augment_images(images: np.ndarray, aug: Augmentation, rng: np.random.Generator):
    """uint8 (B, C, H, W) -> uint8 (B, C, H, W): ``aug`` drawn from ``rng`` and applied (the
    Data page's preview; training draws a whole epoch at once instead)."""
    return aug.draw(len(images), rng).apply(images)


def augment_batch(
    images: np.ndarray,
    flips: np.ndarray | None,
    offsets: np.ndarray | None,
    shift: int,
    *,
    angles: np.ndarray | None = None,
    brightness: np.ndarray | None = None,
    contrast: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 (B, C, H, W) -> augmented uint8 (B, C, H, W), a new array.

    ``flips``: bool (B,), mirror those images. ``offsets``: int (B, 2) in [0, 2*shift], the
    (dy, dx) corner of each crop in the zero-padded image; ``shift`` pixels of padding.
    ``angles``: (B,) degrees, counter-clockwise. ``brightness``, ``contrast``: (B,) factors
    >= 0. Applied in that order."""
    out = images.copy()
    if flips is not None and flips.any():
        out[flips] = out[flips, :, :, ::-1]
    if offsets is not None and shift > 0:
        b, _, h, w = out.shape
        padded = np.pad(out, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (B, C, dy, dx, H, W)
        out = windows[np.arange(b), :, offsets[:, 0], offsets[:, 1]]
    if angles is None and brightness is None and contrast is None:
        return np.ascontiguousarray(out)
    x = out.astype(np.float32)
    if angles is not None:
        x = rotate_batch(x, angles)
    if brightness is not None:
        x *= np.asarray(brightness, np.float32)[:, None, None, None]
        np.clip(x, 0, 255, out=x)
    if contrast is not None:
        grey = x if x.shape[1] != 3 else np.tensordot(_LUMA, x, axes=([0], [1]))[:, None]
        mean = grey.mean(axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * np.asarray(contrast, np.float32)[:, None, None, None] + mean
        np.clip(x, 0, 255, out=x)
    return np.rint(x).astype(np.uint8)


def rotate_batch(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """float32 (B, C, H, W) -> float32 (B, C, H, W): image i turned ``angles[i]`` degrees
    counter-clockwise about its centre ((H-1)/2, (W-1)/2), bilinear, zeros outside."""
    b, _, h, w = x.shape
    t = np.deg2rad(np.asarray(angles, np.float64))[:, None, None]
    cos, sin = np.cos(t), np.sin(t)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    # Inverse map: the source of output pixel p is R(-angle) p (y grows downwards).
    sy = cos * yy + sin * xx + cy
    sx = -sin * yy + cos * xx + cx
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = (sy - y0).astype(np.float32), (sx - x0).astype(np.float32)
    y0, x0 = y0.astype(np.intp) + 1, x0.astype(np.intp) + 1  # into the 1-pixel zero border
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros_like(x)
    bi = np.arange(b)[:, None, None]
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yi, xi = y0 + dy, x0 + dx
            inside = (yi >= 0) & (yi < h + 2) & (xi >= 0) & (xi < w + 2)
            vals = padded[bi, :, np.clip(yi, 0, h + 1), np.clip(xi, 0, w + 1)]  # (B, H, W, C)
            weight = (wy * wx * inside)[..., None]
            out += np.moveaxis(vals * weight, -1, 1)
    return out
