"""What a layer type is: the one definition every other part of the product asks.

A :class:`LayerDef` holds everything the product knows about one layer type: its fields
(kind, default, range, plain-words help), how a block describes it, its window (conv and
pools), its shape rule with problems and fixes, its parameters, multiply-adds and memory, its
receptive-field step, the compute layer it builds, and its PyTorch and ONNX names. Each type
lives in one module of ``engine/layers/`` next to its compute layer; ``engine.layers`` gathers
them into the catalogue. Nothing outside those modules switches on a type name.

Shape rules never import the shape inference: :mod:`engine.shapes` hands each rule a context
(:class:`RuleContext`) that reports problems, notes and fixes, and does the window arithmetic
(the formula lives once, in :mod:`engine.kernels.geometry`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from engine.fields import FieldInfo

__all__ = ["Geometry", "Inferred", "LayerDef", "RuleContext", "Tensor"]


class Geometry(NamedTuple):
    """The resolved window of a conv or pool layer, as integer (h, w) pairs."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Tensor:
    """What shape inference knows of one per-image tensor: feature maps (rank 3: channels,
    height, width) or a flat vector (rank 1: ``features``). Unknown numbers are None (after an
    earlier problem); the rank is always known, so structural problems are still found."""

    rank: int
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    features: int | None = None

    @classmethod
    def maps(cls, channels: int | None, height: int | None, width: int | None) -> Tensor:
        return cls(3, channels, height, width)

    @classmethod
    def flat(cls, features: int | None) -> Tensor:
        return cls(1, features=features)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """(C, H, W) or (F,), None when a number is unknown."""
        if self.rank == 1:
            return None if self.features is None else (self.features,)
        dims = (self.channels, self.height, self.width)
        return None if None in dims else dims  # type: ignore[return-value]

    @property
    def size(self) -> int | None:
        """Values per image (C·H·W or F), None when unknown."""
        shape = self.shape
        return None if shape is None else math.prod(shape)

    @property
    def sizes(self) -> dict[str, int | None]:
        return {"height": self.height, "width": self.width}

    def text(self) -> str:
        """ "64×56×56", "120", or with "?" for unknown numbers."""
        if self.rank == 1:
            return "?" if self.features is None else str(self.features)
        return "×".join(
            "?" if v is None else str(v) for v in (self.channels, self.height, self.width)
        )


@dataclass(frozen=True)
class Inferred:
    """A shape rule's answer: the output, its costs and the arithmetic shown for it."""

    output: Tensor
    formula: str = ""
    params: int = 0
    buffers: int = 0  # non-trainable values kept with the weights (batch norm statistics)
    macs: int = 0


class RuleContext(Protocol):
    """What engine.shapes gives a shape rule (see ``_Context`` there)."""

    index: int
    label: str

    def problem(self, text: str, kind: str, fixes: tuple = ()) -> None: ...

    def note(self, text: str) -> None: ...

    def window(self, layer: Any, geometry: Geometry, same: bool, stride_follows: bool,
               tensor: Tensor) -> tuple[dict[str, int | None], str]: ...  # fmt: skip

    def layer(self, type: str, **fields: Any) -> Any: ...

    def fix_insert(self, label: str, index: int, *layers: Any) -> Any: ...

    def fix_remove(self, label: str) -> Any: ...

    def fix_field(self, label: str, index: int, field: str, value: Any) -> Any: ...


def pair_text(v: Any) -> str:
    """A pair as a block shows it: 3 for (3, 3), 3×5 otherwise."""
    if isinstance(v, tuple):
        return f"{v[0]}" if v[0] == v[1] else f"{v[0]}×{v[1]}"
    return str(v)


class LayerDef(ABC):
    """One layer type. Subclasses set the class attributes and override what differs; the
    defaults describe an element-wise layer with one input, no parameters and no window.

    Class attributes:

    - ``name`` (its name in spec files), ``label``, ``summary`` (the palette's one line),
      ``family`` (its colour), ``fields`` (:class:`engine.fields.FieldInfo`, in form order);
    - ``short``: the stem of readable layer names (conv1, pool2);
    - ``torch`` and ``onnx``: the PyTorch module and ONNX operator it corresponds to;
    - ``arity``: (fewest, most) inputs; most None for any number;
    - ``needs_maps``: its input must be C×H×W feature maps;
    - ``spatial``: its output keeps a spatial layout that a receptive field can follow back;
    - ``init_transparent``: it only rescales the layer before it (batch norm, dropout), so
      reports name that layer (dead units are "conv2's", not "bn2's");
    - ``zeroes_negatives``: its units can die (relu);
    - ``ends_network``: a network may end in it (its output is then the logits);
    - ``random``: it draws from the network's random generator while training (dropout).
    """

    name = ""
    label = ""
    summary = ""
    family = ""
    fields: tuple[FieldInfo, ...] = ()
    short = ""
    torch = ""
    onnx = ""
    arity: tuple[int, int | None] = (1, 1)
    needs_maps = False
    spatial = True
    init_transparent = False
    zeroes_negatives = False
    ends_network = False
    random = False

    # ---- fields
    def field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def has_weights_to_initialise(self) -> bool:
        return "init" in self.field_names

    @property
    def multi_input(self) -> bool:
        return self.arity != (1, 1)

    # ---- how it reads
    def describe(self, layer: Any) -> str:
        """Key hyperparameters in a few characters, as a block in the stack shows them."""
        return ""

    def window(self, layer: Any) -> Geometry | None:
        """Kernel, stride and padding of a sliding-window layer; None for the others."""
        return None

    # ---- shapes
    def infer(self, ctx: RuleContext, layer: Any, inputs: list[Tensor]) -> Inferred:
        """Output shape, costs and formula for ``inputs`` (one per input); reports problems
        through ``ctx``. Never raises for a readable layer. Default: same shape, no costs."""
        return Inferred(inputs[0], "same shape as its input; no parameters")

    def receptive_step(
        self, layer: Any, box: tuple[int, int, int, int], in_size: tuple[int, int]
    ) -> tuple[int, int, int, int] | None:
        """The rows/columns (top, left, bottom, right; inclusive) of this layer's input that
        the output rows/columns ``box`` depend on, clipped to ``in_size`` (H, W) of the input;
        None when the layer has no spatial layout (the field cannot be followed back)."""
        if not self.spatial:
            return None
        g = self.window(layer)
        if g is None:
            return box
        (kh, kw), (sh, sw), (ph, pw) = g
        top, left, bottom, right = box
        return (
            max(0, top * sh - ph),
            max(0, left * sw - pw),
            min(in_size[0] - 1, bottom * sh - ph + kh - 1),
            min(in_size[1] - 1, right * sw - pw + kw - 1),
        )

    # ---- PyTorch (for exports and for checking the engine against it; torch is imported
    # only when these are called)
    def torch_module(self, layer: Any, in_shapes: list[tuple[int, ...]]):
        """The ``torch.nn`` module that computes what this layer does, its parameters named
        as ours; None for a layer that is a function of its inputs (:meth:`torch_call`)."""
        return None

    def torch_call(self, layer: Any, xs):
        """For a layer without a module: its output for the torch tensors ``xs``."""
        raise TypeError(f"{self.name} has a torch module; call it")

    # ---- ONNX (engine.interop.onnx_export hands in the graph being written; the onnx package
    # is imported only there)
    def to_onnx(self, layer: Any, g: Any, xs: list[str], in_shapes: list[tuple[int, ...]]) -> str:
        """Write this layer into ``g`` (an ``engine.interop.onnx_export.OnnxGraph``): ``xs``
        are its input tensors' names, ``in_shapes`` their per-image shapes; returns the name
        of its output. ``g.node(op, inputs, **attributes)`` adds a node, ``g.param(name)``
        the layer's parameter as an initializer. Default: the one operator ``onnx``."""
        return g.node(self.onnx, xs)

    def from_onnx(self, node: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fields and parameters of the layer that ONNX ``node`` (an
        ``engine.interop.onnx_import.OnnxNode`` of operator ``onnx``) is; raises
        ``node.unsupported(...)`` for what this type cannot represent. Default: no
        attributes, no fields, no parameters."""
        node.check_attrs({})
        return {}, {}

    # ---- compute
    @abstractmethod
    def build(self, layer: Any, in_shapes: list[tuple[int, ...]], rng: np.random.Generator):
        """The compute layer (engine.layers.base.Layer) for per-image input shapes
        ``in_shapes``; ``rng`` is the network's dropout generator."""

    def __repr__(self) -> str:
        return f"<layer type {self.name}>"
