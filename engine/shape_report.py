"""What shape inference reports (contract): a row per layer, problems with their fixes, and
totals for one image and for a batch. Built by engine.shapes.infer_shapes; read by the CLI's
summary, the GUI's shape table and stack, and engine.build."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from engine.fixes import Fix

BYTES = 4  # float32

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Problem:
    """A problem on layer ``layer`` (None: the network as a whole). ``message`` quotes its
    arithmetic; ``kind`` names it for code ("not_whole", "window_too_large", "even_same",
    "missing_flatten", "needs_feature_maps", "no_final_dense", "bad_fields", "pool_padding",
    "add_mismatch", "concat_mismatch", and the wiring kinds of engine.graph: "unknown_input",
    "cycle", "duplicate_id", "bad_id", "repeated_input", "too_few_inputs",
    "too_many_inputs", "dangling")."""

    layer: int | None
    message: str
    fixes: tuple[Fix, ...] = ()
    kind: str = ""


@dataclass(frozen=True)
class LayerRow:
    """One layer of the report. Shapes are (C, H, W) or (features,), None when unknown."""

    index: int
    type: str
    label: str
    input_shape: Shape | None
    output_shape: Shape | None
    params: int = 0
    macs: int = 0
    memory: int = 0
    formula: str = ""
    problems: tuple[Problem, ...] = ()
    buffers: int = 0  # non-trainable values (batch norm running statistics)
    #: Positions of the layers it takes (-1: the network input) and their output shapes.
    inputs: tuple[int, ...] = ()
    input_shapes: tuple[Shape | None, ...] = ()
    #: Things worth knowing that do not block training (a floor-rounded size, say).
    notes: tuple[str, ...] = ()
    #: False for a frozen layer ("trainable": false): its parameters are not trained.
    trainable: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ShapeReport(Sequence):
    """A LayerRow per layer, in order, plus network-level problems and totals. The report
    is immutable, so each total is summed once (the GUI reads them on every keystroke)."""

    input_shape: Shape
    rows: tuple[LayerRow, ...]
    network_problems: tuple[Problem, ...] = ()
    problems: tuple[Problem, ...] = field(init=False)

    def __post_init__(self) -> None:
        every = tuple(p for r in self.rows for p in r.problems) + self.network_problems
        object.__setattr__(self, "problems", every)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        return self.rows[i]

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    @property
    def ok(self) -> bool:
        return not self.problems

    @cached_property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @cached_property
    def trainable_params(self) -> int:
        """Parameters of the layers that train (not frozen)."""
        return sum(r.params for r in self.rows if r.trainable)

    @cached_property
    def frozen_params(self) -> int:
        """Parameters of frozen layers: kept as loaded, never updated."""
        return sum(r.params for r in self.rows if not r.trainable)

    @cached_property
    def total_buffers(self) -> int:
        return sum(r.buffers for r in self.rows)

    @cached_property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def input_memory(self) -> int:
        return BYTES * math.prod(self.input_shape)

    @cached_property
    def total_memory(self) -> int:
        """Bytes of float32 activations for one image that training keeps alive at once for
        the backward pass: the input and every layer's output, on every branch."""
        return self.input_memory + sum(r.memory for r in self.rows)

    @cached_property
    def peak_memory(self) -> int:
        """Bytes of float32 activations for one image at the worst moment of an evaluation
        pass, which keeps each output only until its last consumer has run."""
        last_use = {-1: -1}
        for r in self.rows:
            last_use.setdefault(r.index, r.index)
            for j in r.inputs:
                last_use[j] = max(last_use.get(j, -1), r.index)
        sizes = {-1: self.input_memory, **{r.index: r.memory for r in self.rows}}
        peak = live = self.input_memory
        for r in self.rows:
            live += r.memory
            peak = max(peak, live)
            live -= sum(sizes[j] for j in set(r.inputs) if last_use.get(j) == r.index)
        return peak

    @cached_property
    def notes(self) -> tuple[str, ...]:
        return tuple(n for r in self.rows for n in r.notes)

    @cached_property
    def param_memory(self) -> int:
        """Bytes of float32 parameters and running statistics."""
        return BYTES * (self.total_params + self.total_buffers)

    def memory_for_batch(self, n: int) -> int:
        """Bytes for a batch of ``n`` images: n times the activations, plus the parameters."""
        return n * self.total_memory + self.param_memory

    @cached_property
    def output_shape(self) -> Shape | None:
        """The output of the last layer whose shape could be computed (None if none)."""
        for r in reversed(self.rows):
            if r.output_shape is not None:
                return r.output_shape
        return None

    @property
    def num_classes(self) -> int | None:
        """Outputs of the final layer when it is one a network may end in (a dense layer, a
        global pool) and flat: the logits, one per class. Else None."""
        from engine.layers import LAYER_TYPES

        last = self.rows[-1] if self.rows else None
        if last is None or not last.output_shape or len(last.output_shape) != 1:
            return None
        kind = LAYER_TYPES.get(last.type)
        return last.output_shape[0] if kind is not None and kind.ends_network else None
