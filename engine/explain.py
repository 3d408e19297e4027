"""Step-by-step arithmetic of one output cell: convolution, pooling and ReLU, as data.

The tutorials explain a convolution by sliding a 3×3 filter over a 5×5 image one position at
a time, showing the element-wise products and their sum. These pure functions compute what
one such position shows, so a view only has to draw it:

    from engine.explain import TUTORIAL_IMAGE, TUTORIAL_FILTER, conv_step
    s = conv_step(TUTORIAL_IMAGE, TUTORIAL_FILTER, 0.0, 1, 0, 0, 0)
    s.window, s.products, s.total, s.value          # 3×3, 3×3, 4.0, 4.0

Arrays are (H, W) or (C, H, W); results are float64 so the numbers a learner reads are the
exact sums. Geometry follows the engine (:mod:`engine.kernels.geometry`): zero padding for
convolution and average pooling (counted in the mean, like PyTorch's default), padding that
never wins for max pooling. :func:`explain_pixel` gives the same for a trained network's own
layer, with its real input, weights and bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kernels.geometry import output_size, window_steps

__all__ = [
    "POOL_MODES",
    "TUTORIAL_FILTER",
    "TUTORIAL_IMAGE",
    "TUTORIAL_OUTPUT",
    "PixelExplanation",
    "Step",
    "conv_step",
    "explain_pixel",
    "output_size_text",
    "pool_step",
    "positions",
    "relu_map",
    "relu_step",
    "run_steps",
]

#: The tutorials' 5×5 binary image, 3×3 filter and the 3×3 feature map they make.
TUTORIAL_IMAGE = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
    dtype=np.float64,
)
TUTORIAL_FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64)
TUTORIAL_OUTPUT = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]], dtype=np.float64)

#: Pooling modes: max, average (padding counted), sum (Lp with p = 1, as PyTorch's LPPool2d
#: computes it: the plain sum) and L2 (square root of the sum of squares).
POOL_MODES = ("max", "avg", "sum", "l2")


@dataclass(frozen=True)
class Step:
    """One output cell (``oy``, ``ox``) and the arithmetic behind it.

    ``window``: the input under the window, (C, KH, KW) float64, padding included (zeros, or
    -inf for max pooling); ``top``/``left``: the window's first row/column in unpadded input
    coordinates (negative inside the padding). ``weights``: the filter (C, KH, KW) for a
    convolution, else None. ``products``: window × weights (convolution), window squared
    (L2), else the window itself. ``total``: the sum the cell reports before ``bias``
    (the max for max pooling); ``value``: the output cell. ``op`` names the operation and
    ``formula`` says the arithmetic in one line.
    """

    op: str
    oy: int
    ox: int
    top: int
    left: int
    window: np.ndarray
    weights: np.ndarray | None
    products: np.ndarray
    total: float
    bias: float
    value: float
    formula: str


def _as_chw(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be (H, W) or (C, H, W), got shape {a.shape}")
    return a


def _pair(v, name: str) -> tuple[int, int]:
    pair = (int(v), int(v)) if np.isscalar(v) else tuple(int(t) for t in v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return pair  # type: ignore[return-value]


def _geometry(shape, kernel, stride, padding, oy, ox):
    """Checked geometry: (kh, kw), (sh, sw), (ph, pw), (oh, ow), top, left."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, _pair(stride, "stride"), _pair(padding, "padding")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(
            f"kernel {kh}×{kw} and stride {sh}×{sw} must be positive, padding {ph}×{pw} ≥ 0"
        )
    oh = output_size(shape[-2], kh, sh, ph)
    ow = output_size(shape[-1], kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"a {kh}×{kw} window does not fit a {shape[-2]}×{shape[-1]} input with padding "
            f"{ph}×{pw}: output {oh}×{ow}"
        )
    if not (0 <= oy < oh and 0 <= ox < ow):
        raise ValueError(f"output cell ({oy}, {ox}) outside the {oh}×{ow} output")
    return (kh, kw), (sh, sw), (ph, pw), (oh, ow), oy * sh - ph, ox * sw - pw


def _window(x: np.ndarray, top: int, left: int, kh: int, kw: int, fill: float) -> np.ndarray:
    """x[:, top:top+kh, left:left+kw] with out-of-range cells set to ``fill``."""
    c, h, w = x.shape
    out = np.full((c, kh, kw), fill, dtype=np.float64)
    r0, r1 = max(top, 0), min(top + kh, h)
    c0, c1 = max(left, 0), min(left + kw, w)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top : r1 - top, c0 - left : c1 - left] = x[:, r0:r1, c0:c1]
    return out


def _num(v: float) -> str:
    # Four significant digits: the learner reads the arithmetic, not float noise.
    return f"{v:.4g}" if abs(v - round(v)) > 1e-9 else str(round(float(v)))


def conv_step(x, w, b, stride, padding, oy: int, ox: int) -> Step:
    """Output cell (oy, ox) of the convolution (cross-correlation, as every CNN library
    computes it) of ``x`` (H, W) or (C, H, W) with one filter ``w`` of the same rank,
    bias ``b`` (a number), ``stride`` and zero ``padding`` (ints or (rows, cols) pairs).

    Raises ValueError when shapes disagree, the window does not fit or the cell is outside
    the output."""
    x, w = _as_chw(x, "x"), _as_chw(w, "w")
    if x.shape[0] != w.shape[0]:
        raise ValueError(f"filter has {w.shape[0]} channels, input has {x.shape[0]}")
    (kh, kw), _, _, _, top, left = _geometry(x.shape, w.shape[1:], stride, padding, oy, ox)
    window = _window(x, top, left, kh, kw, 0.0)
    products = window * w
    total = float(products.sum())
    bias = float(b)
    value = total + bias
    pairs = zip(window.ravel()[:9], w.ravel()[:9], strict=False)
    terms = " + ".join(f"{_num(a)}×{_num(c)}" for a, c in pairs)
    more = " + …" if products.size > 9 else ""
    tail = f" + bias {_num(bias)}" if bias else ""
    formula = f"{terms}{more} = {_num(total)}{tail} → {_num(value)}"
    return Step("conv", oy, ox, top, left, window, w, products, total, bias, value, formula)


def pool_step(x, kernel, stride, padding, oy: int, ox: int, mode: str = "max") -> Step:
    """Output cell (oy, ox) of pooling ``x`` (H, W) or (C, H, W) over ``kernel`` windows,
    per channel: ``mode`` one of :data:`POOL_MODES`. For C > 1 ``value`` is channel 0's cell
    (pooling never mixes channels; pass one channel to explain another)."""
    if mode not in POOL_MODES:
        raise ValueError(f"pool mode {mode!r}: expected one of {', '.join(POOL_MODES)}")
    x = _as_chw(x, "x")[:1]
    kernel = _pair(kernel, "kernel")
    _, _, _, _, top, left = _geometry(x.shape, kernel, stride, padding, oy, ox)
    window = _window(x, top, left, *kernel, -np.inf if mode == "max" else 0.0)
    cells = " , ".join(_num(v) for v in window.ravel()[:16] if np.isfinite(v))
    if mode == "max":
        products, total = window, float(window.max())
        value, formula = total, f"max({cells}) = {_num(total)}"
    elif mode == "avg":
        products, total = window, float(window.sum())
        value = total / window[0].size
        formula = f"({cells.replace(' , ', ' + ')}) / {window[0].size} = {_num(value)}"
    elif mode == "sum":
        products, total = window, float(window.sum())
        value, formula = total, f"{cells.replace(' , ', ' + ')} = {_num(total)}"
    else:
        products = window**2
        total = float(products.sum())
        value = float(np.sqrt(total))
        formula = f"√({' + '.join(_num(v) for v in products.ravel()[:16])}) = {value:.4g}"
    return Step(mode, oy, ox, top, left, window, None, products, total, 0.0, value, formula)


def relu_step(fmap, oy: int, ox: int) -> Step:
    """Cell (oy, ox) of relu over ``fmap`` (H, W) or (C, H, W) (channel 0): max(0, v)."""
    fmap = _as_chw(fmap, "feature map")[:1]
    _geometry(fmap.shape, (1, 1), 1, 0, oy, ox)
    v = float(fmap[0, oy, ox])
    window = np.array([[[v]]])
    value = max(v, 0.0)
    formula = f"max(0, {_num(v)}) = {_num(value)}"
    return Step("relu", oy, ox, oy, ox, window, None, window, v, 0.0, value, formula)


def relu_map(fmap) -> tuple[np.ndarray, np.ndarray]:
    """``(rectified, negative)``: max(0, fmap) float64 and the boolean mask of the cells that
    were negative (the ones relu sets to zero), both of fmap's shape."""
    a = np.asarray(fmap, dtype=np.float64)
    return np.maximum(a, 0.0), a < 0


def positions(out_h: int, out_w: int) -> list[tuple[int, int]]:
    """Output cells in the order the window visits them: row by row, left to right."""
    return [(oy, ox) for oy in range(out_h) for ox in range(out_w)]


def output_size_text(size: int, kernel: int, stride: int, padding: int) -> str:
    """The output-size formula with its numbers, e.g. ``(5 − 3 + 2·0)/1 + 1 = 3``; says so
    when the division is not whole (the output is rounded down and the last rows are never
    covered) or when the window does not fit."""
    numerator, remainder = window_steps(size, kernel, stride, padding)
    out = output_size(size, kernel, stride, padding)
    text = f"({size} − {kernel} + 2·{padding})/{stride} + 1 = "
    if numerator < 0:
        return text + f"{numerator}/{stride} + 1: the window does not fit"
    if remainder:
        return text + (
            f"{numerator / stride + 1:.4g}: not whole, rounded down to {out} "
            f"({remainder} padded row(s) never covered)"
        )
    return text + str(out)


def run_steps(x, op: str, *, w=None, b=0.0, kernel=(2, 2), stride=1, padding=0) -> np.ndarray:
    """The whole output map by stepping the window over every cell: float64 (OH, OW).

    ``op``: "conv" (with ``w`` and ``b``), "relu", or a pool mode. This is the naive
    reference the views' numbers agree with; it is slow by design."""
    x = _as_chw(x, "x")
    if op == "relu":
        return relu_map(x[0])[0]
    kh, kw = _as_chw(w, "w").shape[1:] if op == "conv" else _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    oh = output_size(x.shape[1], kh, sh, ph)
    ow = output_size(x.shape[2], kw, sw, pw)
    out = np.empty((max(oh, 0), max(ow, 0)))
    for oy, ox in positions(oh, ow):
        if op == "conv":
            out[oy, ox] = conv_step(x, w, b, stride, padding, oy, ox).value
        else:
            out[oy, ox] = pool_step(x, kernel, stride, padding, oy, ox, op).value
    return out


# --------------------------------------------------------------------------- a trained network


@dataclass(frozen=True)
class PixelExplanation:
    """Why output cell (``oy``, ``ox``) of channel ``channel`` of layer ``layer_index`` has
    the value it has, with the trained network's own numbers.

    ``step``: the arithmetic (for a conv layer: the patch of the layer below, the filter, the
    products and the sum plus bias). ``layer_input``: that layer's input, float64 (C, H, W).
    ``actual``: the cell as the network computed it (float32 arithmetic, so it agrees with
    ``step.value`` to about 1e-5 relative). ``boxes``: the receptive field, one box per layer
    from the input image on (:func:`engine.inspect.receptive_field`). ``kernel``, ``stride``,
    ``padding``: the layer's window geometry as (rows, cols) pairs.
    """

    layer_index: int
    layer_type: str
    channel: int
    step: Step
    layer_input: np.ndarray
    actual: float
    boxes: list
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)


def explain_pixel(net, image, layer_index: int, channel: int, oy: int, ox: int):
    """Explain one feature-map cell of ``net`` (an :class:`engine.network.Network`) for
    ``image`` float32 (C, H, W), already preprocessed. Supported layers: conv2d, max and
    average pooling, relu. Raises ValueError for another layer type or a cell outside."""
    from engine.inspect import receptive_field

    image = np.asarray(image, dtype=np.float32)
    activations = net.forward_activations(image[None])
    if not 0 <= layer_index < len(activations):
        raise ValueError(f"layer_index {layer_index} outside 0..{len(activations) - 1}")
    out = activations[layer_index][0]
    if out.ndim != 3:
        raise ValueError(f"layer {layer_index} has no feature maps (output shape {out.shape})")
    if not 0 <= channel < out.shape[0]:
        raise ValueError(f"channel {channel} outside 0..{out.shape[0] - 1}")
    # The layer's own input: in a graph not always the entry before it.
    source = net.spec.inputs_of(layer_index)[0] if net.spec.layers else layer_index - 1
    below = image if source < 0 else activations[source][0]
    layer = net.layers[layer_index]
    kind = net.spec.layers[layer_index].type
    geometry = ((1, 1), (1, 1), (0, 0))
    if kind in ("conv2d", "max_pool2d", "avg_pool2d"):
        kernel = layer.params["weight"].shape[2:] if kind == "conv2d" else layer.kernel
        geometry = (tuple(kernel), tuple(layer.stride), tuple(layer.padding))
    if kind == "conv2d":
        bias = layer.params.get("bias")
        b = 0.0 if bias is None else float(bias[channel])
        step = conv_step(
            below, layer.params["weight"][channel], b, layer.stride, layer.padding, oy, ox
        )
    elif kind in ("max_pool2d", "avg_pool2d"):
        mode = "max" if kind == "max_pool2d" else "avg"
        step = pool_step(below[channel], layer.kernel, layer.stride, layer.padding, oy, ox, mode)
    elif kind == "relu":
        step = relu_step(below[channel], oy, ox)
    else:
        raise ValueError(f"explaining a {kind} layer is not supported (conv, pool or relu)")
    return PixelExplanation(
        layer_index,
        kind,
        channel,
        step,
        np.asarray(below, dtype=np.float64),
        float(out[channel, oy, ox]),
        receptive_field(net.spec, layer_index, oy, ox),
        *geometry,
    )
