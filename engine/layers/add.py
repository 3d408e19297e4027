"""Residual add (PyTorch's ``a + b``, ONNX Add): the element-wise sum of two or more inputs of
one shape. Definition and compute layer, forward and backward."""

from __future__ import annotations

from engine.kernels.merge import add_act_backward, add_act_forward, add_forward
from engine.layers.base import Layer
from engine.layers.definition import Inferred, LayerDef

__all__ = ["ADD", "Add"]


class Add(Layer):
    """y = x1 + x2 + ...; every input receives the output gradient unchanged."""

    kind = "add"
    multi_input = True

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = int(count)
        self._saved_act = None

    def output_shape(self, *input_shapes):
        return tuple(input_shapes[0])

    def forward(self, *xs, train=False, record=False, act=None, slope=0.0):
        """The sum; the network fuses an activation after it (``act``: "relu", "leaky_relu"
        with ``slope``, "tanh", "sigmoid") into the same pass, and :meth:`backward` then
        takes the gradient of that output."""
        self._saved_act = None
        if act is None:
            return add_forward(xs)
        y = add_act_forward(xs, act, slope)
        if record:
            self._saved_act = (y, act, slope)
        return y

    def backward(self, dy):
        if getattr(self, "_saved_act", None) is not None:
            dy = add_act_backward(dy, *self._saved_act)
        return [dy] * self.count


class AddDef(LayerDef):
    name = "add"
    label = "Add (residual)"
    summary = "add: sums its inputs element by element (a residual shortcut ends here)"
    family = "merge"
    short = "add"
    torch = "torch.add"
    onnx = "Add"
    arity = (2, None)

    def infer(self, ctx, layer, inputs):
        first = inputs[0]
        texts = [x.text() for x in inputs]
        if any(x.rank != first.rank for x in inputs):
            ctx.problem(
                "its inputs must all be feature maps or all flat vectors, got "
                + " and ".join(texts),
                "add_mismatch",
            )
            return Inferred(first, "")
        known = [x for x in inputs if x.shape is not None]
        if len({x.shape for x in known}) > 1:
            ctx.problem(
                f"its inputs must have one shape to be summed, got {' and '.join(texts)}",
                "add_mismatch",
                ctx.merge_fixes("add", inputs),
            )
        return Inferred(first, f"{' + '.join(texts)}: element-wise sum; no parameters")

    def torch_call(self, layer, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def build(self, layer, in_shapes, rng):
        return Add(len(in_shapes))

    def to_onnx(self, layer, g, xs, in_shapes):
        return g.node("Add" if len(xs) == 2 else "Sum", xs)  # ONNX's Add takes two inputs


ADD = AddDef()
