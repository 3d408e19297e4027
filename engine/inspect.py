"""Looking inside a network: pure functions over arrays the training loop already produced.

Nothing here touches a live network or a widget: the GUI passes in copies it received in
events (weights snapshots, probe activations, validation predictions) and draws the results.

- ``confusion_matrix`` / ``confusion_cell`` / ``misclassified``: what the classifier confuses,
  and the examples behind each cell, most confident first.
- ``dead_relu_fractions``: per ReLU layer, the filters (conv) or units (dense) that never
  fired on a sample of images, with a plain-language warning when they are many; layers are
  named by ``layer_labels`` (a chain's conv1, relu1; a graph's ids).
- ``histogram`` / ``weight_histograms`` / ``activation_histograms``: value distributions.
- ``filter_images``: conv weights as images in [0, 1] for display.
- ``receptive_field``: the box an output pixel sees in every earlier layer and in the input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from engine.spec import NetworkSpec

__all__ = [
    "Box",
    "DeadUnits",
    "Misclassified",
    "activation_histograms",
    "confusion_cell",
    "confusion_matrix",
    "dead_relu_fractions",
    "filter_images",
    "histogram",
    "layer_labels",
    "layer_names",
    "misclassified",
    "receptive_field",
    "weight_histograms",
]

#: Share of never-active units from which dead_relu_fractions warns.
DEAD_WARNING = 0.3


def layer_names(spec: NetworkSpec) -> list[str]:
    """Short readable names, one per layer, numbered per kind: conv1, relu1, pool1, conv2, ..."""
    counts: dict[str, int] = {}
    names = []
    for layer in spec.layers:
        short = layer.kind.short or layer.type
        counts[short] = counts.get(short, 0) + 1
        names.append(f"{short}{counts[short]}")
    return names


def layer_labels(spec: NetworkSpec) -> list[str]:
    """What the views call each layer: a chain's layers by :func:`layer_names` (conv1, relu1:
    no one wrote ids for them, and the GUI shows none); a graph's by their ids (``s1b1_add``,
    ``conv2d_3``), as the canvas, the shape table's inputs column and the spec file do."""
    return layer_names(spec) if spec.is_chain else list(spec.wiring.ids)


# --------------------------------------------------------------------------- classification


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    ``labels`` and ``predicted`` are integer arrays of shape (N,) with values in
    [0, num_classes). Returns int64 (K, K): row = true class, column = predicted class; it
    sums to N. Raises ValueError on mismatched shapes or out-of-range classes.
    """
    labels = np.asarray(labels).reshape(-1)
    predicted = np.asarray(predicted).reshape(-1)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ in size")
    for name, a in (("labels", labels), ("predictions", predicted)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got {a.min()}..{a.max()}")
    flat = labels.astype(np.int64) * num_classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def confusion_cell(probs: np.ndarray, labels: np.ndarray, true: int, predicted: int) -> np.ndarray:
    """Indices of the examples in confusion cell (true, predicted), most confident first.

    ``probs`` float (N, K) class probabilities, ``labels`` int (N,). Confidence is the
    probability given to the predicted class; ties keep index order. Returns int64 (M,).
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels).reshape(-1)
    pred = probs.argmax(axis=1)
    idx = np.flatnonzero((labels == true) & (pred == predicted))
    order = np.argsort(-probs[idx, predicted], kind="stable")
    return idx[order].astype(np.int64)


@dataclass(frozen=True)
class Misclassified:
    """One wrong prediction: ``index`` into the evaluated set, ``true`` and ``predicted``
    class, and ``confidence`` (the probability given to the wrong class, in [0, 1])."""

    index: int
    true: int
    predicted: int
    confidence: float


def misclassified(
    probs: np.ndarray, labels: np.ndarray, limit: int | None = None
) -> list[Misclassified]:
    """The wrongly classified examples, most confident mistakes first (at most ``limit``).

    ``probs`` float (N, K), ``labels`` int (N,)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels).reshape(-1)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    conf = probs[wrong, pred[wrong]]
    order = wrong[np.argsort(-conf, kind="stable")]
    if limit is not None:
        order = order[:limit]
    return [
        Misclassified(int(i), int(labels[i]), int(pred[i]), float(probs[i, pred[i]])) for i in order
    ]


# --------------------------------------------------------------------------- layer health


@dataclass(frozen=True)
class DeadUnits:
    """For one ReLU layer: ``index`` in the spec, ``name`` of the layer feeding it (conv2),
    ``dead`` of its ``units`` never fired on any of ``images`` examples, ``fraction`` =
    dead / units (0..1), ``unit`` "filters" (a conv's channels) or "units" (a dense layer's),
    and ``warning``, a sentence for the user when the fraction is at least ``DEAD_WARNING``,
    else None."""

    index: int
    name: str
    fraction: float
    warning: str | None
    dead: int = 0
    units: int = 0
    images: int = 0
    unit: str = "units"

    @property
    def text(self) -> str:
        """ "conv2: 20 of 64 filters never fire on 500 validation images"."""
        return (
            f"{self.name}: {self.dead} of {self.units} {self.unit} never fire on "
            f"{self.images} validation image{'s' if self.images != 1 else ''}"
        )


def dead_relu_fractions(
    activations: list[np.ndarray], spec: NetworkSpec, threshold: float = DEAD_WARNING
) -> list[DeadUnits]:
    """The never-firing units after each ReLU layer, counted per filter for convolutions and
    per unit for dense layers.

    ``activations`` is the output of every layer for a batch of N images (as
    ``Network.forward_activations`` returns it: one array (N, ...) per layer of ``spec``). A
    filter (one channel of an (N, C, H, W) output) is dead when it is <= 0 at every position
    of all N images; a dense unit (one column of (N, F)) when it is <= 0 for all N. Counting
    every position as a unit of its own would call a healthy filter that fires only where
    its pattern is "mostly dead". Use a class-balanced sample of a few hundred images: a few
    images of one or two classes leave units dead that fire for the other classes. Leaky
    ReLU is left out: its units always pass a gradient. Raises ValueError when the lists do
    not match.
    """
    if len(activations) != len(spec.layers):
        raise ValueError(f"{len(activations)} activations for {len(spec.layers)} layers")
    names = layer_labels(spec)
    out = []
    for i, (layer, act) in enumerate(zip(spec.layers, activations, strict=True)):
        if not layer.kind.zeroes_negatives:
            continue
        a = np.asarray(act)
        spatial = a.ndim == 4
        fired = a > 0
        alive = fired.any(axis=(0, 2, 3)) if spatial else fired.reshape(len(a), -1).any(axis=0)
        dead = int(alive.size - alive.sum())
        fraction = dead / alive.size if alive.size else 0.0
        source = _feeding(spec, i)
        while source > 0 and spec.layers[source].kind.init_transparent:
            source = _feeding(spec, source)
        name = names[source] if source >= 0 else names[i]
        unit = "filters" if spatial else "units"
        found = DeadUnits(i, name, fraction, None, dead, int(alive.size), len(a), unit)
        if fraction >= threshold:
            found = replace(
                found, warning=f"{found.text} — try a lower learning rate or leaky ReLU"
            )
        out.append(found)
    return out


def _feeding(spec: NetworkSpec, i: int) -> int:
    """The layer whose output layer ``i`` takes (its first input; −1: the network input)."""
    sources = spec.inputs_of(i)
    return sources[0] if sources else -1


# --------------------------------------------------------------------------- distributions


def histogram(
    values: np.ndarray, bins: int = 50, range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts int64 (bins,) and edges float64 (bins + 1,) of the finite values of an array.

    Non-finite values (a diverging run) are left out rather than breaking the bins; an empty
    or constant array gets bins around its value (or around 0)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if range is None:
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        range = (lo, hi)
    counts, edges = np.histogram(v, bins=bins, range=range)
    return counts.astype(np.int64), edges


def weight_histograms(
    weights: dict[str, np.ndarray], bins: int = 50
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``histogram`` of every parameter of a state dict (same keys, e.g. "0.weight")."""
    return {name: histogram(w, bins) for name, w in weights.items()}


def activation_histograms(
    activations: list[np.ndarray], bins: int = 50
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``histogram`` of every layer's activations (one per entry of ``activations``)."""
    return [histogram(a, bins) for a in activations]


def filter_images(weight: np.ndarray, rgb: bool = False) -> np.ndarray:
    """Conv filters (K, C, F1, F2) as images with values in [0, 1], float32.

    Each filter is scaled by its own largest absolute weight so that 0.5 is a zero weight,
    brighter is positive and darker negative (the sign stays visible). Returns (K, C, F1, F2);
    with ``rgb`` and C == 3, returns (K, F1, F2, 3) colour images instead. Raises ValueError
    for a weight that is not 4-D or rgb with C != 3.
    """
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"conv weights are (K, C, F, F), got shape {w.shape}")
    scale = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    img = (w / (2.0 * scale[:, None, None, None]) + 0.5).astype(np.float32)
    if rgb:
        if w.shape[1] != 3:
            raise ValueError(f"rgb filter images need 3 input channels, got {w.shape[1]}")
        return np.ascontiguousarray(img.transpose(0, 2, 3, 1))
    return img


# --------------------------------------------------------------------------- receptive field


class Box(NamedTuple):
    """A rectangle of pixels in one layer's output (or the input): rows top..bottom-1,
    columns left..right-1 (bottom and right exclusive)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def _spatial_sizes(spec: NetworkSpec, upto: int) -> dict[int, tuple[int, int]]:
    """(H, W) of the input (-1) and of every layer 0..upto, from shape inference; ValueError
    where the field cannot be followed (no spatial layout, or an unknown size)."""
    from engine.shapes import infer_shapes

    report = infer_shapes(spec)
    sizes = {-1: (spec.input.height, spec.input.width)}
    for row in report.rows[: upto + 1]:
        shape = row.output_shape
        layer = spec.layers[row.index]
        if shape is not None and len(shape) == 3:
            sizes[row.index] = (shape[1], shape[2])
        elif row.index == upto or not layer.kind.spatial:
            what = "an unknown size" if shape is None else "no spatial layout"
            if shape is not None and len(shape) == 3 and min(shape) < 1:
                what = "an empty output"
            raise ValueError(
                f"layer {row.index} ({layer.type}) has {what}: a receptive field is "
                "defined for conv, pool and activation outputs before flatten"
            )
    return sizes


def _pixel_sizes(spec: NetworkSpec, layer_index: int, y: int, x: int) -> dict:
    """:func:`_spatial_sizes` up to ``layer_index``, after checking that the layer exists
    and that pixel (y, x) is inside its output (ValueError saying which does not)."""
    if not 0 <= layer_index < len(spec.layers):
        raise ValueError(f"layer_index {layer_index} outside 0..{len(spec.layers) - 1}")
    sizes = _spatial_sizes(spec, layer_index)
    h, w = sizes[layer_index]
    if not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"pixel ({y}, {x}) outside layer {layer_index}'s {h}×{w} output")
    return sizes


def _check_spatial(spec: NetworkSpec, sizes: dict, j: int, layer_index: int) -> None:
    """ValueError when layer ``j``, met on the way back from ``layer_index``, has no (H, W)."""
    if j not in sizes:
        raise ValueError(
            f"layer {j} ({spec.layers[j].type}) has no spatial layout on the way back "
            f"from layer {layer_index}"
        )


def receptive_field(spec: NetworkSpec, layer_index: int, y: int, x: int) -> list[Box | None]:
    """Which pixels the output pixel (y, x) of layer ``layer_index`` depends on.

    Returns ``layer_index + 2`` boxes: ``[0]`` in the input image, ``[i + 1]`` in the output
    of layer i, the last being the pixel itself. In a graph the box of a layer is the union
    over every path from it to the pixel; a layer on no such path gets None. Through a window
    layer (kernel k, stride s, padding p) output rows a..b come from input rows
    a·s − p .. b·s − p + k − 1 (each layer type's receptive_step); boxes are clipped to each
    layer's size, since padding zeros depend on nothing. Raises ValueError for a layer
    without a spatial output (dense, flatten, global pool) or a pixel outside it.
    """
    sizes = _pixel_sizes(spec, layer_index, y, x)
    boxes: dict[int, tuple[int, int, int, int]] = {layer_index: (y, x, y, x)}  # inclusive
    for i in range(layer_index, -1, -1):
        if i not in boxes:
            continue
        layer = spec.layers[i]
        for j in spec.inputs_of(i):
            _check_spatial(spec, sizes, j, layer_index)
            back = layer.kind.receptive_step(layer, boxes[i], sizes[j])
            if back is None:
                raise ValueError(f"layer {i} ({layer.type}) has no spatial layout")
            if j in boxes:
                old = boxes[j]
                back = (min(old[0], back[0]), min(old[1], back[1]),
                        max(old[2], back[2]), max(old[3], back[3]))  # fmt: skip
            boxes[j] = back
    out: list[Box | None] = []
    for i in range(-1, layer_index + 1):
        b = boxes.get(i)
        out.append(None if b is None else Box(b[0], b[1], b[2] + 1, b[3] + 1))
    return out
