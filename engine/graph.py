"""A network's wiring (contract): which earlier outputs each layer takes.

Each layer may carry an ``id`` (a unique name) and ``inputs`` (ids of earlier layers, or
``"input"`` for the network's input). A layer without ``inputs`` takes the output of the entry
before it (the first takes the network input), so a chain needs neither. A layer may refer
only to entries before it, so the list is always a valid order and cycles cannot be written;
a reference to a later layer is reported as the cycle it would make.

:func:`wiring` resolves a layer list into input positions (-1 is the network input) and
lists every problem with the path of the offending value, as every other spec problem is.
It never raises, so shape inference can show a half-wired graph while it is being drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["INPUT", "Wiring", "generated_id", "unused_branch", "wiring"]

#: The name of the network's input in ``inputs``.
INPUT = "input"


def generated_id(type_name: str, index: int) -> str:
    """The id a layer without one answers to: its type and position ("conv2d_3")."""
    return f"{type_name}_{index}"


@dataclass(frozen=True)
class GraphProblem:
    """``layer``: the index it belongs to; ``message`` starts with the path (layers[3].inputs)."""

    layer: int
    message: str
    kind: str


@dataclass(frozen=True)
class Wiring:
    """``ids[i]``: the id of layer i (given or generated); ``inputs[i]``: the positions its
    inputs come from (-1: the network input), unknown references left out; ``consumers[i]``:
    the later layers that take its output; ``problems``: what is wrong, each with its path."""

    ids: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    consumers: tuple[tuple[int, ...], ...]
    problems: tuple[GraphProblem, ...]

    @property
    def is_chain(self) -> bool:
        """Every layer takes just the one before it."""
        return all(ins == (i - 1,) for i, ins in enumerate(self.inputs))


def _free(name: str, taken: set[str]) -> str:
    """``name``, or name_2, name_3, ... when a layer has given itself that id (a generated id
    must name one layer only: exports use ids as node names)."""
    n, free = 2, name
    while free in taken:
        free, n = f"{name}_{n}", n + 1
    return free


def unused_branch(w: Wiring, index: int) -> list[int]:
    """Layer ``index`` and every earlier layer whose output only ever reaches it, newest
    first: what goes when a branch nobody uses is removed (removing the last layer alone
    would leave the one before it unused)."""
    gone = {index}
    for j in range(index - 1, -1, -1):
        if w.consumers[j] and all(c in gone for c in w.consumers[j]):
            gone.add(j)
    return sorted(gone, reverse=True)


def wiring(layers: Sequence[Any], arity=None) -> Wiring:
    """Resolve ``layers`` (objects with ``type``, ``id`` and ``inputs``; ``inputs`` None for
    "the entry before"). ``arity(type) -> (fewest, most or None)`` checks input counts."""
    problems: list[GraphProblem] = []
    given = {layer.id for layer in layers if layer.id is not None}
    ids = [
        layer.id if layer.id is not None else _free(generated_id(layer.type, i), given)
        for i, layer in enumerate(layers)
    ]
    where: dict[str, int] = {}
    duplicated: set[str] = set()  # ids more than one layer gives itself
    for i, layer in enumerate(layers):
        given = layer.id
        if given is None:
            continue
        if given == INPUT:
            problems.append(GraphProblem(
                i, f'layers[{i}].id: "{INPUT}" names the network input; choose another id',
                "bad_id"))  # fmt: skip
        elif given in where:
            duplicated.add(given)
            problems.append(GraphProblem(
                i, f'layers[{i}].id: duplicate id "{given}" (layers[{where[given]}] has it '
                "too); ids must be unique", "duplicate_id"))  # fmt: skip
        else:
            where[given] = i
    for i, layer in enumerate(layers):
        if layer.id is None:
            where.setdefault(ids[i], i)
    inputs: list[tuple[int, ...]] = []
    # A layer before an unknown reference may be the one it meant (a typo): that it looks
    # unused is not a second problem. The same for a layer whose id is a duplicate.
    typo_at = -1
    misplaced: set[int] = set()  # layers that take a later one: unused because misplaced
    for i, layer in enumerate(layers):
        refs = layer.inputs
        repeated = False  # reported, or explained by a duplicate id: no count problem then
        if refs is None:
            inputs.append((i - 1,))
        else:
            found = []
            for k, ref in enumerate(refs):
                j = -1 if ref == INPUT else where.get(ref)
                earlier = ", ".join(f'"{n}"' for n in ids[max(0, i - 8) : i]) or "none"
                if j is None:
                    typo_at = i
                    problems.append(GraphProblem(
                        i, f'layers[{i}].inputs[{k}]: unknown id "{ref}" (layers before it: '
                        f'{earlier}, or "{INPUT}")', "unknown_input"))  # fmt: skip
                elif j >= i:
                    misplaced.add(i)
                    what = "itself" if j == i else f"layers[{j}], which comes after it"
                    problems.append(GraphProblem(
                        i, f'layers[{i}].inputs[{k}]: "{ref}" is {what}; a layer may take only '
                        "earlier layers' outputs (this would make a cycle)", "cycle"))  # fmt: skip
                elif j in found:
                    repeated = True
                    if ref not in duplicated:  # else its duplicate-id problem explains it
                        problems.append(GraphProblem(
                            i, f'layers[{i}].inputs[{k}]: "{ref}" is listed twice',
                            "repeated_input"))  # fmt: skip
                else:
                    found.append(j)
            inputs.append(tuple(found))
        if arity is not None and not repeated:
            low, high = arity(layer.type)
            count = len(set(refs)) if refs is not None else 1
            if count < low:
                problems.append(GraphProblem(
                    i, f"layers[{i}].inputs: a {layer.type} layer needs at least {low} inputs, "
                    f"got {count}" + ("" if refs is not None else
                                      " (without inputs it takes only the layer before it)"),
                    "too_few_inputs"))  # fmt: skip
            elif high is not None and count > high:
                word = "input" if high == 1 else "inputs"
                problems.append(GraphProblem(
                    i, f"layers[{i}].inputs: a {layer.type} layer takes {high} {word}, got "
                    f"{count}; join branches with an add or concat layer first",
                    "too_many_inputs"))  # fmt: skip
    consumers: list[list[int]] = [[] for _ in layers]
    for i, ins in enumerate(inputs):
        for j in ins:
            if j >= 0:
                consumers[j].append(i)
    for i in range(len(layers) - 1):
        # An id no reference can reach ("input", or a duplicate's second holder) is the
        # problem already reported; that nothing takes the output follows from it.
        unreachable = layers[i].id == INPUT or (layers[i].id in duplicated and where[ids[i]] != i)
        unexplained = i >= typo_at and i not in misplaced and not unreachable
        if not consumers[i] and unexplained:
            problems.append(GraphProblem(
                i, f"layers[{i}] ({ids[i]}): its output is used by no later layer; connect it "
                "to one (an add or concat) or remove it", "dangling"))  # fmt: skip
    return Wiring(tuple(ids), tuple(inputs), tuple(tuple(c) for c in consumers), tuple(problems))
