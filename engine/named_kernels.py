"""The tutorials' named kernels, the playground convolution and the nearest named kernel.

- :data:`NAMED_KERNELS`: identity, three edge detectors, sharpen, box blur, Gaussian blur
  3×3 and 5×5, Sobel x and y, emboss (float32 (F, F) arrays, as the tutorials print them).
- :func:`playground_convolve`: an image convolved with one kernel through the engine's own
  :class:`engine.layers.Conv2D` forward (the code that trains), each channel on its own.
- :func:`nearest_named`: for each learned filter, the named kernel it resembles most by
  normalised correlation, so a learner sees that conv1 learned edge detectors by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kernels.geometry import output_size

__all__ = ["NAMED_KERNELS", "Resemblance", "kernel", "nearest_named", "playground_convolve"]


def _k(rows, scale: float = 1.0) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32) * np.float32(scale)
    a.setflags(write=False)
    return a


#: Name -> kernel, in the order a picker lists them.
NAMED_KERNELS: dict[str, np.ndarray] = {
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "edge detection 1": _k([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "edge detection 2": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "edge detection 3": _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "box blur": _k(np.ones((3, 3)), 1 / 9),
    "gaussian blur 3×3": _k([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "gaussian blur 5×5": _k(
        [
            [1, 4, 6, 4, 1],
            [4, 16, 24, 16, 4],
            [6, 24, 36, 24, 6],
            [4, 16, 24, 16, 4],
            [1, 4, 6, 4, 1],
        ],
        1 / 256,
    ),
    "sobel x": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel y": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}


def kernel(name: str) -> np.ndarray:
    """A writable float32 copy of the named kernel; KeyError listing the names otherwise."""
    try:
        return NAMED_KERNELS[name].copy()
    except KeyError:
        raise KeyError(f"no kernel {name!r}; named kernels: {', '.join(NAMED_KERNELS)}") from None


def playground_convolve(image, weights, stride: int = 1, padding: int = 0) -> np.ndarray:
    """``image`` (H, W) or (C, H, W) convolved with ``weights`` (KH, KW), each channel on its
    own (the same 2-D kernel on R, G and B, as the tutorials' pictures do): float32 (OH, OW)
    or (C, OH, OW), matching the input's rank. No bias.

    Runs through :class:`engine.layers.Conv2D` (one input and one output channel, the channels
    as a batch), so the playground shows exactly what the training code computes. Raises
    ValueError when the kernel does not fit or arguments are not positive."""
    from engine.layers import Conv2D

    x = np.asarray(image, dtype=np.float32)
    flat = x.ndim == 2
    if flat:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"image must be (H, W) or (C, H, W), got shape {x.shape}")
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2 or min(w.shape) < 1:
        raise ValueError(f"kernel must be a non-empty (KH, KW) grid, got shape {w.shape}")
    stride, padding = int(stride), int(padding)
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be ≥ 1 and padding ≥ 0, got {stride} and {padding}")
    oh = output_size(x.shape[1], w.shape[0], stride, padding)
    ow = output_size(x.shape[2], w.shape[1], stride, padding)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"a {w.shape[0]}×{w.shape[1]} kernel does not fit a {x.shape[1]}×{x.shape[2]} "
            f"image with padding {padding}: output {oh}×{ow}"
        )
    conv = Conv2D(1, 1, w.shape, (stride, stride), (padding, padding), bias=False)
    conv.params["weight"][0, 0] = w
    out = conv.forward(np.ascontiguousarray(x[:, None]))[:, 0]
    return out[0] if flat else out


@dataclass(frozen=True)
class Resemblance:
    """The named kernel a learned filter is closest to: ``name``, the signed normalised
    correlation ``score`` in [-1, 1] (negative: it is that kernel inverted), and the
    filter itself averaged over its input channels, float32 (F, F)."""

    name: str
    score: float
    filter: np.ndarray


def _centred(k: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """``k`` zero-padded to ``size`` around its centre, or None when it is larger."""
    dh, dw = size[0] - k.shape[0], size[1] - k.shape[1]
    if dh < 0 or dw < 0 or dh % 2 or dw % 2:
        return None
    return np.pad(k, ((dh // 2, dh // 2), (dw // 2, dw // 2)))


def nearest_named(weights) -> list[Resemblance]:
    """For each filter of ``weights`` (K, C, F, F) (a conv layer's weight), the named kernel
    with the largest absolute normalised correlation (cosine of the flattened arrays) with
    the filter averaged over channels. Smaller named kernels are compared zero-padded to the
    filter's size; larger ones are not compared. A filter of all zeros scores 0 with the
    first kernel. Raises ValueError for an array that is not 4-D."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"weights must be (K, C, F, F), got shape {w.shape}")
    size = w.shape[2:]
    candidates = []
    for name, k in NAMED_KERNELS.items():
        padded = _centred(k.astype(np.float64), size)
        if padded is not None:
            candidates.append((name, padded.ravel() / np.linalg.norm(padded)))
    if not candidates:
        raise ValueError(f"no named kernel fits a {size[0]}×{size[1]} filter")
    names = [n for n, _ in candidates]
    bank = np.stack([v for _, v in candidates])  # (names, F*F), unit rows
    out = []
    for f in w.mean(axis=1):
        norm = np.linalg.norm(f)
        scores = bank @ (f.ravel() / norm) if norm > 0 else np.zeros(len(names))
        best = int(np.argmax(np.abs(scores)))
        out.append(Resemblance(names[best], float(scores[best]), f.astype(np.float32)))
    return out


def named_filters(shape: tuple[int, ...]) -> np.ndarray:
    """Conv weights (K, C, F, F) float32 that start from the named kernels: filter k is the
    k-th named kernel that fits F×F (in the order of NAMED_KERNELS, cycling), centred,
    the same on every input channel, and scaled to the L2 norm sqrt(2) that He
    initialisation gives a filter on average, so training starts at the usual scale.
    Raises ValueError for a shape that is not 4-D or a kernel no named kernel fits."""
    if len(shape) != 4:
        raise ValueError(f'init "kernels" is for conv weights (K, C, F, F), got shape {shape}')
    k_out, channels, fh, fw = shape
    bank = [p for p in (_centred(k.astype(np.float64), (fh, fw)) for k in NAMED_KERNELS.values())
            if p is not None]  # fmt: skip
    if not bank:
        raise ValueError(f'init "kernels": no named kernel fits a {fh}×{fw} filter')
    out = np.empty(shape, np.float32)
    for k in range(k_out):
        f = np.broadcast_to(bank[k % len(bank)], (channels, fh, fw))
        out[k] = f * (np.sqrt(2.0) / np.linalg.norm(f))
    return out


def start_first_conv_from_named(spec):
    """``spec`` (engine.spec.NetworkSpec) with its first convolution set to start from the
    named kernels (init "kernels", recorded in the spec so every run starts from them), and
    that layer's index. Raises ValueError when there is no convolution, or its kernel is
    smaller than 3×3 (none of the named kernels fits it)."""
    index = next((i for i, layer in enumerate(spec.layers) if layer.kind.family == "conv"), None)
    if index is None:
        raise ValueError("the network has no convolution to start from the named kernels")
    layer = spec.layers[index]
    kh, kw = layer["kernel"]
    if min(kh, kw) < 3 or (kh - 3) % 2 or (kw - 3) % 2:
        raise ValueError(
            f"{layer.type} #{index + 1} has a {kh}×{kw} kernel; the named kernels need an odd "
            "kernel of 3×3 or more"
        )
    return spec.replace_layer(index, layer.replace(init="kernels")), index
