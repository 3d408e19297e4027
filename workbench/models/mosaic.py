"""How one layer's output is tiled into a picture: a mosaic of its channels (a grid of
H × W tiles with one-pixel gaps), or a grid of units for a vector. Used by the feature maps
and the filters pages; numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Mosaic"]


@dataclass(frozen=True)
class Mosaic:
    """How the (C, H, W) output of one layer is tiled: ``rows`` × ``cols`` tiles of H × W
    with a one-pixel gap (left transparent) between them."""

    channels: int
    height: int
    width: int
    rows: int
    cols: int

    @classmethod
    def for_shape(cls, shape: tuple[int, ...]) -> Mosaic:
        if len(shape) == 3:
            c, h, w = shape
            cols = max(1, math.ceil(math.sqrt(c * h / w)))
            return cls(c, h, w, math.ceil(c / cols), cols)
        (f,) = shape  # a vector: one tile of units, a row when short
        cols = f if f <= 16 else math.ceil(math.sqrt(f))
        return cls(1, math.ceil(f / cols), cols, 1, 1)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the mosaic image in pixels."""
        return self.rows * (self.height + 1) - 1, self.cols * (self.width + 1) - 1

    def tile_origin(self, channel: int) -> tuple[int, int]:
        r, c = divmod(channel, self.cols)
        return r * (self.height + 1), c * (self.width + 1)

    def locate(self, py: float, px: float) -> tuple[int, int, int] | None:
        """(channel, y, x) under mosaic pixel coordinates, or None on a gap or outside."""
        if py < 0 or px < 0:
            return None
        r, y = divmod(int(py), self.height + 1)
        c, x = divmod(int(px), self.width + 1)
        ch = r * self.cols + c
        if y >= self.height or x >= self.width or c >= self.cols or ch >= self.channels:
            return None
        return ch, y, x

    def tile(self, values: np.ndarray) -> np.ndarray:
        """The float32 mosaic of ``values`` (C, H, W) or (F,); gaps and spare tiles are NaN."""
        n, h, w = self.rows * self.cols, self.height, self.width
        a = np.full((n, h, w), np.nan, dtype=np.float32)
        if self.channels == 1 and values.ndim == 1:
            a.reshape(n, -1)[0, : values.size] = values
        else:
            a[: self.channels] = values
        out = np.full((self.rows, h + 1, self.cols, w + 1), np.nan, dtype=np.float32)
        out[:, :h, :, :w] = a.reshape(self.rows, self.cols, h, w).transpose(0, 2, 1, 3)
        return out.reshape(self.rows * (h + 1), self.cols * (w + 1))[:-1, :-1]
