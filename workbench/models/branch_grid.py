"""Where the feature-maps view puts each layer's picture: grouped by block, as the canvas
draws a network turned on its side. Pure Python (no Qt): a list of (row, column) per cell.

A chain flows left to right in rows of ``columns`` pictures (the input first). A block, the
layers between a fork and the merge that closes it (an Inception module's branches, a
residual block's main path and projection), starts on a new row: each of its branches gets
a row of its own (wrapped at ``max_columns``), so the branches stand one above the other and
their layers line up column by column; the merge continues the flow after them.

A layer closes every block that is open before it when no connection passes over it (no
edge runs from a layer before it to a layer after it); the layers in between form the block,
and its branches are the groups of those layers that are connected among themselves.
"""

from __future__ import annotations

from engine.spec import NetworkSpec

__all__ = ["arrange"]


def arrange(spec: NetworkSpec, columns: int = 4, max_columns: int = 8) -> list[tuple[int, int]]:
    """(row, column) of each cell: ``[0]`` the input, ``[i + 1]`` layer i."""
    n = len(spec.layers)
    consumers = spec.wiring.consumers
    # passes[i]: a connection runs from before layer i to after it, so i is inside a block
    reach, passes = max((c for c in range(n) if -1 in spec.inputs_of(c)), default=0), []
    for i in range(n):
        passes.append(reach > i)
        reach = max(reach, max(consumers[i], default=i))
    places: list[tuple[int, int]] = [(0, 0)]
    row, col = 0, 1
    i = 0
    while i < n:
        if not passes[i]:
            if col >= columns:
                row, col = row + 1, 0
            places.append((row, col))
            col += 1
            i += 1
            continue
        end = i
        while end < n and passes[end]:
            end += 1
        if col > 0:
            row, col = row + 1, 0
        placed: dict[int, tuple[int, int]] = {}
        for branch in _branches(spec, range(i, end)):
            for k, layer in enumerate(branch):
                if k and k % max_columns == 0:
                    row += 1
                placed[layer] = (row, k % max_columns)
            row += 1
        places.extend(placed[j] for j in range(i, end))
        col = 0
        i = end
    return places


def _branches(spec: NetworkSpec, inside: range) -> list[list[int]]:
    """The layers of ``inside`` grouped by the connections among them, each group in list
    order, the groups by their first layer."""
    parent = {i: i for i in inside}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in inside:
        for j in spec.inputs_of(i):
            if j in parent:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in inside:
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])
