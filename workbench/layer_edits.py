"""Where pasted, duplicated and inserted layers go in a graph: after one layer, with their
own wiring among themselves kept and their ids made new.

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

__all__ = ["insert_after"]


def insert_after(
    spec: NetworkSpec, anchor: int, new: Iterable[LayerSpec], into: int | None = None
) -> tuple[NetworkSpec, int]:
    """Insert the layers ``new`` after layer ``anchor`` (-1: the network input).

    The first of them (and any that took a layer outside the copies) takes ``anchor``'s
    output; one without ``inputs`` takes the one before it; references among the copies are
    kept, each copy with an id getting an id of its own that no layer has. What took
    ``anchor``'s output (only layer ``into`` when given: a drop on one connection) takes the
    last copy's instead. Returns the new spec and the position of the last copy.
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
    renamed: dict[str, str] = {}
    copies: list[LayerSpec] = []
    for layer in new:
        new_id = fresh(layer.id) if layer.id is not None else None
        if layer.id is not None:
            renamed[layer.id] = new_id
        if layer.inputs is None:
            inputs = None
        else:
            inputs = []
            for r in layer.inputs:
                r = renamed.get(r, anchor_ref)  # from outside the copies: from the anchor
                if r not in inputs:
                    inputs.append(r)
            if not copies and inputs == [anchor_ref]:
                inputs = None  # the first copy takes the entry before it: the anchor
        copies.append(layer.wired(id=new_id, inputs=inputs))
    at = anchor + 1
    consumers = [i for i, ins in enumerate(w.inputs) if anchor in ins]
    chosen = consumers if into is None else [i for i in consumers if i == into]
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
    named = any(anchor_ref in (layer.inputs or ()) for layer in (*layers, *copies))
    if anchor >= 0 and layers[anchor].id is None and named:
        layers[anchor] = layers[anchor].wired(id=anchor_ref)  # its generated id, made explicit
    layers[at:at] = copies
    return spec.with_layers(layers), at + len(copies) - 1
