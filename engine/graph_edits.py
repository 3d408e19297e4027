"""Edits of a network's wiring that the designer makes in one gesture: pure functions from a
spec to a new spec, each raising :class:`GraphEditError` (with a sentence a person can read)
when the gesture does not apply.

- :func:`add_residual`: wrap consecutive layers in a shortcut that ends in an ``add``, with
  the projection shortcut of the ResNet paper (1×1 convolution with the stride and filters
  that bring the shortcut to the block's output, and batch norm when the block has it) when
  the block changes the shape;
- :func:`connect`: a new connection from one layer's output into a later layer, met there by
  an ``add`` or a ``concat``;
- :func:`remove_connection`: the opposite; a merge left with one input goes away;
- :func:`insert_on_edge`: put a layer on one connection (a palette drop on an edge);
- :func:`move_to_edge`: lift a layer out of its place and put it on another connection (a
  block dragged on the canvas and dropped on an arrow).

Positions are indices into ``spec.layers``; -1 is the network input. Every function keeps
every other connection: ids are made explicit (``NetworkSpec._anchored``) wherever positions
shift under a layer that refers to another.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.graph import INPUT
from engine.spec import LayerSpec, NetworkSpec

__all__ = [
    "GraphEditError",
    "add_residual",
    "connect",
    "insert_on_edge",
    "move_to_edge",
    "remove_connection",
]

MERGES = ("add", "concat")


class GraphEditError(ValueError):
    """A gesture that does not apply here; the message says why."""


def _ref(spec: NetworkSpec, layers: list[LayerSpec], position: int) -> str:
    """The id by which a layer refers to the output of ``position`` (made explicit)."""
    if position < 0:
        return INPUT
    if layers[position].id is None:
        layers[position] = layers[position].wired(id=spec.wiring.ids[position])
    return layers[position].id


def _refs_of(spec: NetworkSpec, layers: list[LayerSpec], position: int) -> list[str]:
    """The ids layer ``position`` takes, explicit (its ``inputs``, or the entry before)."""
    return [_ref(spec, layers, j) for j in spec.inputs_of(position)]


def _name(position: int, spec: NetworkSpec) -> str:
    return "the input" if position < 0 else f"{spec.layers[position].type} #{position + 1}"


# --------------------------------------------------------------------------- residual


def add_residual(spec: NetworkSpec, indices: Iterable[int]) -> tuple[NetworkSpec, int]:
    """Wrap layers ``indices`` (consecutive positions) in a shortcut: an ``add`` after the
    last of them takes its output and the block's input. When the block changes the shape
    (C×H×W → K×H'×W'), the shortcut is a 1×1 convolution with K filters and stride
    ⌈H/H'⌉ (no bias, and batch norm after it, when the block has batch norm); where no 1×1
    lands on H' (valid convolutions, exact rounding) its kernel grows until it does.

    Returns the new spec and the position of the ``add``. GraphEditError when the layers are
    not consecutive, when the block takes more than one outside input, or when a shortcut
    cannot be made (flat tensors of different sizes, or shapes not yet known).
    """
    from engine.shapes import infer_shapes  # shapes imports much; only this edit needs it

    chosen = sorted(set(indices))
    if not chosen:
        raise GraphEditError("select the layers the shortcut should go around")
    first, last = chosen[0], chosen[-1]
    if chosen != list(range(first, last + 1)) or first < 0 or last >= len(spec.layers):
        raise GraphEditError("a residual connection goes around consecutive layers")
    outside = {j for i in chosen for j in spec.inputs_of(i) if not first <= j <= last}
    if len(outside) != 1:
        raise GraphEditError(
            "a residual connection needs a block with one input; these layers take "
            + (", ".join(_name(j, spec) for j in sorted(outside)) or "nothing")
        )
    source = outside.pop()
    report = infer_shapes(spec)
    x = spec.input.shape if source < 0 else report[source].output_shape
    y = report[last].output_shape
    if x is None or y is None:
        raise GraphEditError("the shapes around the block are not known yet; fix its problems")
    x, y = tuple(x), tuple(y)

    layers = spec._anchored()
    source_ref = _ref(spec, layers, source)
    last_ref = _ref(spec, layers, last)
    new: list[LayerSpec] = []
    shortcut_ref = source_ref
    if x != y:
        if len(x) != 3 or len(y) != 3:
            raise GraphEditError(
                f"the block turns {_shape(x)} into {_shape(y)}: a shortcut cannot be "
                "projected between flat tensors; select convolutional layers"
            )
        (kh, sh), (kw, sw) = (_window(x[a], y[a], spec.floor_rounding) for a in (1, 2))
        with_bn = any(spec.layers[i].type == "batch_norm" for i in chosen)
        conv_id = spec.unique_id("shortcut")
        new.append(
            LayerSpec.create(
                "conv2d", id=conv_id, inputs=[source_ref], filters=y[0], kernel=_pair(kh, kw),
                stride=_pair(sh, sw), bias=not with_bn,
            )
        )  # fmt: skip
        shortcut_ref = conv_id
        if with_bn:
            shortcut_ref = conv_id + "_bn"
            new.append(LayerSpec.create("batch_norm", id=shortcut_ref, inputs=[conv_id]))
    add_id = spec.unique_id("residual")
    taken = {layer.id for layer in new}
    while add_id in taken:
        add_id += "_"
    new.append(LayerSpec.create("add", id=add_id, inputs=[last_ref, shortcut_ref]))

    # Whatever took the block's output takes the sum instead.
    for i in spec.wiring.consumers[last]:
        refs = layers[i].inputs
        if refs is not None:
            layers[i] = layers[i].wired(inputs=[add_id if r == last_ref else r for r in refs])
        # a consumer without ``inputs`` is last + 1: it takes the add, the entry before it now
    at = last + 1
    layers[at:at] = new
    return spec.with_layers(layers), at + len(new) - 1


def _window(n: int, out: int, floor: bool) -> tuple[int, int]:
    """(kernel, stride) of the shortcut's convolution along one axis, from ``n`` to ``out``:
    1×1 with stride ⌈n/out⌉ (the ResNet paper's) where that lands on ``out`` under the
    network's rounding; else the stride ⌊n/out⌋ with the kernel that makes the size exact
    (a 5×5 valid convolution takes 14 to 10: no 1×1 can, so the shortcut is 5×5 too)."""
    if out >= n:
        return 1, 1
    s = max(1, math.ceil(n / out))
    if ((n - 1) // s + 1 == out) and (floor or (n - 1) % s == 0):
        return 1, s
    s = max(1, n // out)
    while s > 1 and n - (out - 1) * s < 1:
        s -= 1
    return max(1, n - (out - 1) * s), s


def _pair(a: int, b: int):
    return a if a == b else [a, b]


def _shape(shape) -> str:
    return "×".join(str(int(d)) for d in shape)


# --------------------------------------------------------------------------- connections


def connect(spec: NetworkSpec, src: int, dst: int, merge: str = "add") -> tuple[NetworkSpec, int]:
    """A new connection from the output of ``src`` (-1: the input) into layer ``dst``: the
    two meet in a new ``merge`` ("add" or "concat") placed just before ``dst``, or, when
    ``dst`` is already a merge of that kind, ``src`` becomes one more of its inputs.

    Returns the new spec and the position of the merge. GraphEditError when ``src`` is not
    before ``dst`` (the list stays a valid order) or already feeds it.
    """
    if merge not in MERGES:
        raise GraphEditError(f"outputs meet in an add or a concat, not {merge!r}")
    if not 0 <= dst < len(spec.layers) or not -1 <= src < dst:
        raise GraphEditError("a connection goes from a layer to a later layer")
    sources = spec.inputs_of(dst)
    if src in sources:
        raise GraphEditError(f"{_name(src, spec)} feeds {_name(dst, spec)} already")
    layers = spec._anchored()
    src_ref = _ref(spec, layers, src)
    target = layers[dst]
    if target.type == merge:
        layers[dst] = target.wired(inputs=[*_refs_of(spec, layers, dst), src_ref])
        return spec.with_layers(layers), dst
    if len(sources) != 1:
        raise GraphEditError(
            f"{_name(dst, spec)} merges several inputs already; connect to the merge's input"
        )
    merge_id = spec.unique_id(merge)
    joined = LayerSpec.create(merge, id=merge_id, inputs=[*_refs_of(spec, layers, dst), src_ref])
    layers[dst] = layers[dst].wired(inputs=[merge_id])
    layers.insert(dst, joined)
    return spec.with_layers(layers), dst


def remove_connection(spec: NetworkSpec, src: int, dst: int) -> NetworkSpec:
    """Remove the connection from ``src`` into ``dst``. A merge left with one input goes
    away (what took it takes that input). GraphEditError when ``dst`` would have no input."""
    if not 0 <= dst < len(spec.layers) or src not in spec.inputs_of(dst):
        raise GraphEditError("there is no such connection")
    sources = spec.inputs_of(dst)
    if len(sources) == 1:
        raise GraphEditError(
            f"{_name(dst, spec)} takes only {_name(src, spec)}: delete a layer instead"
        )
    layers = spec._anchored()
    gone = _ref(spec, layers, src)
    kept = [r for r in _refs_of(spec, layers, dst) if r != gone]
    layers[dst] = layers[dst].wired(inputs=kept)
    out = spec.with_layers(layers)
    if len(kept) == 1 and layers[dst].type in MERGES:
        out = out.remove_layer(dst)
    return out


def insert_on_edge(spec: NetworkSpec, src: int, dst: int, layer: LayerSpec,
                   keep_id: bool = False) -> NetworkSpec:  # fmt: skip
    """Put ``layer`` (its own wiring ignored) on the connection from ``src`` into ``dst``:
    it takes ``src``'s output and ``dst`` takes its output instead, at that input only.
    ``keep_id``: the layer keeps its own id (a moved layer); else it gets a new one (a pasted
    copy must not bring its id along)."""
    if not 0 <= dst < len(spec.layers) or src not in spec.inputs_of(dst):
        raise GraphEditError("there is no such connection")
    own_id = layer.id if keep_id else None
    layer = layer.without_wiring().wired(id=own_id)
    if spec.inputs_of(dst) == (dst - 1,) and src == dst - 1:
        return spec.insert_layer(dst, layer)  # a chain stays a chain
    layers = spec._anchored()
    src_ref = _ref(spec, layers, src)
    refs = _refs_of(spec, layers, dst)
    new_id = own_id or spec.unique_id(layer.kind.short or layer.type)
    layers[dst] = layers[dst].wired(inputs=[new_id if r == src_ref else r for r in refs])
    layers.insert(dst, layer.wired(id=new_id, inputs=[src_ref]))
    return spec.with_layers(layers)


def merge_move_refusal(spec: NetworkSpec, index: int, name: str | None = None) -> str:
    """Why layer ``index`` cannot be moved on its own ("" when it can): it joins several
    inputs, and put on one connection it would take that one only. ``name``: how to call it
    (default "add #9")."""
    joined = len(spec.inputs_of(index))
    if joined < 2:
        return ""
    return (f"{name or _name(index, spec)} joins {joined} inputs: it cannot be moved alone; "
            "move the layers of its branches instead")  # fmt: skip


def move_to_edge(spec: NetworkSpec, index: int, src: int, dst: int) -> tuple[NetworkSpec, int]:
    """Move layer ``index`` onto the connection from ``src`` (-1: the input) into ``dst``:
    lifted out of its place (what took its output takes what it took) and put on that
    connection, keeping its id and fields. On a chain this is ``spec.move_layer``.

    Returns the new spec and the layer's new position. GraphEditError when the connection
    does not exist, touches the layer itself (it is there already), or the layer merges
    several inputs (a merge belongs to its branches: move them instead).
    """
    n = len(spec.layers)
    if not 0 <= index < n:
        raise GraphEditError(f"there is no layer #{index + 1}")
    if not 0 <= dst < n or src not in spec.inputs_of(dst):
        raise GraphEditError("there is no such connection")
    if index in (src, dst):
        raise GraphEditError(f"{_name(index, spec)} is on that connection already")
    refusal = merge_move_refusal(spec, index)
    if refusal:
        raise GraphEditError(refusal)
    layer = spec.layers[index]
    lifted = spec.remove_layer(index)
    src2 = src - (src > index)
    dst2 = dst - (dst > index)
    kept = layer.wired(id=spec.wiring.ids[index] if layer.id is not None else None)
    return insert_on_edge(lifted, src2, dst2, kept, keep_id=True), dst2
