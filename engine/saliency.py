"""What the network looks at: Grad-CAM and occlusion maps, computed by the engine.

- :func:`grad_cam`: Selvaraju et al.'s class activation map. The feature maps A (K, h, w) of
  a layer are weighed by the spatial mean of d(logit of the class)/dA (the engine's own
  backward pass, :meth:`engine.network.Network.activation_and_gradient`), summed over K and
  rectified, then stretched to the image's size.
- :func:`occlusion_map`: Zeiler and Fergus's test. A patch of the image is greyed out (set to
  ``fill``; 0 is the training mean for standardised input) at every position of a grid, and
  the map records how much the class's probability drops.

Both return float32 maps of the image's (H, W), for overlays; nothing here touches Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SaliencyMap", "default_cam_layer", "grad_cam", "occlusion_map", "resize_map"]

#: Layers that keep the spatial layout of their input, after which Grad-CAM may still look.
_ELEMENTWISE = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "batch_norm", "dropout"})


@dataclass(frozen=True)
class SaliencyMap:
    """``heat``: float32 (H, W) at the image's size, in [0, 1] (divided by its maximum, all
    zeros when nothing counts). ``raw``: the map before resizing and scaling, float32 (h, w)
    (the layer's grid for Grad-CAM, the patch grid for occlusion, in probability units).
    ``target``: the class explained; ``layer``: Grad-CAM's layer index (None for
    occlusion)."""

    heat: np.ndarray
    raw: np.ndarray
    target: int
    layer: int | None


def default_cam_layer(spec) -> int:
    """The last convolution of ``spec`` and the elementwise layers right after it (relu,
    batch norm, ...): Grad-CAM's usual choice, the rectified output of the last conv layer.
    Raises ValueError for a network without a convolution."""
    types = [layer.type for layer in spec.layers]
    convs = [i for i, t in enumerate(types) if t == "conv2d"]
    if not convs:
        raise ValueError("Grad-CAM needs a conv2d layer; this network has none")
    index = convs[-1]
    while index + 1 < len(types) and types[index + 1] in _ELEMENTWISE:
        index += 1
    return index


def resize_map(m: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``m`` (h, w) to (height, width), cell centres aligned (as
    PyTorch's ``align_corners=False``); float32."""
    m = np.asarray(m, dtype=np.float64)
    h, w = m.shape

    def coords(n_out: int, n_in: int):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, pos - lo

    y0, y1, fy = coords(height, h)
    x0, x1, fx = coords(width, w)
    top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
    bottom = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
    return (top * (1 - fy)[:, None] + bottom * fy[:, None]).astype(np.float32)


def _scaled(m: np.ndarray) -> np.ndarray:
    top = float(m.max()) if m.size else 0.0
    return (m / top).astype(np.float32) if top > 0 else np.zeros_like(m, dtype=np.float32)


def grad_cam(net, image, target: int, layer_index: int | None = None) -> SaliencyMap:
    """Grad-CAM of ``net`` for ``image`` float32 (C, H, W) (preprocessed) and class
    ``target``, on layer ``layer_index`` (default :func:`default_cam_layer`), whose output
    must be feature maps (K, h, w). ``raw`` = relu(Σ_k mean(dlogit/dA_k) · A_k)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {image.shape}")
    layer = default_cam_layer(net.spec) if layer_index is None else int(layer_index)
    activation, gradient = net.activation_and_gradient(image[None], layer, int(target))
    if activation.ndim != 4:
        raise ValueError(
            f"layer {layer} outputs shape {activation.shape[1:]}, not feature maps; "
            "choose a conv, pool or activation layer before flatten"
        )
    a = activation[0].astype(np.float64)
    alpha = gradient[0].astype(np.float64).mean(axis=(1, 2))  # (K,)
    raw = np.maximum(np.tensordot(alpha, a, axes=1), 0.0).astype(np.float32)
    heat = resize_map(raw, image.shape[1], image.shape[2])
    return SaliencyMap(_scaled(np.maximum(heat, 0)), raw, int(target), layer)


def occlusion_map(
    net, image, target: int, patch: int = 4, stride: int | None = None, fill: float = 0.0
) -> SaliencyMap:
    """Occlusion sensitivity of ``net`` for ``image`` float32 (C, H, W) and class ``target``:
    a ``patch``×``patch`` square (all channels) set to ``fill`` at every ``stride`` (default
    ``patch``) step, the last row and column of positions flush with the image's edge.

    ``raw`` (rows, cols): p(target | image) − p(target | occluded) per position (positive:
    hiding that patch hurts). ``heat``: per pixel, the mean drop of the patches covering it,
    rectified and scaled to [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {image.shape}")
    _, height, width = image.shape
    patch = int(patch)
    stride = patch if stride is None else int(stride)
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise ValueError(f"patch {patch} must fit the {height}×{width} image; stride ≥ 1")

    def starts(n: int) -> list[int]:
        s = list(range(0, n - patch + 1, stride))
        return s if s[-1] == n - patch else [*s, n - patch]

    rows, cols = starts(height), starts(width)
    batch = np.repeat(image[None], len(rows) * len(cols), axis=0)
    for i, (top, left) in enumerate((t, v) for t in rows for v in cols):
        batch[i, :, top : top + patch, left : left + patch] = fill
    base = float(net.predict_proba(image[None])[0, target])
    probs = net.predict_proba(batch)[:, target].astype(np.float64)
    raw = (base - probs).reshape(len(rows), len(cols))
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (r, top), (c, left) in ((a, b) for a in enumerate(rows) for b in enumerate(cols)):
        total[top : top + patch, left : left + patch] += raw[r, c]
        count[top : top + patch, left : left + patch] += 1
    heat = np.maximum(total / np.maximum(count, 1), 0.0)
    return SaliencyMap(_scaled(heat), raw.astype(np.float32), int(target), None)
