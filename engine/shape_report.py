"""What shape inference reports (contract): a row per layer, problems with their fixes, and
totals for one image and for a batch. Built by engine.shapes.infer_shapes; read by the CLI's
summary, the GUI's shape table and stack, and engine.build."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from engine.fixes import Fix

BYTES = 4  # float32

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Problem:
    """A problem on layer ``layer`` (None: the network as a whole). ``message`` quotes its
    arithmetic; ``kind`` names it for code ("not_whole", "window_too_large", "even_same",
    "missing_flatten", "flatten_of_flat", "needs_feature_maps", "no_final_dense",
    "bad_fields")."""

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

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ShapeReport(Sequence):
    """A LayerRow per layer, in order, plus network-level problems and totals."""

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

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_buffers(self) -> int:
        return sum(r.buffers for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def input_memory(self) -> int:
        return BYTES * math.prod(self.input_shape)

    @property
    def total_memory(self) -> int:
        """Bytes of float32 activations for one image: the input and every layer's output."""
        return self.input_memory + sum(r.memory for r in self.rows)

    @property
    def param_memory(self) -> int:
        """Bytes of float32 parameters and running statistics."""
        return BYTES * (self.total_params + self.total_buffers)

    def memory_for_batch(self, n: int) -> int:
        """Bytes for a batch of ``n`` images: n times the activations, plus the parameters."""
        return n * self.total_memory + self.param_memory

    @property
    def output_shape(self) -> Shape | None:
        """The output of the last layer whose shape could be computed (None if none)."""
        for r in reversed(self.rows):
            if r.output_shape is not None:
                return r.output_shape
        return None

    @property
    def num_classes(self) -> int | None:
        """Units of the final layer when it is dense, else None."""
        if self.rows and self.rows[-1].type == "dense" and self.rows[-1].output_shape:
            return self.rows[-1].output_shape[0]
        return None
