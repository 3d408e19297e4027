"""Building blocks of the architectures after VGG, as graph specs: residual blocks (ResNet's
basic and bottleneck blocks), Inception modules and dense blocks with their transitions.

    g = GraphBuilder()
    x = g.conv(INPUT, 16, 3, padding=1, bn=True, relu=True)
    x = residual_block(g, x, 32, stride=2)        # the projection shortcut comes with it
    spec = g.spec((3, 32, 32), name="tiny resnet", rounding="floor")

Each helper takes the id of its input, appends layers to the builder and returns the id of
its output. Convolutions followed by batch norm have no bias (batch norm's shift replaces it),
as in torchvision, so parameter counts match torchvision's models exactly.
"""

from __future__ import annotations

from engine.graph import INPUT
from engine.spec import InputSpec, LayerSpec, NetworkSpec

__all__ = [
    "GraphBuilder",
    "bottleneck_block",
    "built_layers",
    "dense_block",
    "inception_module",
    "residual_block",
    "transition",
]


class GraphBuilder:
    """Appends layers with explicit wiring; :meth:`spec` keeps an id only where another
    layer refers to it and ``inputs`` only where they are not simply the entry before."""

    def __init__(self) -> None:
        self._layers: list[tuple[str, str, list[str], dict]] = []  # (id, type, inputs, fields)
        self._channels: dict[str, int] = {}
        self._used: set[str] = set()

    def layer(self, type: str, inputs: str | list[str], id: str | None = None, **fields) -> str:
        refs = [inputs] if isinstance(inputs, str) else list(inputs)
        new_id = id or f"{type}{len(self._layers)}"
        self._layers.append((new_id, type, refs, fields))
        return new_id

    def conv(self, x, filters, kernel, stride=1, padding=0, bn=False, relu=False, eps=1e-5,
             name=None) -> str:  # fmt: skip
        """conv (no bias when batch norm follows) → batch norm? → relu?"""
        name = name or f"conv{len(self._layers)}"
        out = self.layer("conv2d", x, name, filters=filters, kernel=kernel, stride=stride,
                         padding=padding, bias=not bn)  # fmt: skip
        if bn:
            out = self.layer(
                "batch_norm", out, f"{name}_bn", **({"eps": eps} if eps != 1e-5 else {})
            )
        if relu:
            out = self.layer("relu", out, f"{name}_relu")
        return out

    def spec(self, input: tuple[int, int, int], name: str = "", rounding: str | None = None,
             description: str = "") -> NetworkSpec:  # fmt: skip
        referenced: set[str] = set()
        for pos, (_, _, refs, _) in enumerate(self._layers):
            previous = self._layers[pos - 1][0] if pos else INPUT
            if refs != [previous]:
                referenced.update(refs)
        layers = []
        for pos, (lid, type, refs, fields) in enumerate(self._layers):
            previous = self._layers[pos - 1][0] if pos else INPUT
            layers.append(
                LayerSpec.create(type, **fields).wired(
                    id=lid if lid in referenced else None,
                    inputs=None if refs == [previous] else refs,
                )
            )
        c, h, w = input
        spec = NetworkSpec(InputSpec(1, 1, 1), tuple(layers), name, rounding, description)
        return spec.with_input(channels=c, height=h, width=w)  # checked like a file's input


def residual_block(g: GraphBuilder, x: str, filters: int, stride: int = 1, in_channels=None,
                   bn: bool = True, name: str = "res") -> str:  # fmt: skip
    """ResNet's basic block: 3×3 conv → bn → relu → 3×3 conv → bn, plus the shortcut (the
    input itself, or a 1×1 projection with stride when the shape changes), then relu."""
    a = g.conv(x, filters, 3, stride, 1, bn=bn, relu=True, name=f"{name}_a")
    b = g.conv(a, filters, 3, 1, 1, bn=bn, name=f"{name}_b")
    shortcut = x
    if stride != 1 or (in_channels is not None and in_channels != filters):
        shortcut = g.conv(x, filters, 1, stride, 0, bn=bn, name=f"{name}_proj")
    s = g.layer("add", [b, shortcut], f"{name}_add")
    return g.layer("relu", s, f"{name}_out")


def bottleneck_block(g: GraphBuilder, x: str, width: int, stride: int, in_channels: int,
                     expansion: int = 4, name: str = "bottleneck") -> str:  # fmt: skip
    """ResNet-50's block (torchvision's v1.5: the stride on the 3×3 conv): 1×1 → 3×3 → 1×1
    with ``expansion``·width outputs, plus the shortcut, then relu."""
    out_channels = width * expansion
    a = g.conv(x, width, 1, bn=True, relu=True, name=f"{name}_a")
    b = g.conv(a, width, 3, stride, 1, bn=True, relu=True, name=f"{name}_b")
    c = g.conv(b, out_channels, 1, bn=True, name=f"{name}_c")
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        shortcut = g.conv(x, out_channels, 1, stride, 0, bn=True, name=f"{name}_proj")
    s = g.layer("add", [c, shortcut], f"{name}_add")
    return g.layer("relu", s, f"{name}_out")


def inception_module(g: GraphBuilder, x: str, c1: int, c3_reduce: int, c3: int,
                     c5_reduce: int, c5: int, pool_proj: int, five: int = 5, eps: float = 1e-5,
                     name: str = "inception", bn: bool = True) -> str:  # fmt: skip
    """GoogLeNet's module: four branches side by side, joined by a concat along channels:
    1×1; 1×1 → 3×3; 1×1 → five×five (torchvision's GoogLeNet uses 3×3 here); 3×3 max pool
    → 1×1. Each conv is conv → batch norm → relu (conv with bias → relu without ``bn``, as
    the 2014 paper had it). Output: c1 + c3 + c5 + pool_proj channels, the input's H×W.
    """
    b1 = g.conv(x, c1, 1, bn=bn, relu=True, eps=eps, name=f"{name}_1x1")
    r3 = g.conv(x, c3_reduce, 1, bn=bn, relu=True, eps=eps, name=f"{name}_3x3r")
    b3 = g.conv(r3, c3, 3, padding=1, bn=bn, relu=True, eps=eps, name=f"{name}_3x3")
    r5 = g.conv(x, c5_reduce, 1, bn=bn, relu=True, eps=eps, name=f"{name}_5x5r")
    b5 = g.conv(r5, c5, five, padding=five // 2, bn=bn, relu=True, eps=eps, name=f"{name}_5x5")
    p = g.layer("max_pool2d", x, f"{name}_pool", size=3, stride=1, padding=1)
    bp = g.conv(p, pool_proj, 1, bn=bn, relu=True, eps=eps, name=f"{name}_poolproj")
    return g.layer("concat", [b1, b3, b5, bp], f"{name}_cat")


def built_layers(g: GraphBuilder) -> list[tuple[str, str, list[str], dict]]:
    """What ``g`` has appended so far: (id, type, input ids, fields) per layer, in order
    (for edits that splice a block into an existing network, engine.inception_edit)."""
    return [(lid, type, list(refs), dict(fields)) for lid, type, refs, fields in g._layers]


def dense_block(g: GraphBuilder, x: str, layers: int, growth: int, bottleneck: int = 4,
                name: str = "dense") -> str:  # fmt: skip
    """DenseNet's block: each layer (bn → relu → 1×1 conv to bottleneck·growth → bn → relu
    → 3×3 conv to growth) sees the concatenation of the block's input and every earlier
    layer's output; the block outputs that concatenation with the last layer's too. Written
    as a running concat, which is the same arithmetic as concatenating all of them anew."""
    features = x
    for k in range(layers):
        n = g.layer("batch_norm", features, f"{name}_{k}_bn1")
        n = g.layer("relu", n, f"{name}_{k}_relu1")
        n = g.conv(n, bottleneck * growth, 1, bn=True, relu=True, name=f"{name}_{k}_1x1")
        n = g.conv(n, growth, 3, padding=1, name=f"{name}_{k}_3x3")
        # conv without batch norm after it keeps no bias in DenseNet either
        g._layers[-1][3]["bias"] = False
        features = g.layer("concat", [features, n], f"{name}_{k}_cat")
    return features


def transition(g: GraphBuilder, x: str, out_channels: int, name: str = "transition") -> str:
    """DenseNet's transition: bn → relu → 1×1 conv (no bias) → 2×2 average pool."""
    n = g.layer("batch_norm", x, f"{name}_bn")
    n = g.layer("relu", n, f"{name}_relu")
    n = g.layer("conv2d", n, f"{name}_conv", filters=out_channels, kernel=1, bias=False)
    return g.layer("avg_pool2d", n, f"{name}_pool", size=2)
