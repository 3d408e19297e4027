"""Transfer learning: start from a trained network, freeze its early layers, swap its head.

    spec = freeze_up_to(spec, "conv2d_3")          # layers 0..3 get "trainable": false
    spec = replace_head(spec, 3)                   # the final dense layer: 3 units, trained
    weights, notes = initial_weights("runs/run-1", spec)
    net = engine.build(spec, seed)
    state = net.state_dict(); state.update(weights); net.load_state_dict(state)

A frozen layer's parameters get no gradient and are not updated; a frozen batch norm
normalises with its running statistics in training too (engine.network). Layers are named
as engine.graph names them: their ``id``, or the generated ``"{type}_{position}"``
("conv2d_3"); a bare position ("3", the prefix of the layer's parameter names) is accepted
too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engine.spec import NetworkSpec

__all__ = ["TransferError", "freeze_up_to", "initial_weights", "replace_head"]

#: Suffixes of PyTorch weights files (engine.interop.torch_weights reads them).
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


class TransferError(ValueError):
    """A layer id, class count or weights source that cannot be used; the message names it
    (the id with the valid ones, the file with why)."""


def _position(spec: NetworkSpec, layer_id: str) -> int:
    ids = spec.wiring.ids
    if layer_id in ids:
        return ids.index(layer_id)
    text = str(layer_id).strip()
    if text.isdigit() and int(text) < len(ids):
        return int(text)
    shown = ", ".join(ids) if ids else "none: the network has no layers"
    raise TransferError(
        f"no layer {layer_id!r} to freeze up to; the layers are {shown} "
        f"(or a position 0..{len(ids) - 1})"
    )


def freeze_up_to(spec: NetworkSpec, layer_id: str) -> NetworkSpec:
    """``spec`` with every layer up to and including ``layer_id`` (in list order) frozen
    (``trainable`` False) and every later one trainable. ``layer_id``: an id as
    ``spec.wiring.ids`` gives it, or a position. Raises TransferError naming an unknown id and
    listing the valid ones."""
    last = _position(spec, layer_id)
    return spec.with_layers(layer.with_trainable(i > last) for i, layer in enumerate(spec.layers))


def replace_head(spec: NetworkSpec, num_classes: int) -> NetworkSpec:
    """``spec`` with its final dense layer set to ``num_classes`` units (engine.head's
    adapt_head) and trainable; every other layer as it was. Raises TransferError for a class
    count below 1 or a network that does not end in a dense layer."""
    from engine.head import adapt_head, final_dense

    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int | np.integer)
        or (num_classes < 1)
    ):
        raise TransferError(f"num_classes must be a positive integer, got {num_classes!r}")
    index = final_dense(spec)
    if index is None:
        last = spec.layers[-1].type if spec.layers else "nothing"
        raise TransferError(
            f"the network ends in {last}, not a dense layer: there is no head to replace "
            "(end it with flatten and a dense layer with one unit per class)"
        )
    adapted, _ = adapt_head(spec, int(num_classes))
    layers = list(adapted.layers)
    layers[index] = layers[index].with_trainable(True)
    return adapted.with_layers(layers)


def _read_source(source) -> tuple[str, dict[str, np.ndarray]]:
    """(what to call it in messages, its tensors by name)."""
    if isinstance(source, Mapping):
        return "the given weights", {str(k): np.asarray(v) for k, v in source.items()}
    path = Path(os.fspath(source))
    if path.suffix.lower() in WEIGHTS_SUFFIXES:
        from engine.interop.torch_weights import WeightsError, read_weights

        try:
            return str(path), read_weights(path)
        except WeightsError as e:
            raise TransferError(str(e)) from None
    from engine.checkpoint import CheckpointError, load_checkpoint

    try:
        return str(path), dict(load_checkpoint(path).weights)
    except CheckpointError as e:
        hint = (
            ""
            if path.is_dir() or path.name.endswith(".json")
            else (f" (a weights file must end in {', '.join(WEIGHTS_SUFFIXES)})")
        )
        if path.suffix.lower() == ".onnx":  # a model, not weights: import makes it a folder
            hint = f" (an ONNX model: cnn-workbench import {path} --out DIR, then use DIR)"
        raise TransferError(f"{e}{hint}") from None


def _by_order(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> dict[str, str]:
    """Our name -> the file's name, for a file with names of its own (a PyTorch model's
    "features.0.weight"): each of our layers takes the next module of the file, in its order,
    whose tensors have the same names (engine.interop.torch_weights' grouping)."""
    from engine.interop.torch_weights import _groups

    mine, available = _groups(ours), list(_groups(theirs).items())
    names: dict[str, str] = {}
    start = 0
    for position, group in mine.items():
        for k in range(start, len(available)):
            module, tensors = available[k]
            if set(tensors) == set(group):
                names.update({f"{position}.{leaf}": f"{module}.{leaf}" for leaf in group})
                start = k + 1
                break
    return names


def initial_weights(source, spec: NetworkSpec) -> tuple[dict[str, np.ndarray], list[str]]:
    """The tensors of ``source`` that fit ``spec``, and one note per tensor left out.

    ``source``: a run folder, its ``checkpoint/`` folder or ``checkpoint.json`` (an imported
    model's run folder too: engine.checkpoint), a ``.safetensors`` / ``torch.save`` zip
    (``.pt``, ``.pth``, ``.bin``) weights file (engine.interop.torch_weights, never
    unpickled beyond tensors), or a mapping of arrays. Tensors are matched by our names
    ("3.weight", parameters and batch norm statistics); a file with other names (a PyTorch
    model's own) is matched module by module in order. Returns float32 (contiguous) arrays
    under our names, each with the shape ``engine.build(spec)`` gives it, and notes such as
    ``"6.weight: (10, 84) in the source, (3, 84) here: left at its initial value"``. Raises
    TransferError naming the source when it cannot be read or when no tensor fits.
    """
    import engine

    name, theirs = _read_source(source)
    ours = engine.build(spec, seed=0).state_dict()
    theirs = {k: v for k, v in theirs.items() if not k.endswith(".num_batches_tracked")}
    if any(k in theirs for k in ours):
        source_name = {k: k for k in ours if k in theirs}
    else:
        source_name = _by_order(ours, theirs)
    weights: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for key, target in ours.items():
        other = source_name.get(key)
        if other is None:
            notes.append(f"{key}: not in the source: left at its initial value")
            continue
        value = theirs[other]
        shape = tuple(value.shape)
        if shape != target.shape:
            where = "" if other == key else f" (as {other})"
            notes.append(f"{key}: {shape} in the source{where}, {tuple(target.shape)} here: "
                         "left at its initial value")  # fmt: skip
            continue
        weights[key] = np.ascontiguousarray(value, dtype=np.float32).copy()
    used = set(source_name.values())
    extra = [k for k in theirs if k not in used]
    if extra:
        shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
        notes.append(f"the source has {len(extra)} tensors this network has no place for: "
                     f"{shown}")  # fmt: skip
    if not weights:
        raise TransferError(
            f"{name}: none of its {len(theirs)} tensors fits this network ({'; '.join(notes[:3])})"
        )
    return weights, notes
