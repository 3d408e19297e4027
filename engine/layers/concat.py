"""Channel concatenation (PyTorch's ``torch.cat(dim=1)``, ONNX Concat): inputs of equal height
and width stacked along the channels, as Inception and DenseNet join their branches.
Definition and compute layer, forward and backward."""

from __future__ import annotations

from engine.kernels.merge import concat_backward, concat_forward
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef, Tensor

__all__ = ["CONCAT", "Concat"]


class Concat(Layer):
    """(N, C1, H, W), (N, C2, H, W), ... -> (N, C1 + C2 + ..., H, W)."""

    kind = "concat"
    multi_input = True

    def __init__(self, channels) -> None:
        super().__init__()
        self.channels = tuple(int(c) for c in channels)

    def output_shape(self, *input_shapes):
        _, h, w = input_shapes[0]
        return (sum(s[0] for s in input_shapes), h, w)

    def forward(self, *xs, train=False, record=False):
        return concat_forward(xs)

    def backward(self, dy):
        return concat_backward(dy, self.channels)


class ConcatDef(LayerDef):
    name = "concat"
    label = "Concatenate"
    summary = "concat: stacks its inputs' feature maps along the channels (Inception, DenseNet)"
    family = "merge"
    short = "cat"
    torch = "torch.cat"
    onnx = "Concat"
    arity = (2, None)
    needs_maps = True

    def infer(self, ctx, layer, inputs):
        texts = [x.text() for x in inputs]
        sizes = {(x.height, x.width) for x in inputs if None not in (x.height, x.width)}
        if len(sizes) > 1:
            ctx.problem(
                "its inputs must have the same height and width to be stacked, got "
                + " and ".join(texts),
                "concat_mismatch",
                ctx.merge_fixes("concat", inputs),
            )
        channels = [x.channels for x in inputs]
        total = None if None in channels else sum(channels)
        first = inputs[0]
        formula = f"{' + '.join('?' if c is None else str(c) for c in channels)} = {total} channels"
        return Inferred(Tensor.maps(total, first.height, first.width), formula + "; no parameters")

    def torch_call(self, layer, xs):
        import torch

        return torch.cat(list(xs), 1)

    def build(self, layer, in_shapes, rng):
        return Concat([s[0] for s in in_shapes])

    def to_onnx(self, layer, g, xs, in_shapes):
        return g.node("Concat", xs, axis=1)

    def from_onnx(self, node):
        node.check_attrs({"axis": None})
        if any(r != 4 for r in node.ranks) or node.attr("axis") not in (1, -3):
            raise node.unsupported(f"axis={node.attr('axis')} is not supported: only the "
                                   "channels of feature maps (axis 1)")  # fmt: skip
        return {}, {}


CONCAT = ConcatDef()
