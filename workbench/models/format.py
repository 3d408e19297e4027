"""How numbers and shapes read on screen: 6×28×28, 61.7 k, 1.2 MB."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def shape_text(shape: Sequence[int] | None) -> str:
    """(6, 28, 28) -> "6×28×28"; None (the shape cannot be computed) -> "—"."""
    if shape is None:
        return "—"
    return "×".join(str(int(d)) for d in shape)


def count_text(n: int | float | None) -> str:
    """A count with a thousands separator: 61706 -> "61,706"."""
    if n is None:
        return "—"
    return f"{int(n):,}"


def compact_count(n: int | float | None) -> str:
    """A count in a few characters: 61706 -> "61.7 k", 1.2e9 -> "1.2 G"."""
    if n is None:
        return "—"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)}"


def bytes_text(n: int | float | None) -> str:
    """Bytes in binary units: 3136 -> "3.1 KiB"."""
    if n is None:
        return "—"
    n = float(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def hover_html(title: str, formula: str, problems: list[str]) -> str:
    """Rich-text hover text: the layer, the arithmetic with its numbers, then any problems."""
    parts = [f"<b>{escape(title)}</b>"]
    if formula:
        parts.append(escape(formula).replace("; ", "<br>"))
    parts += [f"<span style='color:#dc2626'>⚠ {escape(p)}</span>" for p in problems]
    return "<br>".join(parts)
