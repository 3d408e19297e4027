"""One-click fixes for branches that do not meet: an add whose inputs differ in shape, a
concat whose inputs differ in height or width.

The fixes are those a person would make:

- add: a projection shortcut, the 1×1 convolution of the ResNet paper with the branch's
  filters and the stride that brings the shortcut to the branch's size (and batch norm when
  the branch has it), on the input that comes from furthest back (or, when that one is the
  smaller, on the other); or the branch's last filter count changed to the shortcut's
  channels, when only the channels differ; or, when only the sizes differ, a padding or
  stride change on one of a branch's last windows (a 3×3 conv left without its padding);
- concat: a padding or stride change on one of the last windows (conv or pool) of a branch,
  so its height and width become those of another input (any of them: the first may be the
  odd one).

Every fix is checked on the real spec before it is offered: it must make the problem go away
and leave fewer problems in the network than there were (none new).
"""

from __future__ import annotations

import math

from engine.fixes import Fix
from engine.graph import INPUT
from engine.kernels.geometry import output_size
from engine.layers.definition import Tensor
from engine.spec import LayerSpec

__all__ = ["merge_fixes"]

_PADDING_RADIUS = 8
_MAX_STRIDE = 4
#: Windows tried per branch of a concat, from the concat back.
_WINDOWS_BACK = 3


def merge_fixes(inference, index: int, kind: str, inputs: list[Tensor]) -> tuple[Fix, ...]:
    """Checked fixes for the add or concat at ``index`` (``kind`` "add" or "concat") of the
    inference run ``inference`` (engine.shapes._Inference), whose inputs are ``inputs``."""
    if kind == "add":
        found = _add_fixes(inference, index, inputs)
        problem = "add_mismatch"
    else:
        found = _concat_fixes(inference, index, inputs)
        problem = "concat_mismatch"
    out: list[Fix] = []
    for fix, target in found:
        if fix.label not in {f.label for f in out} and inference.checked(
            fix, index, problem, target=target
        ):
            out.append(fix)
    return tuple(out)


def _path_back(inference, start: int, stop: int) -> list[int]:
    """Positions from ``start`` back along first inputs, until ``stop`` or the input."""
    path, at = [], start
    while at >= 0 and at != stop:
        path.append(at)
        sources = inference.wiring.inputs[at]
        if not sources:
            break
        at = sources[0]
    return path


def _ref(spec, layers: list[LayerSpec], position: int) -> tuple[list[LayerSpec], str]:
    """An id for the output of ``position`` (giving that layer an explicit one if needed)."""
    if position < 0:
        return layers, INPUT
    layer = layers[position]
    if layer.id is None:
        layers[position] = layer.wired(id=spec.wiring.ids[position])
    return layers, layers[position].id


def _add_fixes(inference, index: int, inputs: list[Tensor]):
    spec = inference.spec
    sources = list(spec.wiring.inputs[index])
    if len(sources) != len(inputs):
        return []
    # The input that comes last in the list is the branch the others meet first; then each
    # other input in turn (the shortcut may be the larger one, or the branch the smaller).
    first = max(range(len(sources)), key=lambda k: sources[k])
    found = []
    for main in [first, *(k for k in range(len(sources)) if k != first)]:
        found += _add_fixes_to(inference, index, sources, inputs, main)
    return found


def _add_fixes_to(inference, index, sources, inputs: list[Tensor], main: int):
    """Fixes that bring every other input of the add to the shape of input ``main``."""
    spec = inference.spec
    target = inputs[main]
    found = []
    for k, (src, x) in enumerate(zip(sources, inputs, strict=True)):
        if k == main or x.shape == target.shape or None in (x.shape, target.shape):
            continue
        branch = _path_back(inference, sources[main], src)
        if x.rank == 3 and target.rank == 3:
            found += _projection(inference, index, src, x, target, branch)
            if x.channels == target.channels:  # only the sizes differ: a padding, a stride
                found += _branch_window_fixes(inference, index, src, (target.height, target.width))
        if (x.rank, x.height, x.width) == (target.rank, target.height, target.width):
            # Only the channels differ: the branch's last filter count could follow the shortcut.
            # (For flat vectors, the units of the branch's last dense layer.)
            want = x.channels if x.rank == 3 else x.features
            for at in branch:
                names = spec.layers[at].kind.field_names
                field = next((f for f in ("filters", "units") if f in names), None)
                if field is not None:
                    found.append((Fix(f"{field} {want} on {spec.layers[at].type} #{at + 1}",
                                      "field", at, field, want), index))  # fmt: skip
                    break
    return found


def _projection(inference, index, src, x: Tensor, target: Tensor, branch: list[int]):
    spec = inference.spec
    stride = (
        max(1, math.ceil(x.height / target.height)),
        max(1, math.ceil(x.width / target.width)),
    )
    # A 1×1 convolution maps n to (n − 1)//s + 1: when no stride brings the shortcut to the
    # branch's size (56 against 54), no projection can fix the add, and checking one would
    # cost two more passes over the graph on every keystroke that breaks a ResNet.
    sizes = ((x.height - 1) // stride[0] + 1, (x.width - 1) // stride[1] + 1)
    if sizes != (target.height, target.width):
        return []
    with_bn = any(spec.layers[at].type == "batch_norm" for at in branch)
    layers = list(spec._anchored())
    layers, source_ref = _ref(spec, layers, src)
    conv_id = spec.unique_id("shortcut")
    new = [
        LayerSpec.create(
            "conv2d", id=conv_id, inputs=[source_ref], filters=target.channels, kernel=1,
            stride=stride[0] if stride[0] == stride[1] else list(stride), bias=not with_bn,
        )
    ]  # fmt: skip
    last = conv_id
    if with_bn:
        last = conv_id + "_bn"
        new.append(LayerSpec.create("batch_norm", id=last, inputs=[conv_id]))
    add = layers[index]
    refs = [last if r == source_ref else r for r in (add.inputs or ())]
    layers[index] = add.wired(inputs=refs)
    layers[index:index] = new
    s = stride[0] if stride[0] == stride[1] else f"{stride[0]}×{stride[1]}"
    label = f"projection shortcut (1×1 conv, {target.channels} filters, stride {s}"
    label += ", batch norm)" if with_bn else ")"
    return [(Fix(label, "layers", value=tuple(layers)), index + len(new))]


def _concat_fixes(inference, index: int, inputs: list[Tensor]):
    spec = inference.spec
    sources = list(spec.wiring.inputs[index])
    if len(sources) != len(inputs):
        return []
    found = []
    # Each input's size in turn is the one the others are brought to (the first input may be
    # the one whose window is off, or the others may have none to change).
    for target in dict.fromkeys((x.height, x.width) for x in inputs):
        if None in target:
            continue
        for src, x in zip(sources, inputs, strict=True):
            if (x.height, x.width) != target and None not in (x.height, x.width):
                found += _branch_window_fixes(inference, index, src, target)
    return found


def _branch_window_fixes(inference, index: int, src: int, target: tuple[int, int]):
    """Padding or stride changes, on one of the last few windows (conv or pool) of the branch
    that ends at ``src``, that bring its height and width to ``target``: per axis the value
    nearest the current one."""
    spec = inference.spec
    later: list = []  # the windows between the one changed and the concat, in order
    found = []
    for at in _path_back(inference, src, -1):
        layer = spec.layers[at]
        g = layer.kind.window(layer)
        before = inference.outputs.get((spec.wiring.inputs[at] or (None,))[0])
        out = inference.outputs.get(at)
        if before is None or out is None or None in (before.height, before.width):
            break
        if g is None:
            if (out.height, out.width) != (before.height, before.width):
                break  # it changes the size without a window (a global pool): stop here
            continue
        for field in ("padding", "stride"):
            if field not in layer.kind.field_names:
                continue
            current = getattr(g, field)
            pair = []
            for a, n in enumerate((before.height, before.width)):
                if field == "stride":
                    values = range(1, _MAX_STRIDE + 1)
                elif layer.kind.family == "pool":  # at most half the window (PyTorch's rule)
                    values = range(0, min(_PADDING_RADIUS, g.kernel[a] // 2) + 1)
                else:
                    values = range(0, _PADDING_RADIUS + 1)
                ok = [v for v in values if _through(n, g, a, field, v, later) == target[a]]
                if not ok:
                    break
                pair.append(min(ok, key=lambda v, a=a: (abs(v - current[a]), v)))
            if len(pair) < 2 or tuple(pair) == tuple(current):
                continue
            value = pair[0] if pair[0] == pair[1] else tuple(pair)
            text = f"{pair[0]}" if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"
            label = f"{field} {text} on {layer.type} #{at + 1} (→ {target[0]}×{target[1]})"
            found.append((Fix(label, "field", at, field, value), index))
        later.insert(0, g)
        if len(later) >= _WINDOWS_BACK:
            break
    return found


def _through(n: int, g, axis: int, field: str, value: int, later: list) -> int | None:
    """The size ``n`` after window ``g`` with its ``field`` set to ``value`` on ``axis``,
    then after each window in ``later`` (floor rounding; None once it is not positive)."""
    kernel, stride, padding = g.kernel[axis], g.stride[axis], g.padding[axis]
    if field == "padding":
        padding = value
    else:
        stride = value
    n = output_size(n, kernel, stride, padding)
    for w in later:
        if n < 1:
            return None
        n = output_size(n, w.kernel[axis], w.stride[axis], w.padding[axis])
    return n if n >= 1 else None
