"""Which rows an edit changed: the views redraw those, not all of them.

A keystroke in the inspector changes one layer, yet its shape can ripple down a whole stage
of resnet50 (70 of 174 rows). Redrawing and re-measuring every row of the stack, the canvas
and the shape table on every edit cost most of an edit's time; comparing the rows before and
after costs a fraction of a millisecond. Rows are numbered as the views number them: row 0
is the input, row ``i + 1`` is layer ``i``. No Qt here: specs and shape reports only.
"""

from __future__ import annotations

from engine.shape_report import ShapeReport
from engine.spec import NetworkSpec


def row_signature(spec: NetworkSpec, report: ShapeReport, row: int) -> tuple:
    """Everything a view shows for ``row`` (0 = input) may depend on: the layer itself, its
    id, which layers it takes (their ids and types: the table shows them), its report row
    (shapes, costs, formula, notes, problems). Equal signatures: the row looks the same."""
    if row == 0:
        network = tuple(p for p in report.problems if p.layer is None)
        return (spec.input, network)
    i = row - 1
    wiring = spec.wiring
    sources = tuple(
        (j, "input" if j < 0 else wiring.ids[j], "" if j < 0 else spec.layers[j].type)
        for j in wiring.inputs[i]
    )
    info = report[i] if i < len(report) else None
    return (spec.layers[i], wiring.ids[i], sources, info)


def changed_rows(
    before: tuple[NetworkSpec, ShapeReport] | None, after: tuple[NetworkSpec, ShapeReport]
) -> frozenset[int] | None:
    """The rows whose signature differs between ``before`` and ``after`` (each a spec and
    its report); None when every row must be redrawn: nothing to compare with, or the
    number of layers changed (rows were inserted, removed or renumbered)."""
    if before is None:
        return None
    old_spec, old_report = before
    new_spec, new_report = after
    if len(old_spec.layers) != len(new_spec.layers):
        return None
    return frozenset(
        row
        for row in range(len(new_spec.layers) + 1)
        if row_signature(old_spec, old_report, row) != row_signature(new_spec, new_report, row)
    )


def runs(rows) -> list[tuple[int, int]]:
    """``rows`` as (first, last) pairs of consecutive numbers: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for row in sorted(rows):
        if out and row == out[-1][1] + 1:
            out[-1] = (out[-1][0], row)
        else:
            out.append((row, row))
    return out


class RowCache:
    """Values per row of a view's model, kept until an edit changes that row.

    ``values(row)`` is the row's dict (role -> value, or whatever the view keeps); it is
    emptied for the rows ``document.changed_rows()`` names, all of them when that is None,
    whichever view asks first after a change (so the order of the slots does not matter).
    ``document`` is a workbench.document.Document (``generation``, ``changed_rows``)."""

    def __init__(self, document):
        self._doc = document
        self._rows: dict[int, dict] = {}
        self._generation = document.generation
        #: Rows forgotten at every change, whatever changed (a table's totals).
        self.always: set[int] = set()

    def sync(self) -> frozenset[int] | None:
        """Forget the rows changed since the last sync; returns them (None: all of them)."""
        now = self._doc.generation
        if now == self._generation:
            return frozenset()
        changed = self._doc.changed_rows() if now == self._generation + 1 else None
        self._generation = now
        if changed is None:
            self._rows.clear()
        else:
            for row in changed | self.always:
                self._rows.pop(row, None)
        return changed

    def values(self, row: int) -> dict:
        if self._doc.generation != self._generation:
            self.sync()
        got = self._rows.get(row)
        if got is None:
            got = self._rows[row] = {}
        return got

    def clear(self) -> None:
        self._rows.clear()


def another_network(before: tuple[str, ...] | None, after: tuple[str, ...]) -> bool:
    """Whether the spec is another network altogether (a preset, a file), shown from its top,
    rather than an edit: an edit keeps all but a few layers of the shorter list at the start
    and at the end, whatever it inserted or deleted in between."""
    if before is None:
        return True
    shorter = min(len(before), len(after))
    head = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), shorter)
    tail = next(
        (i for i, (a, b) in enumerate(zip(before[::-1], after[::-1], strict=False)) if a != b),
        shorter,
    )
    return head + tail < shorter - 6
