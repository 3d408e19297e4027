"""The network as data: immutable, validated, versioned specs (contract).

A spec file is ``{"format": "cnn-workbench/network", "version": 1, "input": {"channels": C,
"height": H, "width": W}, "layers": [{"type": "conv2d", "filters": K, ...}, ...]}``.
Loading validates everything and reports every problem with the path of the offending value
(``layers[3].kernel: must be a positive integer, got 0``); nothing is half-read.
Structure only: whether the shapes fit together is engine.shapes' business.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from engine.fields import LAYER_TYPES, RELU_LIKE, FieldInfo, LayerType
from engine.validation import check_int, check_value, is_int, show, unknown_key

FORMAT = "cnn-workbench/network"
PROJECT_FORMAT = "cnn-workbench/project"
VERSION = 1


class SpecError(ValueError):
    """A spec that cannot be used. ``problems`` lists every problem, one line each."""

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its type and every declared field, normalised, defaults filled.

    Integer pairs are ``(h, w)`` tuples; conv padding may also be "same"/"valid"; a pool's
    stride may be None (= size).
    """

    type: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def create(cls, type: str, **fields: Any) -> LayerSpec:
        """Build a validated layer; raises SpecError naming the field."""
        return _layer_from_dict({"type": type, **fields}, f"{type}")

    @property
    def kind(self) -> LayerType:
        return LAYER_TYPES[self.type]

    def __getitem__(self, name: str) -> Any:
        for k, v in self.params:
            if k == name:
                return v
        raise KeyError(f"{self.type} has no field {name!r}")

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        """All fields, normalised (pairs as tuples)."""
        return dict(self.params)

    def replace(self, **fields: Any) -> LayerSpec:
        """A copy with some fields changed, validated (SpecError names the field)."""
        d = self.to_dict(full=True)
        d.update(fields)
        return _layer_from_dict(d, self.type)

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """JSON form. Fields equal to their default are left out unless ``full``;
        square pairs are written as one integer, others as [h, w]."""
        out: dict[str, Any] = {"type": self.type}
        for info in self.kind.fields:
            v = self[info.name]
            if not full and v == _normalised_default(info) and not info.required:
                continue
            if isinstance(v, tuple):
                v = v[0] if v[0] == v[1] else list(v)
            out[info.name] = v
        return out

    def describe(self) -> str:
        """Key hyperparameters in a few characters, as a block in the stack shows them."""
        t = self.type

        def pair(v: Any) -> str:
            if isinstance(v, tuple):
                return f"{v[0]}" if v[0] == v[1] else f"{v[0]}×{v[1]}"
            return str(v)

        if t == "conv2d":
            k = self["kernel"]
            s = f"{self['filters']}@{k[0]}×{k[1]}"
            if self["stride"] != (1, 1):
                s += f" s{pair(self['stride'])}"
            pad = self["padding"]
            if isinstance(pad, str):
                s += f" {pad}" if pad == "same" else ""
            elif pad != (0, 0):
                s += f" p{pair(pad)}"
            return s
        if t in ("max_pool2d", "avg_pool2d"):
            k = self["size"]
            s = f"{k[0]}×{k[1]}"
            if self["stride"] is not None and self["stride"] != k:
                s += f" s{pair(self['stride'])}"
            if self["padding"] != (0, 0):
                s += f" p{pair(self['padding'])}"
            return s
        if t == "dense":
            return f"{self['units']}"
        if t == "dropout":
            return f"{self['rate']:g}"
        if t == "leaky_relu":
            return f"slope {self['slope']:g}"
        return ""


def _normalised_default(info: FieldInfo) -> Any:
    d = info.default
    if info.kind in ("pair", "optional_pair", "padding") and is_int(d):
        return (d, d)
    return d


def _layer_from_dict(d: Any, path: str) -> LayerSpec:
    errors: list[str] = []
    layer = _parse_layer(d, path, errors)
    if errors or layer is None:
        raise SpecError(errors)
    return layer


def _parse_layer(d: Any, path: str, errors: list[str]) -> LayerSpec | None:
    if not isinstance(d, Mapping):
        errors.append(f'{path}: must be an object with a "type", got {show(d)}')
        return None
    t = d.get("type")
    if t is None:
        errors.append(f'{path}: missing "type" (one of {", ".join(LAYER_TYPES)})')
        return None
    if not isinstance(t, str) or t not in LAYER_TYPES:
        near = difflib.get_close_matches(str(t), list(LAYER_TYPES), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        errors.append(
            f"{path}.type: unknown layer type {show(t)} (known: {', '.join(LAYER_TYPES)}){hint}"
        )
        return None
    kind = LAYER_TYPES[t]
    n = len(errors)
    for key in d:
        if key != "type" and key not in kind.field_names:
            errors.append(unknown_key(path, str(key), kind.field_names))
    params = []
    for info in kind.fields:
        if info.name in d:
            v = check_value(f"{path}.{info.name}", d[info.name], info, errors)
        elif info.required:
            errors.append(f"{path}.{info.name}: missing (a {t} layer needs it: {info.description})")
            v = None
        else:
            v = _normalised_default(info)
        params.append((info.name, v))
    if len(errors) > n:
        return None
    return LayerSpec(t, tuple(params))


class Geometry(NamedTuple):
    """The resolved window of a conv or pool layer, as integer (h, w) pairs."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


def geometry(layer: LayerSpec) -> Geometry:
    """Kernel, stride and padding of a conv2d / max_pool2d / avg_pool2d as integer pairs.

    "same" padding is (k − 1) // 2 per axis (which keeps the size for odd kernels at stride 1);
    "valid" is 0; a pool's stride None is its size.
    """
    if layer.type == "conv2d":
        k = layer["kernel"]
        s = layer["stride"]
        p = layer["padding"]
        if p == "same":
            p = ((k[0] - 1) // 2, (k[1] - 1) // 2)
        elif p == "valid":
            p = (0, 0)
        return Geometry(k, s, p)
    if layer.type in ("max_pool2d", "avg_pool2d"):
        k = layer["size"]
        s = layer["stride"] if layer["stride"] is not None else k
        return Geometry(k, s, layer["padding"])
    raise ValueError(f"{layer.type} layers have no window")


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class InputSpec:
    channels: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


INPUT_FIELDS = {
    "channels": FieldInfo("channels", "int", 1, "channels: 1 for grayscale, 3 for RGB", 1, 4096),
    "height": FieldInfo("height", "int", 28, "height of the input image in pixels", 1, 65536),
    "width": FieldInfo("width", "int", 28, "width of the input image in pixels", 1, 65536),
}
_TOP_KEYS = ("format", "version", "name", "input", "layers")


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network: the input image shape and the layer stack. Immutable; edits return
    new specs, so undo is a matter of keeping the old one."""

    input: InputSpec
    layers: tuple[LayerSpec, ...] = ()
    name: str = field(default="")

    # ---- editing (each returns a new spec)
    def with_input(self, **changes: int) -> NetworkSpec:
        d = {"channels": self.input.channels, "height": self.input.height}
        d["width"] = self.input.width
        d.update(changes)
        errors: list[str] = []
        inp = _parse_input(d, errors)
        if errors or inp is None:
            raise SpecError(errors)
        return NetworkSpec(inp, self.layers, self.name)

    def with_layers(self, layers: Iterable[LayerSpec]) -> NetworkSpec:
        return NetworkSpec(self.input, tuple(layers), self.name)

    def with_name(self, name: str) -> NetworkSpec:
        return NetworkSpec(self.input, self.layers, name)

    def insert_layer(self, index: int, layer: LayerSpec) -> NetworkSpec:
        layers = list(self.layers)
        layers.insert(index, layer)
        return self.with_layers(layers)

    def remove_layer(self, index: int) -> NetworkSpec:
        layers = list(self.layers)
        del layers[index]
        return self.with_layers(layers)

    def replace_layer(self, index: int, layer: LayerSpec) -> NetworkSpec:
        layers = list(self.layers)
        layers[index] = layer
        return self.with_layers(layers)

    def move_layer(self, src: int, dst: int) -> NetworkSpec:
        """Move layer ``src`` so that it ends up at index ``dst``."""
        layers = list(self.layers)
        layer = layers.pop(src)
        layers.insert(dst, layer)
        return self.with_layers(layers)

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self.name:
            d["name"] = self.name
        d["input"] = {
            "channels": self.input.channels,
            "height": self.input.height,
            "width": self.input.width,
        }
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Any, source: str = "") -> NetworkSpec:
        """Validate and build; raises SpecError listing every problem (prefixed by source)."""
        errors: list[str] = []
        spec = _parse_network(d, errors)
        if errors or spec is None:
            prefix = f"{source}: " if source else ""
            raise SpecError([prefix + e for e in errors])
        return spec

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the spec as JSON, atomically."""
        from engine.io import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")


def _parse_input(d: Any, errors: list[str]) -> InputSpec | None:
    if not isinstance(d, Mapping):
        errors.append(f"input: must be an object with channels, height and width, got {show(d)}")
        return None
    n = len(errors)
    for key in d:
        if key not in INPUT_FIELDS:
            errors.append(unknown_key("input", str(key), INPUT_FIELDS))
    values = {}
    for name, info in INPUT_FIELDS.items():
        if name not in d:
            errors.append(f"input.{name}: missing ({info.description})")
            continue
        values[name] = check_int(f"input.{name}", d[name], info, errors)
    if len(errors) > n:
        return None
    return InputSpec(**values)


def _parse_network(d: Any, errors: list[str]) -> NetworkSpec | None:
    if not isinstance(d, Mapping):
        errors.append(
            f"must be a JSON object with format, version, input and layers, got {show(d)}"
        )
        return None
    fmt = d.get("format", FORMAT)
    if fmt != FORMAT:
        errors.append(f'format: expected "{FORMAT}", got {show(fmt)}')
        return None
    version = d.get("version", VERSION)
    if not is_int(version) or version < 1:
        errors.append(f"version: must be a positive integer, got {show(version)}")
        return None
    if version > VERSION:
        errors.append(
            f"version: this file is version {version}, newer than this CNN Workbench "
            f"understands (version {VERSION}); update CNN Workbench to open it"
        )
        return None
    for key in d:
        if key not in _TOP_KEYS:
            near = difflib.get_close_matches(str(key), _TOP_KEYS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            errors.append(f"{key}: unknown field (allowed: {', '.join(_TOP_KEYS)}){hint}")
    name = d.get("name", "")
    if not isinstance(name, str):
        errors.append(f"name: must be a string, got {show(name)}")
    if "input" not in d:
        errors.append('input: missing (an object like {"channels": 1, "height": 28, "width": 28})')
        inp = None
    else:
        inp = _parse_input(d["input"], errors)
    raw_layers = d.get("layers")
    layers: list[LayerSpec] = []
    if raw_layers is None:
        errors.append("layers: missing (a list of layers)")
    elif not isinstance(raw_layers, list):
        errors.append(f"layers: must be a list of layers, got {show(raw_layers)}")
    else:
        for i, raw in enumerate(raw_layers):
            layer = _parse_layer(raw, f"layers[{i}]", errors)
            if layer is not None:
                layers.append(layer)
    if errors or inp is None:
        return None
    return NetworkSpec(inp, tuple(layers), name if isinstance(name, str) else "")


def resolved_init(spec: NetworkSpec, index: int) -> str:
    """The initialiser of layer ``index``, with "auto" resolved: he when the next layer (past
    any batch norm or dropout) is a ReLU-like activation, xavier otherwise."""
    init = spec.layers[index]["init"]
    if init != "auto":
        return init
    for nxt in spec.layers[index + 1 :]:
        if nxt.type in ("batch_norm", "dropout"):
            continue
        return "he" if nxt.type in RELU_LIKE else "xavier"
    return "xavier"


# --------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    """The names of the bundled presets (resources/presets/*.json), sorted."""
    from engine.resources import resource_path

    return sorted(p.stem for p in resource_path("presets").glob("*.json"))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file through engine.safe_json (regular files only, size and depth limits,
    duplicate keys refused); any failure raises SpecError naming the file."""
    from engine.safe_json import JSONInputError, load_json_file

    try:
        return load_json_file(path)
    except JSONInputError as e:
        raise SpecError(str(e)) from None


def load_spec(source: Any) -> NetworkSpec:
    """A NetworkSpec from a preset name, a path to a spec (or project) file, or a dict.

    Raises SpecError listing every problem, each with the path of the offending value.
    """
    if isinstance(source, NetworkSpec):
        return source
    if isinstance(source, Mapping):
        return NetworkSpec.from_dict(source)
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if not p.exists() and isinstance(source, str) and os.sep not in source:
            names = preset_names()
            if source in names:
                from engine.resources import resource_path

                return NetworkSpec.from_dict(read_json(resource_path("presets", f"{source}.json")))
            if not source.endswith(".json"):
                near = difflib.get_close_matches(source, names, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise SpecError(
                    f"{source}: no such file or preset (presets: {', '.join(names)}){hint}"
                )
        data = read_json(p)
        if isinstance(data, Mapping) and data.get("format") == PROJECT_FORMAT:
            data = data.get("network")
        return NetworkSpec.from_dict(data, source=str(p))
    raise SpecError(
        f"cannot load a spec from {type(source).__name__}; give a preset name, path or dict"
    )
