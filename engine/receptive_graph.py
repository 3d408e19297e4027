"""The receptive field of one output pixel along every path of a graph network.

engine.inspect.receptive_field gives, per layer, the union of what a pixel depends on. In a
network with branches the paths see different amounts: a pixel of an Inception module's
concat sees a 1×1 patch of the module's input through the 1×1 branch, 3×3 through the 3×3
branch and the pool branch, 5×5 through the 5×5 branch; a pixel after a residual block sees
its input through the shortcut (1×1) and through the two 3×3 convolutions (5×5).

    fields = path_fields(spec, layer_index, y, x)
    fields[-1]      # {Box(...): paths, ...}: each distinct box in the input, with how many
                    # paths from the input to the pixel arrive at it
    fields[i]       # the same in the output of layer i ({} when no path passes it)

The count of paths is exact (a DenseNet block has 2^n of them) and computed without listing
them: the paths from layer j to the pixel that give j a box b are summed over j's consumers
(dynamic programming in reverse list order). The distinct boxes of a layer grow with depth,
not with the number of paths; past ``MAX_BOXES`` the smallest and largest are kept and the
rest are merged into their union (``truncated`` says so). Pure function of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.inspect import Box, _check_spatial, _pixel_sizes
from engine.spec import NetworkSpec

__all__ = ["MAX_BOXES", "PathFields", "path_fields"]

MAX_BOXES = 24  # distinct boxes kept per layer


@dataclass(frozen=True)
class PathFields:
    """``boxes[i + 1]`` for layer i (``boxes[0]`` the input): the distinct boxes of that
    layer's output that the pixel depends on through different paths, smallest first, each
    with the number of paths (from that layer to the pixel) that give it; empty for a layer
    on no path. ``union[i + 1]`` is their union (engine.inspect.receptive_field's box)."""

    layer: int
    pixel: tuple[int, int]
    boxes: tuple[tuple[tuple[Box, int], ...], ...]
    truncated: bool = False

    def __getitem__(self, index: int) -> dict[Box, int]:
        """Boxes of layer ``index`` (−1: the input) with their path counts."""
        return dict(self.boxes[index + 1])

    def union(self, index: int) -> Box | None:
        found = self.boxes[index + 1]
        if not found:
            return None
        return Box(
            min(b.top for b, _ in found), min(b.left for b, _ in found),
            max(b.bottom for b, _ in found), max(b.right for b, _ in found),
        )  # fmt: skip

    def paths(self, index: int = -1) -> int:
        """How many paths run from layer ``index`` (−1: the input) to the pixel."""
        return sum(n for _, n in self.boxes[index + 1])

    def describe(self) -> str:
        """ "3 paths: 1×1, 3×3 (2 paths), 5×5 of the input" (one path: "a 7×7 patch")."""
        found = self.boxes[0]
        if len(found) == 1 and found[0][1] == 1:
            b = found[0][0]
            return f"a {b.height}×{b.width} patch of the input"
        parts = [f"{b.height}×{b.width}" + (f" ({n:,} paths)" if n > 1 else "") for b, n in found]
        more = " (and more, merged)" if self.truncated else ""
        return f"{self.paths():,} paths: " + ", ".join(parts) + more + " of the input"


def path_fields(spec: NetworkSpec, layer_index: int, y: int, x: int) -> PathFields:
    """The boxes pixel (y, x) of layer ``layer_index``'s output depends on, along every path
    back to the input, by layer. Through a window layer the box grows by each layer type's
    ``receptive_step`` (clipped to the layer's size, as padding zeros depend on nothing).
    ValueError as engine.inspect.receptive_field: a layer without a spatial output (dense,
    flatten, global pool), one on the way back, or a pixel outside the output."""
    sizes = _pixel_sizes(spec, layer_index, y, x)
    # inclusive (top, left, bottom, right) -> number of paths, per position
    found: dict[int, dict[tuple[int, int, int, int], int]] = {layer_index: {(y, x, y, x): 1}}
    truncated = False
    for i in range(layer_index, -1, -1):
        here = found.get(i)
        if here is None:
            continue
        layer = spec.layers[i]
        for j in spec.inputs_of(i):
            _check_spatial(spec, sizes, j, layer_index)
            into = found.setdefault(j, {})
            for box, paths in here.items():
                back = layer.kind.receptive_step(layer, box, sizes[j])
                if back is None:
                    raise ValueError(f"layer {i} ({layer.type}) has no spatial layout")
                into[back] = into.get(back, 0) + paths
            if len(into) > MAX_BOXES:
                found[j] = _merge(into)
                truncated = True
    out = []
    for i in range(-1, layer_index + 1):
        boxes = found.get(i, {})
        items = sorted(
            ((Box(t, l, b + 1, r + 1), n) for (t, l, b, r), n in boxes.items()),
            key=lambda item: (item[0].height * item[0].width, item[0]),
        )
        out.append(tuple(items))
    return PathFields(layer_index, (y, x), tuple(out), truncated)


def _merge(boxes: dict[tuple[int, int, int, int], int]) -> dict[tuple[int, int, int, int], int]:
    """Keep the smallest and the largest MAX_BOXES − 2 boxes; the rest become their union."""
    ordered = sorted(boxes, key=lambda b: ((b[2] - b[0] + 1) * (b[3] - b[1] + 1), b))
    keep = ordered[:1] + ordered[-(MAX_BOXES - 2) :]
    rest = [b for b in ordered if b not in keep]
    out = {b: boxes[b] for b in keep}
    if rest:
        u = (min(b[0] for b in rest), min(b[1] for b in rest),
             max(b[2] for b in rest), max(b[3] for b in rest))  # fmt: skip
        out[u] = out.get(u, 0) + sum(boxes[b] for b in rest)
    return out
