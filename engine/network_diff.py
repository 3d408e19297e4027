"""What differs between two networks, in words: layers added, removed, replaced or changed,
and connections (residual, skip) added or removed.

Layers are matched as a sequence alignment (difflib's SequenceMatcher) over per-layer
signatures: a layer's type, plus its id when both networks give a layer that same explicit id
(so a graph's named layers anchor the match). Matched layers of the same type are compared
field by field; unmatched runs become "adds", "removes" or "replaces" sentences placed by
the layer they follow. Connections are compared as edge sets over the matched layers; an
edge that disappears only because a layer was inserted into it (or reappears because a layer
in it was removed) is not reported twice.

Layers are named as a person reads a stack: their explicit id when they have one, else
"the 2nd conv2d" (the ordinal among layers of that type). Pure: no Qt, no arrays.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from engine.spec import NetworkSpec

__all__ = ["diff_networks", "layer_names", "value_text"]

INPUT_NODE = "input"


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def layer_names(spec: NetworkSpec) -> list[str]:
    """A readable name per layer: its explicit id, else "the 2nd conv2d"."""
    seen: dict[str, int] = {}
    names = []
    for layer in spec.layers:
        seen[layer.type] = seen.get(layer.type, 0) + 1
        names.append(
            layer.id if layer.id is not None else f"the {ordinal(seen[layer.type])} {layer.type}"
        )
    return names


def value_text(value: Any) -> str:
    """A field or setting value as a sentence shows it: (5, 5) -> "5", (3, 5) -> "3×5",
    True -> "on", None -> "none", [] -> "none", 0.001 -> "0.001"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _what(layer) -> str:
    """A new layer as a sentence introduces it: "conv2d 32@3×3 p1", "batch_norm"."""
    detail = layer.describe()
    return f"{layer.type} {detail}" if detail else layer.type


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _signatures(spec: NetworkSpec, shared_ids: set[str]) -> list[str]:
    return [
        f"{layer.type}#{layer.id}" if layer.id in shared_ids else layer.type
        for layer in spec.layers
    ]


def _match(a: NetworkSpec, b: NetworkSpec):
    """(matched {i_a: j_b}, opcodes) of the alignment of a's layers with b's."""
    ids_a = {layer.id for layer in a.layers if layer.id is not None}
    shared = ids_a & {layer.id for layer in b.layers if layer.id is not None}
    sig_a, sig_b = _signatures(a, shared), _signatures(b, shared)
    ops = difflib.SequenceMatcher(None, sig_a, sig_b, autojunk=False).get_opcodes()
    matched = {}
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            matched.update(zip(range(i1, i2), range(j1, j2), strict=True))
    return matched, ops


class _Diff:
    """One comparison of ``a`` (the reference) with ``b``."""

    def __init__(self, a: NetworkSpec, b: NetworkSpec) -> None:
        self.a, self.b = a, b
        self.names_a, self.names_b = layer_names(a), layer_names(b)
        self.matched, self.ops = _match(a, b)
        self.back = {j: i for i, j in self.matched.items()}
        self.removed = set(range(len(a.layers))) - set(self.matched)
        self.added = set(range(len(b.layers))) - set(self.back)

    # ---- naming, in a's words wherever a layer exists in a
    def name_a(self, i: int) -> str:
        return "the input" if i < 0 else self.names_a[i]

    def name_b(self, j: int) -> str:
        if j < 0:
            return "the input"
        if j in self.back:
            return self.names_a[self.back[j]]
        layer = self.b.layers[j]
        return layer.id if layer.id is not None else f"the new {layer.type}"

    def _main_input(self, spec: NetworkSpec, index: int) -> int:
        """The input a layer continues from: an add's first (``out = main + shortcut``, as
        the presets and PyTorch's ResNet write it), else the latest one."""
        ins = spec.inputs_of(index)
        if not ins:
            return -1
        return ins[0] if spec.layers[index].type == "add" else max(ins)

    def _where(self, spec: NetworkSpec, index: int, name) -> str:
        main = self._main_input(spec, index)
        return "at the input" if main < 0 else f"after {name(main)}"

    # ---- sentences
    def sentences(self) -> list[str]:
        out = self._network_fields()
        for tag, i1, i2, j1, j2 in self.ops:
            if tag == "equal":
                out += [s for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                        if (s := self._changed(i, j))]  # fmt: skip
            elif tag == "delete":
                out += self._grouped("removes", self.a, range(i1, i2), self.name_a)
            elif tag == "insert":
                out += self._grouped("adds", self.b, range(j1, j2), self.name_b)
            else:
                out += self._replaced(i1, i2, j1, j2)
        out += self._connections()
        return out

    def _network_fields(self) -> list[str]:
        out = []
        sa, sb = self.a.input.shape, self.b.input.shape
        if sa != sb:
            out.append(f"input {'×'.join(map(str, sa))} → {'×'.join(map(str, sb))}")
        ra, rb = self.a.rounding or "exact", self.b.rounding or "exact"
        if ra != rb:
            out.append(f"rounding {ra} → {rb}")
        return out

    def _changed(self, i: int, j: int) -> str:
        la, lb = self.a.layers[i], self.b.layers[j]
        fa, fb = la.as_dict(), lb.as_dict()
        parts = [
            f"{k} {value_text(fa.get(k))} → {value_text(fb.get(k))}"
            for k in dict.fromkeys([*fa, *fb])
            if fa.get(k) != fb.get(k)
        ]
        return f"{self.names_a[i]}: {', '.join(parts)}" if parts else ""

    def _grouped(self, verb: str, spec: NetworkSpec, indices: Iterable[int], name) -> list[str]:
        """Consecutive plain layers in one sentence; each merge layer (add, concat) in its own,
        told as the connection it makes."""
        out: list[str] = []
        run: list[int] = []

        def flush() -> None:
            if not run:
                return
            if verb == "adds":
                layers = [_what(spec.layers[k]) for k in run]
                out.append(f"adds {_and(layers)} {self._where(spec, run[0], name)}")
            else:
                out.append(f"removes {_and([self.names_a[k] for k in run])}")
            run.clear()

        for k in indices:
            if spec.layers[k].kind.multi_input:
                flush()
                out.append(self._merge_sentence(verb, spec, k, name))
            else:
                run.append(k)
        flush()
        return out

    def _merge_sentence(self, verb: str, spec: NetworkSpec, k: int, name) -> str:
        layer = spec.layers[k]
        label = self.names_a[k] if verb == "removes" else _what(layer)
        ins = spec.inputs_of(k)
        if len(ins) > 2:  # branches joined (an inception block): no main path to speak of
            return f"{verb} {label} joining {_and([name(s) for s in ins])}"
        main = self._main_input(spec, k)
        others = [name(s) for s in ins if s != main]
        what = "a residual connection" if layer.type == "add" else "a skip connection"
        if verb == "removes":
            what = what.replace("a ", "the ", 1)
        src = f" from {_and(others)}" if others else ""
        return f"{verb} {what}{src} ({label} {self._where(spec, k, name)})"

    def _replaced(self, i1: int, i2: int, j1: int, j2: int) -> list[str]:
        old = _and([self.names_a[i] for i in range(i1, i2)])
        new = _and([_what(self.b.layers[j]) for j in range(j1, j2)])
        return [f"replaces {old} with {new}"]

    # ---- connections
    def _edges(self, spec: NetworkSpec, key) -> set[tuple[Any, Any]]:
        return {(key(s), key(d)) for d in range(len(spec.layers)) for s in spec.inputs_of(d)}

    def _key_a(self, i: int):
        return INPUT_NODE if i < 0 else (("m", self.matched[i]) if i in self.matched else ("a", i))

    def _key_b(self, j: int):
        return INPUT_NODE if j < 0 else (("m", j) if j in self.back else ("b", j))

    @staticmethod
    def _through(edges: set, src, dst, passable: set) -> bool:
        """A path src -> ... -> dst whose inner nodes are all in ``passable``."""
        frontier, seen = [src], {src}
        while frontier:
            node = frontier.pop()
            for s, d in edges:
                if s != node or d in seen:
                    continue
                if d == dst:
                    return True
                if d in passable:
                    seen.add(d)
                    frontier.append(d)
        return False

    def _connections(self) -> list[str]:
        ea, eb = self._edges(self.a, self._key_a), self._edges(self.b, self._key_b)
        only_removed = {("a", i) for i in self.removed}
        only_added = {("b", j) for j in self.added}
        out = []
        for verb, mine, theirs, detour in (("removes", ea, eb, only_added),
                                           ("adds", eb, ea, only_removed)):  # fmt: skip
            for s, d in sorted(mine - theirs, key=str):
                if any(isinstance(n, tuple) and n[0] != "m" for n in (s, d)):
                    continue  # told with the layer that was added or removed
                if self._through(theirs, s, d, detour):
                    continue  # a layer was inserted into this edge, or taken out of it
                out.append(self._edge_sentence(verb, s, d))
        return out

    def _edge_sentence(self, verb: str, s, d) -> str:
        name = lambda n: "the input" if n == INPUT_NODE else self.name_b(n[1])  # noqa: E731
        j = d[1]
        merge = self.b.layers[j].kind.multi_input
        what = "a connection"
        if merge and (s == INPUT_NODE or s[1] != j - 1):
            what = (
                "a residual connection" if self.b.layers[j].type == "add" else "a skip connection"
            )
        if verb == "removes":
            what = what.replace("a ", "the ", 1)
        return f"{verb} {what} from {name(s)} to {name(d)}"


def diff_networks(a: NetworkSpec, b: NetworkSpec) -> list[str]:
    """What ``b`` changes relative to ``a``, one clause per change, in network order:
    "adds batch_norm after the 2nd conv2d", "the 2nd conv2d: filters 32 → 64, kernel 5 → 3",
    "removes the residual connection from stem_relu (add_8 after s1b1_b_bn)". Empty when
    the two networks are the same layer for layer (ids and names are not compared)."""
    return _Diff(a, b).sentences()
