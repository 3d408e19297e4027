"""The preprocessing a model was trained with, as data: stored in checkpoints, replayed by predict.

Steps, in order: decode to the network's input geometry (grayscale or RGB; resize "stretch",
"pad" or "crop"), scale uint8 to [0, 1], optionally subtract a mean ("pixel": a mean image,
"channel": one value per channel) and divide by a standard deviation of the same granularity.
Means and deviations are measured on the training split only (``fit``), never on
validation or test images, and kept in the object as plain floats so it is JSON.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from engine.data.errors import DatasetError, UnusableImage
from engine.data.images import Geometry, decode_file, exif_upright, image_to_array

__all__ = ["CENTER_MODES", "FORMAT", "Preprocessing", "apply_array", "apply_image"]

FORMAT = "cnn-workbench/preprocessing"
VERSION = 1
CENTER_MODES = ("none", "pixel", "channel")
# A pixel that never varies (MNIST's corners) has std 0; one intensity level is the floor,
# so standardising never divides by zero.
_MIN_STD = 1.0 / 255.0
_FIT_CHUNK = 8192  # images summed at a time: memory-mapped training sets stay on disk


@dataclass(frozen=True)
class Preprocessing:
    """How raw images become network input: float32 (C, H, W), ``channels`` 1 or 3.

    ``mean``/``std`` are None until ``fit``; then flat tuples of floats in [0, 1] units, of
    length C ("channel") or C*H*W ("pixel", in C, H, W order). ``standardize`` needs a
    ``center`` other than "none". Raises ``DatasetError`` for inconsistent fields, a mean that
    is not finite or a deviation that is not positive and finite."""

    channels: int
    height: int
    width: int
    resize: str = "stretch"
    center: str = "none"
    standardize: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        Geometry(self.channels, self.height, self.width, self.resize)  # validates those
        if self.center not in CENTER_MODES:
            raise DatasetError(
                f"preprocessing center={self.center!r}: expected one of {', '.join(CENTER_MODES)}"
            )
        if self.standardize and self.center == "none":
            raise DatasetError(
                "preprocessing standardize=true needs center='pixel' or 'channel' "
                "(the deviation is measured at that granularity)"
            )
        size = self._stat_size()
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != size:
                raise DatasetError(
                    f"preprocessing {name}: {len(value)} values, expected {size} for "
                    f"center={self.center!r} at {self.channels}x{self.height}x{self.width}"
                )
        for name, values in (("mean", self.mean), ("std", self.std)):
            for k, v in enumerate(values or ()):
                # A checkpoint edited by hand or written by another tool: a zero, negative or
                # infinite deviation (or a NaN mean) would turn every prediction into inf/NaN.
                if not math.isfinite(v) or (name == "std" and v <= 0):
                    need = "a positive finite number" if name == "std" else "a finite number"
                    raise DatasetError(
                        f"preprocessing {name}[{k}] = {v!r}: must be {need}; measure it again "
                        "on the training split (fit)"
                    )
        if self.center == "none" and self.mean is not None:
            raise DatasetError("preprocessing mean given but center='none'; drop one of them")
        if not self.standardize and self.std is not None:
            raise DatasetError("preprocessing std given but standardize=false; drop one")

    def _stat_size(self) -> int:
        if self.center == "pixel":
            return self.channels * self.height * self.width
        return self.channels

    @property
    def geometry(self) -> Geometry:
        """The decoding part: channels, size and resize mode (what the disk cache keys on)."""
        return Geometry(self.channels, self.height, self.width, self.resize)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one preprocessed image."""
        return (self.channels, self.height, self.width)

    @property
    def needs_fit(self) -> bool:
        """True when statistics are asked for but not measured yet."""
        return (self.center != "none" and self.mean is None) or (
            self.standardize and self.std is None
        )

    def _stat_shape(self) -> tuple[int, int, int]:
        return self.shape if self.center == "pixel" else (self.channels, 1, 1)

    def mean_array(self) -> np.ndarray | None:
        """float32 (C, H, W) or (C, 1, 1), broadcastable onto (N, C, H, W); None if unset."""
        if self.mean is None:
            return None
        return np.asarray(self.mean, dtype=np.float32).reshape(self._stat_shape())

    def std_array(self) -> np.ndarray | None:
        """float32, same shape as ``mean_array``; None when not standardising."""
        if self.std is None:
            return None
        return np.asarray(self.std, dtype=np.float32).reshape(self._stat_shape())

    def fit(self, train_images: np.ndarray, rows: np.ndarray | None = None) -> Preprocessing:
        """A copy with ``mean``/``std`` measured on ``train_images``, uint8 (N, C, H, W) at
        this geometry, or only on its ``rows`` (int indices) when given. A memory map is read
        in chunks, never whole. Returns ``self`` when there is nothing to measure. Raises
        ``DatasetError`` for an empty or mis-shaped set."""
        if self.center == "none":
            return self
        _check_shape(self, train_images, batch=True)
        count = len(train_images) if rows is None else len(rows)
        if count == 0:
            raise DatasetError("cannot measure the mean on an empty training split")
        total = np.zeros(self.shape, dtype=np.float64)
        squares = np.zeros(self.shape, dtype=np.float64)
        for start in range(0, count, _FIT_CHUNK):
            sel = slice(start, start + _FIT_CHUNK)
            part = train_images[sel] if rows is None else train_images[rows[sel]]
            chunk = np.asarray(part, dtype=np.float64)
            total += chunk.sum(axis=0)
            squares += np.square(chunk).sum(axis=0)
        if self.center == "channel":
            total, squares = total.sum(axis=(1, 2)), squares.sum(axis=(1, 2))
            count *= self.height * self.width
        mean = total / count / 255.0
        variance = np.maximum(squares / count / 255.0**2 - mean**2, 0.0)
        std = np.maximum(np.sqrt(variance), _MIN_STD) if self.standardize else None
        return replace(
            self,
            mean=_floats(mean),
            std=None if std is None else _floats(std),
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict (lists for the statistics), with format and version."""
        d = asdict(self)
        for key in ("mean", "std"):
            d[key] = None if d[key] is None else list(d[key])
        return {"format": FORMAT, "version": VERSION, **d}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        """Inverse of ``to_dict``. Raises ``DatasetError`` naming the offending field for an
        unknown or missing field, a wrong type, or a newer version."""
        if not isinstance(data, dict):
            raise DatasetError(f"preprocessing: expected an object, got {type(data).__name__}")
        if data.get("format", FORMAT) != FORMAT:
            raise DatasetError(f"preprocessing.format: {data['format']!r}, expected {FORMAT!r}")
        version = data.get("version", VERSION)
        if not isinstance(version, int) or version > VERSION:
            raise DatasetError(
                f"preprocessing.version: {version!r} is newer than this program reads "
                f"({VERSION}); update CNN Workbench"
            )
        fields = {k: v for k, v in data.items() if k not in ("format", "version")}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise DatasetError(f"preprocessing.{unknown[0]}: unknown field")
        for key in ("channels", "height", "width"):
            if key not in fields:
                raise DatasetError(f"preprocessing.{key}: missing")
            if not isinstance(fields[key], int) or isinstance(fields[key], bool):
                raise DatasetError(f"preprocessing.{key}: expected an integer")
        for key in ("resize", "center"):
            if key in fields and not isinstance(fields[key], str):
                raise DatasetError(f"preprocessing.{key}: expected a string")
        if "standardize" in fields and not isinstance(fields["standardize"], bool):
            raise DatasetError("preprocessing.standardize: expected true or false")
        for key in ("mean", "std"):
            value = fields.get(key)
            if value is not None:
                if not isinstance(value, list | tuple) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in value
                ):
                    raise DatasetError(f"preprocessing.{key}: expected a list of numbers")
                fields[key] = tuple(float(v) for v in value)
        return cls(**fields)


def _floats(values: np.ndarray) -> tuple[float, ...]:
    # Rounded to float32 so the JSON round trip and the arrays used in training agree exactly.
    return tuple(float(v) for v in values.astype(np.float32).ravel())


def _check_shape(pre: Preprocessing, images: np.ndarray, batch: bool) -> None:
    expected = pre.shape
    shape = images.shape[1:] if batch else images.shape
    if images.dtype != np.uint8 or shape != expected or images.ndim != (4 if batch else 3):
        want = "(N, " + ", ".join(map(str, expected)) + ")" if batch else str(expected)
        raise DatasetError(
            f"images of shape {images.shape} and dtype {images.dtype}: expected uint8 {want}; "
            "decode them with this preprocessing's geometry first"
        )


def apply_array(pre: Preprocessing, images: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) or (C, H, W) -> float32 of the same shape, vectorised.

    Raises ``DatasetError`` when the shape is not the preprocessing's or it still needs
    ``fit``."""
    if pre.needs_fit:
        raise DatasetError("preprocessing has no mean/std yet; fit it on the training split")
    _check_shape(pre, images, batch=images.ndim == 4)
    out = images.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    mean = pre.mean_array()
    if mean is not None:
        out -= mean
    std = pre.std_array()
    if std is not None:
        out /= std
    return out


def apply_image(pre: Preprocessing, image: Image.Image | str | os.PathLike[str]) -> np.ndarray:
    """One picture (a PIL image or a file path) -> float32 (C, H, W), exactly as the
    training images were prepared. Raises ``DatasetError`` naming the file when it cannot be
    used (missing, zero bytes, not an image, truncated)."""
    try:
        if isinstance(image, Image.Image):
            pixels = image_to_array(exif_upright(image), pre.geometry)
        else:
            pixels = decode_file(image, pre.geometry).pixels
    except UnusableImage as e:
        raise DatasetError(f"{_name(image)}: {e.reason}") from None
    except OSError as e:
        raise DatasetError(f"{_name(image)}: cannot be read ({e.strerror or e})") from None
    return apply_array(pre, pixels)


def _name(image: object) -> str:
    return str(Path(image)) if isinstance(image, str | os.PathLike) else "image"
