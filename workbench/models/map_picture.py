"""A layer's output as the picture the feature maps show: its channels tiled (``Mosaic``) and
colour-mapped to RGBA bytes, numpy only.

Colour mapping is done here, once per snapshot and off the GUI thread (the feature-maps view
hands a whole snapshot to a background call), rather than by pyqtgraph inside every paint:
an ImageItem given float data with NaN gaps and a lookup table rescales, masks and looks up
on the GUI thread each time it is drawn, which for a graph network's 70 maps was the larger
part of the window's stalls while it trained. Given RGBA bytes it only wraps them in a QImage.

The mapping is pyqtgraph's own for float data (``scale = colours / (hi − lo)``, truncated
and clipped to the table), so the pictures look as they did: outputs with negative values
use a diverging table centred on zero (levels ±max|v|), others a sequential one from 0 to the
maximum; gaps between tiles and NaN units are transparent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.models.mosaic import Mosaic

__all__ = ["Levels", "colour_map", "layer_levels", "layer_picture", "layer_pictures"]

Levels = tuple[float, float]


def layer_levels(values: np.ndarray) -> tuple[Levels, bool]:
    """((lo, hi), signed) for one layer's outputs: symmetric about 0 when any is negative
    (``signed``), else 0..max. Non-finite values are ignored; all-NaN gives (0, 1e-12)."""
    a = np.asarray(values, dtype=np.float32)
    finite = a[np.isfinite(a)] if not np.isfinite(a).all() else a
    if finite.size == 0:
        return (0.0, 1e-12), False
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0:
        m = max(-lo, hi, 1e-12)
        return (-m, m), True
    return (0.0, max(hi, 1e-12)), False


def colour_map(image: np.ndarray, levels: Levels, table: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 4) RGBA of float ``image`` (H, W) through ``table`` uint8 (N, 3) or
    (N, 4) at ``levels`` (lo, hi): index = (v − lo)·N/(hi − lo), truncated and clipped to
    0..N−1. NaN pixels are transparent; +inf takes the last colour, −inf the first.
    Raises ValueError for an image that is not 2-D or a table of another shape."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"colour_map takes an (H, W) image, not shape {img.shape}")
    table = np.asarray(table, dtype=np.uint8)
    if table.ndim != 2 or table.shape[1] not in (3, 4) or not len(table):
        raise ValueError(f"colour table must be (N, 3) or (N, 4) uint8, not {table.shape}")
    n = len(table)
    rgba = np.empty((n + 1, 4), dtype=np.uint8)  # the extra last entry: transparent
    rgba[:n, : table.shape[1]] = table
    if table.shape[1] == 3:
        rgba[:n, 3] = 255
    rgba[n] = 0
    lo, hi = levels
    span = hi - lo if hi != lo else 1.0
    f = (img - np.float32(lo)) * np.float32(n / span)
    nan = np.isnan(f)
    np.clip(f, 0, n - 1, out=f)
    f[nan] = n
    return rgba[f.astype(np.intp)]


def layer_picture(
    values: np.ndarray, mosaic: Mosaic, signed: np.ndarray, positive: np.ndarray
) -> tuple[np.ndarray, Levels]:
    """(uint8 (H, W, 4) RGBA mosaic, levels) of one layer's output ``values`` (C, H, W) or
    (F,) float: ``signed`` colours an output with negative values, ``positive`` the others
    (uint8 (N, 3|4) tables)."""
    levels, is_signed = layer_levels(values)
    return colour_map(mosaic.tile(values), levels, signed if is_signed else positive), levels


def layer_pictures(
    layers: Sequence[tuple[np.ndarray, Mosaic]], signed: np.ndarray, positive: np.ndarray
) -> list[np.ndarray]:
    """The RGBA picture of every (values, mosaic) pair, in order (a snapshot's worth, run in
    a background thread: only plain arrays in and out)."""
    return [layer_picture(v, m, signed, positive)[0] for v, m in layers]
