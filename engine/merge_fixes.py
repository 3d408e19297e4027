"""One-click fixes for branches that do not meet: an add whose inputs differ in shape, a
concat whose inputs differ in height or width.

The fixes are those a person would make:

- add: a projection shortcut, the 1×1 convolution of the ResNet paper with the branch's
  filters and the stride that brings the shortcut to the branch's size (and batch norm when
  the branch has it), on the input that comes from furthest back; or the branch's last
  filter count changed to the shortcut's channels, when only the channels differ;
- concat: a padding or stride change on the last window (conv or pool) of a branch, so its
  height and width become the others'.

Every fix is checked on the real spec before it is offered: it must make the problem go away
and leave fewer problems in the network than there were (none new).
"""

from __future__ import annotations

import math

from engine.fixes import Fix
from engine.graph import INPUT
from engine.layers.definition import Tensor
from engine.spec import LayerSpec

__all__ = ["merge_fixes"]

_PADDING_RADIUS = 8
_MAX_STRIDE = 4


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
    main = max(range(len(sources)), key=lambda k: sources[k])
    target = inputs[main]
    found = []
    for k, (src, x) in enumerate(zip(sources, inputs, strict=True)):
        if k == main or x.shape == target.shape or None in (x.shape, target.shape):
            continue
        branch = _path_back(inference, sources[main], src)
        if x.rank == 3 and target.rank == 3:
            found += _projection(inference, index, src, x, target, branch)
        if (x.rank, x.height, x.width) == (target.rank, target.height, target.width):
            # Only the channels differ: the branch's last filter count could follow the shortcut.
            for at in branch:
                if "filters" in spec.layers[at].kind.field_names:
                    want = x.channels if x.rank == 3 else x.features
                    found.append((Fix(f"filters {want} on {spec.layers[at].type} #{at + 1}",
                                      "field", at, "filters", want), index))  # fmt: skip
                    break
                if "units" in spec.layers[at].kind.field_names:
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
    target = (inputs[0].height, inputs[0].width)
    found = []
    for src, x in zip(sources[1:], inputs[1:], strict=True):
        if (x.height, x.width) == target or None in (x.height, x.width, *target):
            continue
        window_at = next(
            (at for at in _path_back(inference, src, -1) if spec.layers[at].kind.window(
                spec.layers[at]) is not None),
            None,
        )  # fmt: skip
        if window_at is None:
            continue
        layer = spec.layers[window_at]
        before = inference.outputs[spec.wiring.inputs[window_at][0]]
        g = layer.kind.window(layer)
        for field, values in (
            ("padding", range(0, _PADDING_RADIUS + 1)),
            ("stride", range(1, _MAX_STRIDE + 1)),
        ):
            if field not in layer.kind.field_names:
                continue
            for v in values:
                kernel, stride, padding = g
                pair = (v, v)
                if field == "padding":
                    padding = pair
                else:
                    stride = pair
                sizes = tuple(
                    (n + 2 * padding[a] - kernel[a]) // stride[a] + 1
                    for a, n in enumerate((before.height, before.width))
                )
                if sizes == target and pair != getattr(g, field):
                    found.append((Fix(f"{field} {v} on {layer.type} #{window_at + 1} "
                                      f"(→ {target[0]}×{target[1]})", "field", window_at, field,
                                      v), index))  # fmt: skip
                    break
    return found
