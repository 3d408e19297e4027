"""One-click fixes for shape problems, and the per-axis arithmetic that finds them.

A conv or pool layer maps a size n to (n − F + 2P)/S + 1 on each axis. Along one axis a
network is a chain of such links, so whether a candidate change (another input size, kernel,
stride or padding) repairs a layer, and what it does to every other layer, is a few integer
operations per link. engine.shapes builds the chains, asks :func:`search` for candidates and
checks each one it offers on the real spec.

Which candidates are offered (the rules a teacher would follow):

- a candidate must clear the problem it is offered for, and leave no more problems on the
  other layers of that axis than there were;
- for a non-whole size it must also stay near what the numbers gave (within 10 %, at least
  2 pixels): a fix repairs the arithmetic, it does not redesign the layer;
- the input size is a global change, so among the sizes within 32 pixels it prefers the one
  that leaves the fewest problems anywhere (AlexNet at 224 gets 227, not 223, whose 54 breaks
  the next pool), then the nearest;
- kernel, stride and padding are local changes: the nearest value wins (both neighbours on a
  tie), fewer problems breaking ties;
- an even kernel with "same" padding is mended by the odd kernels beside it only, the one
  change that keeps the size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from engine.kernels.geometry import window_steps
from engine.spec import LayerSpec, NetworkSpec, SpecError

#: Per-axis problem kinds found by :func:`walk_axis`.
NOT_WHOLE = "not_whole"
WINDOW = "window_too_large"
EVEN_SAME = "even_same"
UNKNOWN = "unknown"  # the size is lost after an earlier window problem

_INPUT_RADIUS = 32
_FIELD_RADIUS = 16
_MAX_SIZE = 4096  # engine.fields' bound on kernel/stride/padding
_MAX_INPUT = 65536


@dataclass(frozen=True)
class Fix:
    """A change that repairs a problem, as data: ``apply(spec)`` returns the mended spec.

    ``action`` is one of "input" (``value``: ((axis, size), ...)), "field" (set ``field`` of
    layer ``layer`` to ``value``: an int, or an (h, w) pair), "insert" (insert the layers in
    ``value``, a tuple of LayerSpec, at ``layer``), "remove" (layer ``layer``), "move"
    (layer ``layer`` to index ``value``), "rounding" (the spec's rounding becomes ``value``)
    or "layers" (a rewiring: ``value`` is the whole new tuple of LayerSpec, made for this
    spec, as a projection shortcut needs).
    """

    label: str
    action: str
    layer: int | None = None
    field: str | None = None
    value: Any = None

    def apply(self, spec: NetworkSpec) -> NetworkSpec:
        """A new spec with the fix made; raises SpecError if it no longer fits this spec."""
        if self.action == "input":
            return spec.with_input(**dict(self.value))
        if self.action == "rounding":
            return spec.with_rounding(self.value)
        if self.action == "layers":
            return spec.with_layers(self.value)
        n = len(spec.layers)
        last = n if self.action == "insert" else n - 1  # inserting may append
        targets = [self.layer] + ([self.value] if self.action == "move" else [])
        bad = [t for t in targets if not isinstance(t, int) or not 0 <= t <= last]
        if bad:
            raise SpecError(f"fix {self.label!r}: there is no layer {bad[0]} in this network of "
                            f"{n} layers (the fix was made for another version of it)")  # fmt: skip
        if self.action == "field":
            value = list(self.value) if isinstance(self.value, tuple) else self.value
            return spec.replace_layer(
                self.layer, spec.layers[self.layer].replace(**{self.field: value})
            )
        if self.action == "insert":
            for offset, layer in enumerate(self.value):
                spec = spec.insert_layer(self.layer + offset, layer)
            return spec
        if self.action == "remove":
            return spec.remove_layer(self.layer)
        if self.action == "move":
            return spec.move_layer(self.layer, self.value)
        raise ValueError(f"unknown fix action {self.action!r}")


def insert_fix(label: str, index: int, *layers: LayerSpec) -> Fix:
    return Fix(label, "insert", index, value=tuple(layers))


# --------------------------------------------------------------------------- one axis


@dataclass(frozen=True)
class Link:
    """A conv or pool layer seen along one axis. ``same``: the padding follows the kernel,
    (F − 1) // 2; ``stride_follows``: a pool whose stride is its size."""

    layer: int
    kernel: int
    stride: int
    padding: int
    same: bool = False
    stride_follows: bool = False

    def with_kernel(self, k: int) -> Link:
        return replace(
            self,
            kernel=k,
            padding=(k - 1) // 2 if self.same else self.padding,
            stride=k if self.stride_follows else self.stride,
        )


def step(n: int, link: Link) -> tuple[int | None, tuple[str, ...], int]:
    """One link: (output size or None when not positive, problem kinds, numerator n − F + 2P).

    A non-whole size is rounded down (as PyTorch does) so that later layers still get numbers.
    """
    kinds: tuple[str, ...] = (EVEN_SAME,) if link.same and link.kernel % 2 == 0 else ()
    num, remainder = window_steps(n, link.kernel, link.stride, link.padding)
    if num < 0:
        return None, (*kinds, WINDOW), num
    if remainder:
        kinds = (*kinds, NOT_WHOLE)
    return num // link.stride + 1, kinds, num


def walk_axis(n: int | None, chain: list[Link]) -> list[tuple[int | None, tuple[str, ...]]]:
    """(output, problem kinds) for each link, starting from size ``n``."""
    out = []
    for link in chain:
        if n is None:
            out.append((None, (UNKNOWN,)))
            continue
        n, kinds, _ = step(n, link)
        out.append((n, kinds))
    return out


@dataclass(frozen=True)
class Candidate:
    """A change found on the axes of one problem: what to set, and the repaired output."""

    category: str  # "input", "kernel", "stride" or "padding"
    value: int
    output: int
    problems: int  # problems left on those axes, anywhere in the chain
    #: 0 for the nearest values of its field, 1 for the next nearest, ...: the next is for
    #: when the network as a whole refuses the nearest (engine.shapes checks each one).
    rank: int = 0


def _count(results: list[tuple[int | None, tuple[str, ...]]]) -> int:
    return sum(len(kinds) for _, kinds in results)


def search(
    n0: dict[str, int],
    chains: dict[str, list[Link]],
    axes: tuple[str, ...],
    pos: int,
    kind: str,
    exact: float | None,
    spare: int = 0,
) -> list[Candidate]:
    """Candidate fixes for problem ``kind`` at link ``pos`` of the chains of ``axes``
    (the same link on each axis, with the same numbers; a change is made on all of them).

    ``n0`` is the network input size per axis; ``exact`` the unrounded output for a
    non-whole problem. Returns at most one input candidate and the nearest of each field
    (rank 0), then the ``spare`` next nearest groups of each field (rank 1, 2, ...).
    """
    link = chains[axes[0]][pos]
    # The kinds the target link has now, per axis: those it keeps (an even "same" kernel,
    # say) are not held against a candidate, only the one being fixed must go.
    had = {a: set(walk_axis(n0[a], chains[a])[pos][1]) for a in axes}

    def others(starts: dict[str, int], new_link: Link | None) -> tuple[int, int, bool]:
        """(problems on the other links and new ones on the target, repaired output, whether
        the target is repaired)."""
        count, output, repaired = 0, 0, True
        for a in axes:
            chain = chains[a] if new_link is None else _swap(chains[a], pos, new_link)
            res = walk_axis(starts[a], chain)
            out, kinds = res[pos]
            # A kind the candidate brings to the target link (an even kernel under "same"
            # padding, where the odd one was fine) counts against it like any other problem.
            count += _count(res) - sum(1 for k in kinds if k in had[a])
            if kind in kinds or out is None or (NOT_WHOLE in kinds and kind == WINDOW):
                repaired = False
            elif kind == NOT_WHOLE and exact is not None and abs(out - exact) > max(2, exact / 10):
                repaired = False
            output = out or 0
        return count, output, repaired

    others_before = others(n0, None)[0]

    def judge(starts: dict[str, int], new_link: Link | None) -> tuple[int, int] | None:
        count, output, repaired = others(starts, new_link)
        return (count, output) if repaired and count <= others_before else None

    found: list[Candidate] = []
    # The input: global, so the fewest problems first, then the nearest, then the larger.
    best: tuple[tuple[int, int, int], Candidate] | None = None
    size = n0[axes[0]]
    if all(n0[a] == size for a in axes):
        for v in range(max(1, size - _INPUT_RADIUS), min(_MAX_INPUT, size + _INPUT_RADIUS) + 1):
            if v == size:
                continue
            got = judge({a: v for a in axes}, None)
            if got is not None:
                key = (got[0], abs(v - size), -v)
                if best is None or key < best[0]:
                    best = (key, Candidate("input", v, got[1], got[0]))
    if best is not None:
        found.append(best[1])
    # Kernel, stride, padding: local, so the nearest first.
    fields: list[tuple[str, int, int, Any]] = [("kernel", link.kernel, 1, link.with_kernel)]
    if not link.stride_follows:
        fields.append(("stride", link.stride, 1, lambda s: replace(link, stride=s)))
    fields.append(("padding", link.padding, 0, lambda p: replace(link, padding=p, same=False)))
    if kind == EVEN_SAME:
        # Only an odd kernel keeps the size and the meaning of "same".
        fields = fields[:1]
    for name, current, lowest, make in fields:
        options = []
        for v in range(
            max(lowest, current - _FIELD_RADIUS), min(_MAX_SIZE, current + _FIELD_RADIUS) + 1
        ):
            if v == current:
                continue
            got = judge(n0, make(v))
            if got is not None:
                options.append(((abs(v - current), got[0]), Candidate(name, v, got[1], got[0])))
        keys = sorted({key for key, _ in options})[: 1 + spare]
        by_value = sorted(options, key=lambda o: -o[1].value)
        for rank, top in enumerate(keys):
            found.extend(replace(c, rank=rank) for key, c in by_value if key == top)
    return found


def _swap(chain: list[Link], pos: int, link: Link) -> list[Link]:
    chain = list(chain)
    chain[pos] = link
    return chain
