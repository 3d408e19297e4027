"""What hovering an arrow of the network canvas tells: the shape that flows along it, from
which layer into which, and how that shape was computed (read from the shape report). The
canvas writes it into the arrow's tooltip when the tooltip is asked for. And whether the
arrow is drawn red: it goes into a merge whose inputs do not meet."""

from __future__ import annotations

from workbench.models import format as fmt

__all__ = ["edge_mismatch", "edge_tip"]


def edge_tip(spec, report, edge) -> str:
    """An arrow's hover text: the shape that flows along it, from which layer into which
    (by number and id, and which input of a merge it is), and how that shape was computed:
    the size arithmetic of the layer that made it (from the shape report, with its notes),
    walking back over layers that pass their input's shape on unchanged (relu, batch norm)."""
    ids = spec.wiring.ids

    def name(i: int) -> str:
        return f"#{i + 1} {ids[i]} ({spec.layers[i].kind.label})"

    target = getattr(edge, "targets", (edge.dst,))[0]  # into a collapsed repeat: its layer
    j = target - 1
    sources = spec.inputs_of(j)
    slot = edge.slot
    if target != edge.dst and edge.src - 1 in sources:
        slot = sources.index(edge.src - 1)
    lines = [
        f"<b>{edge.label or '?'}</b> from "
        + ("the network's input" if edge.src == 0 else name(edge.src - 1)),
        f"into {name(j)}"
        + (f", its input {slot + 1} of {len(sources)}" if len(sources) > 1 else ""),
    ]
    i, passed = edge.src - 1, []
    while True:
        if i < 0:
            lines.append("computed: the input's channels × height × width, set on the Input block")
            break
        row = report[i] if i < len(report) else None
        if row is None or row.output_shape is None:
            lines.append("computed: not known: a problem above stops shape inference here")
            break
        how = [p for p in row.formula.split("; ") if p and "parameters" not in p]
        windowed = any(k in dict(spec.layers[i].params) for k in ("kernel", "size", "stride"))
        same = tuple(row.input_shape or ()) == tuple(row.output_shape)
        if windowed or not same or len(spec.inputs_of(i)) != 1:
            shape = fmt.shape_text(row.output_shape)
            lines.append(f"computed by {name(i)}: " + ("; ".join(how) or f"{shape}, its fields"))
            lines.extend(n.split(": ", 1)[-1] for n in row.notes)
            break
        passed.append(ids[i])
        i = spec.inputs_of(i)[0]
    if passed:
        lines.append("then passed on unchanged by " + ", ".join(reversed(passed)))
    return "".join(f"<p style='white-space:pre; margin:0'>{line}</p>" for line in lines)


def edge_mismatch(spec, report, edge) -> bool:
    """Whether ``edge`` (src and dst rows, its input ``slot``) is drawn red: it goes into a
    broken merge and its shape differs from that of the input that comes from furthest down
    (the main path; the one the engine's fixes keep)."""
    i = edge.dst - 1
    row = report[i] if i < len(report) else None
    if row is None or not row.problems or spec.layers[i].type not in ("add", "concat"):
        return False
    shapes, sources = row.input_shapes, spec.inputs_of(i)
    if len(shapes) != len(sources) or edge.slot >= len(shapes):
        return False
    main = shapes[max(range(len(sources)), key=lambda k: sources[k])]
    mine = shapes[edge.slot]
    if spec.layers[i].type == "concat":
        return None not in (main, mine) and tuple(mine[1:]) != tuple(main[1:])
    return mine != main
