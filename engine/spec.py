"""The network as data: immutable, validated, versioned specs (contract).

A spec file is ``{"format": "cnn-workbench/network", "version": 1, "input": {"channels": C,
"height": H, "width": W}, "layers": [{"type": "conv2d", "filters": K, ...}, ...]}``.
Version 2 adds graphs: a layer may carry ``"id"`` and ``"inputs"`` (engine.graph), and the top
level an optional ``"rounding": "exact" | "floor"``. A chain saves as the version 1 document
it was; a network with branches (or floor rounding) as version 2.
Loading validates everything and reports every problem with the path of the offending value
(``layers[3].kernel: must be a positive integer, got 0``); nothing is half-read.
Structure only: whether the shapes fit together is engine.shapes' business.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.fields import FieldInfo
from engine.graph import INPUT, Wiring, wiring
from engine.layers import LAYER_TYPES
from engine.layers.definition import Geometry, LayerDef
from engine.validation import check_int, check_text, check_value, is_int, show, unknown_key

FORMAT = "cnn-workbench/network"
PROJECT_FORMAT = "cnn-workbench/project"
#: Version of the project document (engine.spec.VERSION is the network document's).
PROJECT_VERSION = 1
#: The newest version this code reads; chains are still written as version 1.
VERSION = 2
CHAIN_VERSION = 1
ROUNDINGS = ("exact", "floor")


#: "Leave it as it is" for optional arguments where None means something.
KEEP: Any = object()


#: Most problems a SpecError lists; past it one line counts the rest (a hostile file with a
#: bad field on each of 100,000 layers would otherwise print 30 MB).
MAX_PROBLEMS = 100


class SpecError(ValueError):
    """A spec that cannot be used. ``problems`` lists every problem, one line each (at most
    MAX_PROBLEMS of them, then one line saying how many more there are)."""

    def __init__(self, problems: str | Iterable[str], prefix: str = ""):
        """``prefix`` (the file, say "net.json: ") starts every line."""
        found = [problems] if isinstance(problems, str) else list(problems)
        if len(found) > MAX_PROBLEMS:
            rest = len(found) - MAX_PROBLEMS
            found = [*found[:MAX_PROBLEMS], f"... and {rest} more problems"]
        self.problems = [prefix + line for line in found]
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
    #: Its unique name in a graph (None: answers to a generated one, engine.graph).
    id: str | None = None
    #: Ids of the layers it takes ("input" for the network input); None: the entry before it.
    inputs: tuple[str, ...] | None = None
    #: Fields its document wrote out although they hold their default: written again, so a
    #: file loads and saves byte for byte. Not part of what the layer is (not compared).
    written: frozenset[str] = field(default=frozenset(), compare=False)
    #: False: a frozen layer (transfer learning). Its parameters get no gradient and are not
    #: updated, and a batch norm uses its running statistics in training too (engine.network).
    #: Written to JSON only when False.
    trainable: bool = True

    @classmethod
    def create(cls, type: str, **fields: Any) -> LayerSpec:
        """Build a validated layer; raises SpecError naming the field. ``id`` and ``inputs``
        may be given as fields too."""
        return _layer_from_dict({"type": type, **fields}, f"{type}")

    @property
    def kind(self) -> LayerDef:
        """Its layer type's definition, from the catalogue (engine.layers)."""
        return LAYER_TYPES[self.type]

    def wired(self, id: Any = KEEP, inputs: Any = KEEP) -> LayerSpec:
        """A copy with another ``id`` and/or ``inputs`` (a list of ids; ``None`` clears either:
        the layer then answers to a generated id / takes the entry before it)."""
        new_id = self.id if id is KEEP else id
        new_inputs = self.inputs if inputs is KEEP else (None if inputs is None else tuple(inputs))
        return LayerSpec(self.type, self.params, new_id, new_inputs, self.written, self.trainable)

    def with_trainable(self, trainable: bool) -> LayerSpec:
        """A copy that is frozen (``False``) or trained (``True``), all else kept."""
        return LayerSpec(
            self.type, self.params, self.id, self.inputs, self.written, bool(trainable)
        )

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
        new = _layer_from_dict(d, self.type)
        return LayerSpec(new.type, new.params, new.id, new.inputs, self.written, new.trainable)

    def without_wiring(self) -> LayerSpec:
        return LayerSpec(self.type, self.params, written=self.written, trainable=self.trainable)

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """JSON form. Fields equal to their default are left out unless ``full``;
        square pairs are written as one integer, others as [h, w]."""
        out: dict[str, Any] = {"type": self.type}
        if self.id is not None:
            out["id"] = self.id
        if self.inputs is not None:
            out["inputs"] = list(self.inputs)
        for info in self.kind.fields:
            v = self[info.name]
            if (
                not full
                and v == _normalised_default(info)
                and not info.required
                and info.name not in self.written
            ):
                continue
            if isinstance(v, tuple):
                v = v[0] if v[0] == v[1] else list(v)
            out[info.name] = v
        if not self.trainable:
            out["trainable"] = False
        return out

    def describe(self) -> str:
        """Key hyperparameters in a few characters, as a block in the stack shows them."""
        return self.kind.describe(self)


@functools.lru_cache(maxsize=4096)
def _cached_field_problems(layer: LayerSpec) -> tuple[str, ...]:
    return _field_problems(layer)


def field_problems(layer: LayerSpec) -> tuple[str, ...]:
    """What is wrong with the fields of ``layer`` (each line starting with its type), for a
    layer built without :meth:`LayerSpec.create`'s checks (``LayerSpec("conv2d", ...)`` with
    a stride of "x"): shape inference reports these instead of computing with them.
    Remembered per layer, as inference asks about the same layers on every fix it checks."""
    try:
        return _cached_field_problems(layer)
    except TypeError:  # a field value that cannot be hashed (a list): checked every time
        return _field_problems(layer)


def _field_problems(layer: LayerSpec) -> tuple[str, ...]:
    kind = LAYER_TYPES.get(layer.type) if isinstance(layer.type, str) else None
    if kind is None:
        return (f"{layer.type!r} is not a layer type (known: {', '.join(LAYER_TYPES)})",)
    errors: list[str] = []
    d: dict[str, Any] = {"type": layer.type}
    params = layer.params if isinstance(layer.params, tuple) else ()
    for item in params:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            return (f"{layer.type}: its fields must be (name, value) pairs, got {item!r}",)
        name, v = item
        d[name] = list(v) if isinstance(v, tuple) else v
    _parse_layer(d, layer.type, errors)
    return tuple(errors)


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
        if key not in _WIRING_KEYS and key not in kind.field_names:
            errors.append(unknown_key(path, str(key), kind.field_names))
    layer_id, inputs = _parse_wiring(d, path, errors)
    trainable = d.get("trainable", True)
    if not isinstance(trainable, bool):
        errors.append(f"{path}.trainable: must be true or false (false freezes the layer's "
                      f"parameters), got {show(trainable)}")  # fmt: skip
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
    written = frozenset(info.name for info in kind.fields if info.name in d)
    return LayerSpec(t, tuple(params), layer_id, inputs, written, trainable)


_WIRING_KEYS = ("type", "id", "inputs", "trainable")
MAX_ID = 100


def _parse_wiring(d: Mapping, path: str, errors: list[str]):
    layer_id = d.get("id")
    if layer_id is not None and (
        not isinstance(layer_id, str) or not layer_id.strip() or len(layer_id) > MAX_ID
    ):
        errors.append(f"{path}.id: must be a non-empty name of at most {MAX_ID} characters, "
                      f"got {show(layer_id)}")  # fmt: skip
        layer_id = None
    elif layer_id is not None and not check_text(f"{path}.id", layer_id, errors):
        layer_id = None
    inputs = d.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, list) or not inputs:
            got = "an empty list, which takes nothing" if inputs == [] else show(inputs)
            errors.append(f'{path}.inputs: must be a list of layer ids (or "{INPUT}"), '
                          f'got {got}; leave "inputs" out to take the layer before it')  # fmt: skip
            inputs = None
        else:
            bad = [k for k, ref in enumerate(inputs) if not isinstance(ref, str)]
            for k in bad:
                errors.append(f"{path}.inputs[{k}]: must be a layer id, got {show(inputs[k])}")
            bad += [k for k, ref in enumerate(inputs) if isinstance(ref, str)
                    and not check_text(f"{path}.inputs[{k}]", ref, errors)]  # fmt: skip
            inputs = None if bad else tuple(inputs)
    return layer_id, inputs


def geometry(layer: LayerSpec) -> Geometry:
    """Kernel, stride and padding of a sliding-window layer (conv and pools) as integer pairs,
    from its definition; ValueError for a layer type without a window."""
    g = layer.kind.window(layer)
    if g is None:
        raise ValueError(f"{layer.type} layers have no window")
    return g


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
_TOP_KEYS = ("format", "version", "name", "description", "input", "rounding", "layers")


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network: the input image shape and the layers, in an order where every layer
    comes after the layers it takes (engine.graph). Immutable; edits return new specs, so
    undo is a matter of keeping the old one.

    ``rounding``: None or "exact" (the tutorials' rule: a fractional output size is a
    problem) or "floor" (PyTorch's and Keras': rounded down, with a note).
    """

    input: InputSpec
    layers: tuple[LayerSpec, ...] = ()
    name: str = field(default="")
    rounding: str | None = None
    #: What the network is, in a sentence or two (presets state their parameter count here).
    description: str = ""

    # ---- the graph
    @property
    def wiring(self) -> Wiring:
        """Ids, input positions (-1: the network input), consumers and wiring problems."""
        cached = self.__dict__.get("_wiring")
        if cached is None or cached[0] is not self.layers:
            cached = (self.layers, wiring(self.layers, _arity))
            object.__setattr__(self, "_wiring", cached)
        return cached[1]

    def inputs_of(self, index: int) -> tuple[int, ...]:
        """Positions of the layers whose outputs layer ``index`` takes (-1: the input)."""
        return self.wiring.inputs[index]

    @property
    def is_chain(self) -> bool:
        return self.wiring.is_chain

    @property
    def floor_rounding(self) -> bool:
        return self.rounding == "floor"

    def _replace(self, **changes: Any) -> NetworkSpec:
        d = {"input": self.input, "layers": self.layers, "name": self.name}
        d["rounding"], d["description"] = self.rounding, self.description
        d.update(changes)
        return NetworkSpec(**d)

    def _anchored(self) -> list[LayerSpec]:
        """The layers, with a generated id made explicit wherever a layer refers to it, so
        that edits which shift positions keep every connection."""
        w = self.wiring
        referenced = {j for i, layer in enumerate(self.layers) if layer.inputs is not None
                      for j in w.inputs[i] if j >= 0}  # fmt: skip
        return [
            layer.wired(id=w.ids[i]) if i in referenced and layer.id is None else layer
            for i, layer in enumerate(self.layers)
        ]

    def unique_id(self, stem: str) -> str:
        """An id no layer has yet: ``stem``, else stem_2, stem_3, ..."""
        taken = set(self.wiring.ids)
        if stem not in taken:
            return stem
        n = 2
        while f"{stem}_{n}" in taken:
            n += 1
        return f"{stem}_{n}"

    def _ref(self, layers: list[LayerSpec], position: int) -> str:
        return INPUT if position < 0 else (layers[position].id or "")

    # ---- editing (each returns a new spec)
    def with_input(self, **changes: int) -> NetworkSpec:
        d = {"channels": self.input.channels, "height": self.input.height}
        d["width"] = self.input.width
        d.update(changes)
        errors: list[str] = []
        inp = _parse_input(d, errors)
        if errors or inp is None:
            raise SpecError(errors)
        return self._replace(input=inp)

    def with_layers(self, layers: Iterable[LayerSpec]) -> NetworkSpec:
        return self._replace(layers=tuple(layers))

    def with_name(self, name: str) -> NetworkSpec:
        return self._replace(name=name)

    def with_rounding(self, rounding: str | None) -> NetworkSpec:
        if rounding not in (None, *ROUNDINGS):
            raise SpecError(
                f"rounding: must be one of {', '.join(ROUNDINGS)}, got {show(rounding)}"
            )
        return self._replace(rounding=rounding)

    def insert_layer(self, index: int, layer: LayerSpec) -> NetworkSpec:
        """Insert ``layer`` at ``index``, on the connection from the entry before into the
        layer that was there (its first input when it does not take the entry before): a
        layer without ``inputs`` takes that connection's source, and the layer that was there
        takes the new one instead."""
        layers = self._anchored()
        if layer.inputs is None and index < len(layers) and layers[index].inputs is not None:
            old = layers[index]
            refs = list(old.inputs)
            previous = layers[index - 1].id if index > 0 else INPUT
            source = previous if previous in refs else refs[0]
            new_id = layer.id or self.unique_id(layer.kind.short or layer.type)
            layer = layer.wired(id=new_id, inputs=None if source == previous else [source])
            layers[index] = old.wired(inputs=[new_id if r == source else r for r in refs])
        layers.insert(index, layer)
        return self.with_layers(layers)

    def remove_layer(self, index: int) -> NetworkSpec:
        """Remove a layer; whatever took its output takes what it took instead."""
        layers = self._anchored()
        w = self.wiring
        gone = layers[index]
        after = index + 1
        named = gone.id is not None and any(
            layers[i].inputs is not None for i in w.consumers[index]
        )
        rewire_next = (
            after < len(layers) and layers[after].inputs is None and w.inputs[index] != (index - 1,)
        )
        if named or rewire_next:
            for j in w.inputs[index]:
                if j >= 0 and layers[j].id is None:  # its consumers will name it from now on
                    layers[j] = layers[j].wired(id=w.ids[j])
        sources = [self._ref(layers, j) for j in w.inputs[index]]
        if gone.id is not None:
            for i in w.consumers[index]:
                refs = layers[i].inputs
                if refs is not None:
                    new: list[str] = []
                    for ref in refs:
                        for r in [*sources] if ref == gone.id else [ref]:
                            if r not in new:
                                new.append(r)
                    layers[i] = layers[i].wired(inputs=new)
        if rewire_next:
            layers[after] = layers[after].wired(inputs=sources)
        del layers[index]
        return self.with_layers(layers)

    def replace_layer(self, index: int, layer: LayerSpec) -> NetworkSpec:
        """Put ``layer`` in place of layer ``index``; without wiring of its own it keeps the
        old layer's id and inputs."""
        layers = list(self.layers)
        old = layers[index]
        if layer.id is None and layer.inputs is None:
            layer = layer.wired(id=old.id, inputs=old.inputs)
        layers[index] = layer
        return self.with_layers(layers)

    def move_layer(self, src: int, dst: int) -> NetworkSpec:
        """Move layer ``src`` so that it ends up at index ``dst``: taken out (its consumers
        take what it took) and inserted on the connection at its new place. (A layer that joins
        several inputs would take one of them only there: the designer refuses that move,
        ``Document.move_layer``.)"""
        if src == dst:
            return self
        layer = self.layers[src]
        if self.is_chain and layer.inputs is None:
            layers = list(self.layers)
            layers.pop(src)
            layers.insert(dst, layer)
            return self.with_layers(layers)
        return self.remove_layer(src).insert_layer(dst, removed_layer(layer))

    # ---- serialisation
    @property
    def version(self) -> int:
        """The version its document needs: 1 for a chain (as it always was), 2 with wiring,
        a rounding, a description or a frozen layer (which version 1 readers would refuse)."""
        wired = any(layer.id is not None or layer.inputs is not None for layer in self.layers)
        frozen = any(not layer.trainable for layer in self.layers)
        extra = self.rounding is not None or bool(self.description) or frozen
        return VERSION if wired or extra else CHAIN_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT, "version": self.version}
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        d["input"] = {
            "channels": self.input.channels,
            "height": self.input.height,
            "width": self.input.width,
        }
        if self.rounding is not None:
            d["rounding"] = self.rounding
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Any, source: str = "", wiring: str = "strict") -> NetworkSpec:
        """Validate and build; raises SpecError listing every problem (prefixed by source).

        ``wiring="lenient"`` accepts a graph whose connections are wrong (a dangling branch,
        an unknown id: what a half-drawn graph in a saved project may hold); shape inference
        then reports them. Field values are always checked.
        """
        errors: list[str] = []
        spec = _parse_network(d, errors)
        if spec is not None and not errors and wiring == "strict":
            errors.extend(p.message for p in spec.wiring.problems)
        if errors or spec is None:
            raise SpecError(errors, prefix=f"{source}: " if source else "")
        return spec

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the spec as JSON, atomically."""
        from engine.io import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")


def removed_layer(layer: LayerSpec) -> LayerSpec:
    """A layer lifted out of its place: its id kept, its inputs dropped."""
    return layer.wired(inputs=None)


def _arity(type_name: str) -> tuple[int, int | None]:
    kind = LAYER_TYPES.get(type_name)
    return kind.arity if kind is not None else (1, None)


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
    elif not check_text("name", name, errors):
        name = ""
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
    description = d.get("description", "")
    if not isinstance(description, str):
        errors.append(f"description: must be a string, got {show(description)}")
    else:
        check_text("description", description, errors)
    rounding = d.get("rounding")
    if rounding is not None and rounding not in ROUNDINGS:
        errors.append(
            f'rounding: must be "exact" (fractional output sizes are problems, as the '
            f'tutorials teach) or "floor" (rounded down, as PyTorch does), got {show(rounding)}'
        )
    if errors or inp is None:
        return None
    name = name if isinstance(name, str) else ""
    return _materialise(NetworkSpec(inp, tuple(layers), name, rounding, description))


def _materialise(spec: NetworkSpec) -> NetworkSpec:
    """Give an explicit id to every layer another refers to by its generated id."""
    anchored = spec._anchored()
    if all(a is b for a, b in zip(anchored, spec.layers, strict=True)):
        return spec
    return spec.with_layers(anchored)


def resolved_init(spec: NetworkSpec, index: int) -> str:
    """The initialiser of layer ``index``, with "auto" resolved to "uniform" (PyTorch's
    default, which trained better than He/Xavier on the tutorials' recipe; engine.init)."""
    init = spec.layers[index]["init"]
    return "uniform" if init == "auto" else init


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
