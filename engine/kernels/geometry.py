"""The one output-size formula of a sliding window (conv and every pool).

Along one axis a window of ``kernel`` pixels, moved ``stride`` pixels at a time over an input
of ``size`` pixels padded by ``padding`` on both sides, fits ``(size − kernel + 2·padding) /
stride + 1`` times. The tutorials' rule ("exact") wants that to be a whole number; PyTorch and
Keras round it down ("floor"). Everything else (shape inference, the compute layers, the
receptive field) calls these two functions.
"""

from __future__ import annotations

__all__ = ["output_size", "window_steps"]


def window_steps(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """``(numerator, remainder)`` of the formula: numerator = size − kernel + 2·padding (negative
    when the window does not fit) and its remainder modulo ``stride`` (0 when the result is
    whole; otherwise that many padded rows at the end are never covered)."""
    numerator = size - kernel + 2 * padding
    return numerator, numerator % stride


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1
