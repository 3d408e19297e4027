"""Repeated blocks of a network, which the canvas can draw as one block "×3".

A block is the stretch of layers between two forks of the main path (layers whose output
two or more layers take: where a shortcut or a dense connection starts), provided nothing
outside it takes anything but its last layer's output. Consecutive blocks made of the same
layers with the same fields, wired the same way, are a repeat: ResNet-20's first stage is
a residual block ×3; DenseNet-121's first dense block is a dense layer ×6. No Qt here.

Rows as the views number them: 0 is the input, ``i + 1`` is layer ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

MIN_COUNT = 2


@dataclass(frozen=True)
class Repeat:
    """``count`` blocks, all of their layers' rows in ``rows``; ``last`` (their last row)
    stands for them when collapsed; ``types``: one block's layer types; ``title``: what
    the block is ("Residual block")."""

    rows: tuple[int, ...]
    last: int
    count: int
    types: tuple[str, ...]
    title: str

    @property
    def key(self) -> tuple[int, int]:
        """Identifies the repeat while the network keeps its shape (for expanding it)."""
        return (self.rows[0], self.count)


def find_repeats(spec) -> list[Repeat]:
    """The repeats of ``spec`` (an engine NetworkSpec), in layer order."""
    w = spec.wiring
    n = len(spec.layers)
    forks = [p for p in range(n) if len(w.consumers[p]) >= 2]
    segments = []  # (start, end, signature) of each block between consecutive forks
    for a, b in pairwise(forks):
        inside = range(a + 1, b + 1)
        if not all(a <= j <= b for i in inside for j in w.inputs[i]):
            segments.append(None)
            continue
        if not all(c <= b for i in inside if i != b for c in w.consumers[i]):
            segments.append(None)
            continue
        signature = tuple(
            (spec.layers[i].type, spec.layers[i].params,
             tuple("entry" if j == a else j - a for j in w.inputs[i]))
            for i in inside
        )  # fmt: skip
        segments.append((a + 1, b, signature))
    out: list[Repeat] = []
    k = 0
    while k < len(segments):
        seg = segments[k]
        run = [seg] if seg is not None else []
        while seg is not None and k + 1 < len(segments):
            nxt = segments[k + 1]
            if nxt is None or nxt[2] != seg[2] or nxt[0] != run[-1][1] + 1:
                break
            run.append(nxt)
            k += 1
        if len(run) >= MIN_COUNT:
            first, last = run[0][0], run[-1][1]
            types = tuple(t for t, _, _ in run[0][2])
            out.append(
                Repeat(tuple(range(first + 1, last + 2)), last + 1, len(run), types, _title(types))
            )
        k += 1
    return out


def _title(types: tuple[str, ...]) -> str:
    if "add" in types:
        return "Residual block"
    if "concat" in types:
        return "Dense layer" if types.count("conv2d") <= 2 else "Inception module"
    return "Block"
