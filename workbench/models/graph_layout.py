"""Where the canvas draws each block and each connection: a layered (Sugiyama) layout of the
network's wiring, top to bottom, computed by grandalf.

grandalf ranks the layers (a layer sits below everything it takes), adds dummy points on
long edges, reduces crossings by the barycentre heuristic and places blocks by Brandes and
Köpf, so a chain is one straight column, a residual shortcut runs in a narrow lane beside its
block, and an Inception module's branches stand side by side. No Qt here: the layout is
plain geometry, tested and timed alone (``python -m workbench.models.graph_layout NAME``).

Nodes are numbered as the views number rows: 0 is the input, ``i + 1`` is layer ``i``.
Coordinates are block centres in scene units, y growing downwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

BLOCK_W = 240.0
BLOCK_H = 54.0
X_SPACE = 26.0  # between blocks side by side
Y_SPACE = 40.0  # between ranks: room for the arrow and its shape label
LANE_W = 18.0  # the width a long edge takes where it passes a rank (dummy vertex)
COMPONENT_GAP = 80.0
CROSSING_ROUNDS = 2.5  # grandalf's N: down-up sweeps of crossing reduction


@dataclass(frozen=True)
class EdgePath:
    """The connection from node ``src`` into node ``dst`` (its input number ``slot``),
    through ``points`` (from the bottom of ``src`` to the top of ``dst``)."""

    src: int
    dst: int
    slot: int
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class GraphLayout:
    """``centres[node]``: (x, y) of the block's centre; ``edges`` in layer order."""

    centres: dict[int, tuple[float, float]]
    edges: tuple[EdgePath, ...]
    width: float
    height: float


class _View:
    """What grandalf reads from a vertex (w, h) and writes back (xy)."""

    __slots__ = ("h", "w", "xy")

    def __init__(self, w: float, h: float):
        self.w, self.h, self.xy = w, h, (0.0, 0.0)


class _EdgeView:
    __slots__ = ("points",)

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points) -> None:
        self.points = [tuple(p) for p in points]


def layout(inputs: list[tuple[int, ...]], merged: dict[int, int] | None = None) -> GraphLayout:
    """Lay out a network whose layer ``i`` takes the layers at positions ``inputs[i]``
    (-1: the network input), as ``NetworkSpec.wiring.inputs`` gives them. ``merged`` maps
    nodes drawn as one (a collapsed repeat) to the node that stands for them; an edge
    between merged nodes goes, and of parallel edges the first stays (with its slot)."""
    merged = merged or {}
    n = len(inputs) + 1
    vertices = {node: Vertex(node) for node in range(n) if merged.get(node, node) == node}
    for v in vertices.values():
        v.view = _View(BLOCK_W, BLOCK_H)
    edges: list[tuple[Edge, int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, sources in enumerate(inputs):
        for slot, j in enumerate(sources):
            src, dst = merged.get(j + 1, j + 1), merged.get(i + 1, i + 1)
            if -1 <= j < i and src != dst and (src, dst) not in seen:
                seen.add((src, dst))
                e = Edge(vertices[src], vertices[dst])
                e.view = _EdgeView()
                edges.append((e, src, dst, slot))
    graph = Graph(list(vertices.values()), [e for e, *_ in edges])

    centres: dict[int, tuple[float, float]] = {}
    left = 0.0
    height = 0.0
    for component in graph.C:  # the input's first; others are layers cut off from it
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = X_SPACE, Y_SPACE
        sug.dw, sug.dh = LANE_W, BLOCK_H
        roots = [v for v in component.sV if not v.e_in()]
        roots.sort(key=lambda v: v.data)
        sug.init_all(roots=roots)  # longest-path ranks: branches start together, as drawn in papers
        sug.draw(CROSSING_ROUNDS)
        xs = [v.view.xy[0] for v in component.sV]
        x0 = min(xs) - BLOCK_W / 2
        for v in component.sV:
            x, y = v.view.xy
            centres[v.data] = (x - x0 + left, y)
            height = max(height, y + BLOCK_H / 2)
        for e, *_ in edges:  # grandalf routed this component's edges in its coordinates
            if e in component.sE:
                e.view.points = [(x - x0 + left, y) for x, y in e.view.points]
        left += max(xs) - min(xs) + BLOCK_W + COMPONENT_GAP

    paths = []
    for e, src, dst, slot in edges:
        (sx, sy), (tx, ty) = centres[src], centres[dst]
        middle = [p for p in e.view.points[1:-1]]
        points = [(sx, sy + BLOCK_H / 2), *middle, (tx, ty - BLOCK_H / 2)]
        paths.append(EdgePath(src, dst, slot, tuple(points)))
    width = left - COMPONENT_GAP if centres else 0.0
    return GraphLayout(centres, tuple(paths), width, height)


if __name__ == "__main__":
    import sys
    import time

    from engine.spec import load_spec

    for name in sys.argv[1:] or ["lenet5", "resnet20", "inception-cifar", "densenet121"]:
        spec = load_spec(name)
        start = time.perf_counter()
        result = layout(list(spec.wiring.inputs))
        took = time.perf_counter() - start
        print(
            f"{name}: {len(spec.layers)} layers laid out in {took * 1000:.0f} ms, "
            f"{result.width:.0f} × {result.height:.0f}"
        )
