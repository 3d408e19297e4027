"""What the pooling layers share: the window fields, the window shape rule and the compute
base that holds kernel, stride and padding. Each pool type lives in its own module."""

from __future__ import annotations

from engine.fields import MAX_SIZE, FieldInfo
from engine.kernels.geometry import output_size
from engine.layers.base import Layer
from engine.layers.definition import Geometry, Inferred, LayerDef, Tensor, pair_text

__all__ = ["Pool2D", "PoolDef", "pool_fields"]


def pool_fields(padding: bool = True) -> tuple[FieldInfo, ...]:
    """size, stride (empty = size) and, unless ``padding`` is False, padding."""
    fields = (
        FieldInfo(
            "size",
            "pair",
            2,
            "size: the width and height of the window that is summarised into one value",
            minimum=1,
            maximum=MAX_SIZE,
            required=True,
        ),
        FieldInfo(
            "stride",
            "optional_pair",
            None,
            "stride: how many pixels the window moves at each step (empty = same as size, "
            "so windows do not overlap)",
            minimum=1,
            maximum=MAX_SIZE,
        ),
    )
    if padding:
        fields += (
            FieldInfo(
                "padding",
                "pair",
                0,
                "padding: pixels added around the border before pooling (at most half the "
                "window, so that no window holds only padding)",
                minimum=0,
                maximum=MAX_SIZE,
            ),
        )
    return fields


class PoolDef(LayerDef):
    """A window that summarises each (size × size) patch of every channel into one value."""

    family = "pool"
    short = "pool"
    needs_maps = True
    fields = pool_fields()

    def describe(self, layer):
        g = self.window(layer)
        s = f"{g.kernel[0]}×{g.kernel[1]}"
        if layer["stride"] is not None and layer["stride"] != g.kernel:
            s += f" s{pair_text(layer['stride'])}"
        if g.padding != (0, 0):
            s += f" p{pair_text(g.padding)}"
        return s

    def window(self, layer):
        k = layer["size"]
        s = layer["stride"] if layer["stride"] is not None else k
        return Geometry(k, s, layer.get("padding", (0, 0)))

    def infer(self, ctx, layer, inputs):
        x = inputs[0]
        g = self.window(layer)
        sizes, formula = ctx.window(layer, g, False, layer["stride"] is None, x)
        half = tuple(k // 2 for k in g.kernel)
        if any(p > h for p, h in zip(g.padding, half, strict=True)):
            value = half[0] if half[0] == half[1] else half
            ctx.problem(
                f"padding {pair_text(g.padding)} is more than half the {pair_text(g.kernel)} "
                "window, so some windows would hold only padding (PyTorch refuses it)",
                "pool_padding",
                (ctx.fix_field(f"padding {pair_text(value)}", ctx.index, "padding", value),),
            )
        return Inferred(Tensor.maps(x.channels, sizes["height"], sizes["width"]),
                        formula + "; no parameters")  # fmt: skip

    def _onnx_window(self, node, **attrs):
        """size, stride and padding of an ONNX pool node, which may also carry ``attrs``
        (name: the only accepted value, or None for any)."""
        window = ("kernel_shape", "strides", "pads", "dilations", "ceil_mode", "auto_pad")
        node.check_attrs(dict.fromkeys(window) | attrs)
        kernel, stride, padding = node.window()
        return {"size": kernel, "stride": None if stride == kernel else stride, "padding": padding}


class Pool2D(Layer):
    """Compute base of the windowed pools: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel, stride=None, padding=(0, 0)):
        super().__init__()
        self.kernel = tuple(int(v) for v in kernel)
        self.stride = self.kernel if stride is None else tuple(int(v) for v in stride)
        self.padding = tuple(int(v) for v in padding)
        self._saved_shape = None

    def output_shape(self, input_shape):
        channels, height, width = input_shape
        return (
            channels,
            output_size(height, self.kernel[0], self.stride[0], self.padding[0]),
            output_size(width, self.kernel[1], self.stride[1], self.padding[1]),
        )
