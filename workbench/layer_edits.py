"""The stack's edits on a graph: where pasted, duplicated and inserted layers go (after one
layer, with their own wiring among themselves kept and their ids made new), and what takes
the output of deleted ones.

``NetworkSpec.insert_layer`` puts a layer at a list position, on the connection into the
layer that was there: after the last layer of an Inception branch that is the next branch's
first input, so a paste "after the selected block" landed on another branch; and a copy
brought its ids along (Duplicate of a layer with an id made two layers of that id, which
the network refused). A pure function of specs (no Qt); its home would be
engine.graph_edits, beside insert_on_edge.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.graph import INPUT
from engine.spec import LayerSpec, NetworkSpec

__all__ = ["copies_of", "insert_after", "move_layers", "move_onto", "remove_layers"]


def move_onto(
    spec: NetworkSpec, index: int, src: int, dsts: Iterable[int]
) -> tuple[NetworkSpec, int]:
    """Move layer ``index`` onto the connections from ``src`` (-1: the input) into layers
    ``dsts`` (the arrow into a collapsed repeat stands for each of its layers that take
    ``src``): lifted out, its id kept, then put after ``src`` for those layers only.
    GraphEditError as engine.graph_edits.move_to_edge raises it."""
    from engine.graph_edits import GraphEditError, move_to_edge

    dsts = sorted(set(dsts))
    if len(dsts) == 1:
        return move_to_edge(spec, index, src, dsts[0])
    if index == src or index in dsts:
        name = f"{spec.layers[index].type} #{index + 1}"
        raise GraphEditError(f"{name} is on that connection already")
    if len(spec.inputs_of(index)) != 1:
        move_to_edge(spec, index, src, dsts[0])  # raises: a merge cannot be moved alone
    layer = spec.layers[index]
    kept = layer.wired(id=spec.wiring.ids[index] if layer.id is not None else None, inputs=None)
    lifted = spec.remove_layer(index)
    shift = lambda j: j - (j > index)  # noqa: E731
    return insert_after(lifted, shift(src), [kept], into=[shift(d) for d in dsts])


def move_layers(spec: NetworkSpec, indices: Iterable[int], at: int) -> tuple[NetworkSpec, int]:
    """Move layers ``indices`` so that they come before what is layer ``at`` now (``at`` =
    len: the end), after the layer above that place: lifted out as remove_layers does, put
    back as insert_after puts copies, keeping their ids and their wiring among themselves.
    (A plain reorder of the list made a layer take a later one's output on a graph.)
    Returns the new spec and the position of the last moved layer."""
    indices = sorted(set(indices))
    moving, entry = copies_of(spec, indices)
    anchor = max((j for j in range(at) if j not in indices), default=-1)
    lifted = remove_layers(spec, indices)
    anchor -= sum(1 for i in indices if i < anchor)
    return insert_after(lifted, anchor, moving, entry=entry)


def remove_layers(spec: NetworkSpec, indices: Iterable[int]) -> NetworkSpec:
    """``spec`` without layers ``indices``: what took a removed layer's output takes what it
    took (NetworkSpec.remove_layer), except that a layer which takes one input, where a
    removed add or concat fed it, takes the merge's main input (the longest branch) rather
    than all of them: deleting the add of an identity shortcut leaves the main path, not a
    relu with two inputs (a projection shortcut is left without a consumer: a problem that
    says so)."""
    for i in sorted(set(indices), reverse=True):
        w = spec.wiring
        sources = w.inputs[i]
        if len(sources) > 1 and any(
            spec.layers[c].kind.arity[1] == 1 for c in w.consumers[i]
        ):
            layers = spec._anchored()
            main = max(sources, key=lambda j: (_branch_length(spec, j), j))
            ref = INPUT if main < 0 else w.ids[main]
            if main >= 0 and layers[main].id is None and main != i - 1:
                layers[main] = layers[main].wired(id=ref)
            layers[i] = layers[i].wired(inputs=None if main == i - 1 else [ref])
            spec = spec.with_layers(layers)
        spec = spec.remove_layer(i)
    return spec


def _branch_length(spec: NetworkSpec, j: int) -> int:
    """How many layers lead to ``j`` along first inputs from where its branch forks off
    (a layer whose output two or more take): 0 for an identity shortcut."""
    w, n = spec.wiring, 0
    while j >= 0 and len(w.consumers[j]) < 2 and w.inputs[j]:
        n, j = n + 1, w.inputs[j][0]
    return n


def copies_of(spec: NetworkSpec, indices: list[int]) -> tuple[list[LayerSpec], str | None]:
    """Layers ``indices`` of ``spec`` as Copy and Duplicate take them, and their entry: the
    id of what the first of them takes (None when it merges several inputs).

    Their wiring among themselves is written out (ids made explicit where another copy
    refers to one); a layer that takes only layers outside the selection, other than the
    entry, takes the copy before it (scattered layers are copied as a chain)."""
    indices = sorted(set(indices))
    if not indices:
        return [], None
    w = spec.wiring
    layers = spec._anchored()
    chosen = set(indices)

    def ref(j: int) -> str:
        return INPUT if j < 0 else w.ids[j]

    first = indices[0]
    entry = ref(w.inputs[first][0]) if len(w.inputs[first]) == 1 else None
    out: list[LayerSpec] = []
    previous = None
    for i in indices:
        sources = w.inputs[i]
        refs = [ref(j) for j in sources]
        if i == first and entry is not None:
            inputs = None  # it takes what it is pasted after
        elif previous is not None and sources == (previous,):
            inputs = None  # the copy before it
        elif previous is not None and not chosen.intersection(sources) and entry not in refs:
            inputs = None  # scattered layers: a chain
        else:
            inputs = refs
        out.append(layers[i].wired(inputs=inputs))
        previous = i
    named = {r for layer in out for r in (layer.inputs or ())}
    out = [layer.wired(id=w.ids[i]) if layer.id is None and w.ids[i] in named else layer
           for i, layer in zip(indices, out, strict=True)]  # fmt: skip
    return out, entry


def insert_after(
    spec: NetworkSpec,
    anchor: int,
    new: Iterable[LayerSpec],
    into: int | Iterable[int] | None = None,
    entry: str | None = None,
) -> tuple[NetworkSpec, int]:
    """Insert the layers ``new`` after layer ``anchor`` (-1: the network input).

    The first of them takes ``anchor``'s output, and so does a reference to ``entry`` (what
    the copied layers took, from copies_of) or to a layer this network has not before the
    insertion; a reference to another layer before it is kept; one without ``inputs`` takes
    the one before it; references among the copies are kept, each copy with an id getting an
    id of its own that no layer has. What took ``anchor``'s output (only layers ``into`` when
    given: a drop on one connection) takes the last copy's instead. Returns the new spec and
    the position of the last copy.
    """
    new = list(new)
    if not new:
        return spec, anchor
    w = spec.wiring
    layers = spec._anchored()

    taken = set(w.ids)

    def fresh(stem: str) -> str:
        name, n = stem, 2
        while name in taken or name == INPUT:
            name, n = f"{stem}_{n}", n + 1
        taken.add(name)
        return name

    anchor_ref = INPUT if anchor < 0 else w.ids[anchor]
    before = set(w.ids[: anchor + 1])  # what a copy may still take by its id
    renamed: dict[str, str] = {}
    copies: list[LayerSpec] = []
    kept: set[str] = set()  # ids of layers before the insertion that copies take
    for layer in new:
        new_id = fresh(layer.id) if layer.id is not None else None
        if layer.id is not None:
            renamed[layer.id] = new_id
        if layer.inputs is None:
            inputs = None
        else:
            inputs = []
            for r in layer.inputs:
                if r in renamed:
                    r = renamed[r]
                elif r == entry or r not in before:
                    r = anchor_ref  # what the copies hang from
                else:
                    kept.add(r)
                if r not in inputs:
                    inputs.append(r)
            if not copies and inputs == [anchor_ref]:
                inputs = None  # the first copy takes the entry before it: the anchor
        copies.append(layer.wired(id=new_id, inputs=inputs))
    takes_anchor = copies[0].inputs is None or any(
        anchor_ref in (c.inputs or ()) for c in copies
    )
    if not takes_anchor:  # a copied merge first, of layers kept: its first input the anchor
        refs = list(copies[0].inputs)
        refs[0] = anchor_ref
        copies[0] = copies[0].wired(inputs=list(dict.fromkeys(refs)))
    at = anchor + 1
    consumers = [i for i, ins in enumerate(w.inputs) if anchor in ins]
    if isinstance(into, int):
        into = (into,)
    chosen = consumers if into is None else [i for i in consumers if i in set(into)]
    if any(layers[i].inputs is not None for i in chosen) and copies[-1].id is None:
        last = copies[-1]
        copies[-1] = last.wired(id=fresh(last.kind.short or last.type))
    for i in consumers:
        refs = layers[i].inputs
        if i not in chosen:
            if refs is None:  # it took the entry before it, the anchor: it still does
                layers[i] = layers[i].wired(inputs=[anchor_ref])
        elif refs is not None:  # (one without inputs takes the last copy: the entry before)
            layers[i] = layers[i].wired(inputs=[copies[-1].id if r == anchor_ref else r
                                                for r in refs])  # fmt: skip
    named = {r for layer in (*layers, *copies) for r in (layer.inputs or ())}
    for j in range(anchor + 1):
        if layers[j].id is None and w.ids[j] in named:  # its generated id, made explicit
            layers[j] = layers[j].wired(id=w.ids[j])
    layers[at:at] = copies
    return spec.with_layers(layers), at + len(copies) - 1
