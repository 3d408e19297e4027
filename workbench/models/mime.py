"""The drag-and-drop and clipboard formats of layers.

A palette entry carries its layer type name. Blocks of the stack carry their layers as spec
dicts (so they can be pasted into another window or a text editor) plus, for a move inside
the same document, their indices and the document's token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtCore import QMimeData

from engine.layers import LAYER_TYPES
from engine.safe_json import loads
from engine.spec import LayerSpec, SpecError

LAYER_TYPE_MIME = "application/x-cnn-workbench-layer-type"
LAYERS_MIME = "application/x-cnn-workbench-layers"


def new_layer(layer_type: str) -> LayerSpec:
    """A new block of ``layer_type``, as the palette makes it: the fields a spec file must
    name (a convolution's filters and kernel, a dense layer's units, a pool's size) at the
    catalogue's defaults. (LayerSpec.create alone refused them: Convolution, Max pool and
    Fully connected could not be dragged from the palette, and Enter on them raised.)"""
    kind = LAYER_TYPES[layer_type]
    return LayerSpec.create(
        layer_type, **{f.name: f.default for f in kind.fields if f.required}
    )


def layer_type_mime(layer_type: str) -> QMimeData:
    """What the palette drags: one layer type name."""
    data = QMimeData()
    data.setData(LAYER_TYPE_MIME, layer_type.encode("utf-8"))
    data.setText(layer_type)
    return data


def layers_mime(
    layers: list[LayerSpec], indices: list[int] | None = None, token: str = "",
    entry: str | None = None,
) -> QMimeData:
    """What the stack drags and copies: the layers (and where they came from; ``entry``:
    the id of what the first of them took, which a paste replaces with what it goes after,
    workbench.layer_edits)."""
    dicts = [layer.to_dict() for layer in layers]
    payload = {"layers": dicts, "indices": indices or [], "token": token}
    if entry is not None:
        payload["entry"] = entry
    data = QMimeData()
    data.setData(LAYERS_MIME, json.dumps(payload).encode("utf-8"))
    data.setText(json.dumps(dicts if len(dicts) != 1 else dicts[0], indent=2))
    return data


@dataclass(frozen=True)
class Dropped:
    """Decoded drop or paste: new layers to insert, or (a move) indices of this document."""

    layers: tuple[LayerSpec, ...]
    indices: tuple[int, ...] = ()
    token: str = ""
    entry: str | None = None


def decode(data: QMimeData | None) -> Dropped | None:
    """The layers a mime payload carries, or None if it carries none that are valid (or
    there is no payload: an empty clipboard's mimeData() is None on some platforms)."""
    if data is None:
        return None
    try:
        if data.hasFormat(LAYER_TYPE_MIME):
            name = bytes(data.data(LAYER_TYPE_MIME).data()).decode("utf-8")
            if name not in LAYER_TYPES:
                return None
            return Dropped((new_layer(name),))
        if data.hasFormat(LAYERS_MIME):
            payload = loads(bytes(data.data(LAYERS_MIME).data()))
            layers = tuple(_layer(d) for d in payload["layers"])
            indices = tuple(int(i) for i in payload.get("indices", ()))
            entry = payload.get("entry")
            entry = entry if isinstance(entry, str) else None
            return Dropped(layers, indices, str(payload.get("token", "")), entry)
        if data.hasText():  # a layer or a list of layers as JSON text, e.g. from an editor
            # Any text on the clipboard or dropped from an editor: engine.safe_json's depth
            # and size limits (json.loads of "[[[[..." raised RecursionError out of Paste).
            parsed = loads(data.text())
            items = parsed if isinstance(parsed, list) else [parsed]
            return Dropped(tuple(_layer(d) for d in items)) if items else None
    except (SpecError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return None


def _layer(d: object) -> LayerSpec:
    if not isinstance(d, dict) or "type" not in d:
        raise SpecError("not a layer")
    fields = {k: v for k, v in d.items() if k != "type"}
    return LayerSpec.create(d["type"], **fields)
