"""Edit ▸ Make Inception block: replace one layer of a network with GoogLeNet's module (four
branches side by side, joined by a ``concat``), built by engine.blocks.inception_module.

    counts = InceptionCounts(c1=64, c3_reduce=96, c3=128, c5_reduce=16, c5=32, pool_proj=32)
    new, at = make_inception(spec, index, counts)      # at: the position of the concat
    preview = preview_inception(spec, index, counts)   # what the dialog shows as counts change

The block takes what the replaced layer took; whatever took the replaced layer's output takes
the concat's. Its output has c1 + c3 + c5 + pool_proj channels and the input's height and
width (every branch keeps H×W: 3×3 with padding 1, 5×5 with padding 2, a 3×3 max pool with
stride 1 and padding 1). Pure functions; bad input raises GraphEditError with a sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from engine.blocks import GraphBuilder, built_layers, inception_module
from engine.graph import INPUT
from engine.graph_edits import GraphEditError, _ref
from engine.spec import LayerSpec, NetworkSpec

__all__ = ["InceptionCounts", "InceptionPreview", "default_counts", "make_inception",
           "preview_inception"]  # fmt: skip

_SOURCE = "\0source"  # the block's input while it is built, replaced by the real id after
MAX_FILTERS = 4096


@dataclass(frozen=True)
class InceptionCounts:
    """Filters of each convolution of the module (GoogLeNet's names), and whether each
    convolution is followed by batch norm (else it keeps its bias). Each count ≥ 1."""

    c1: int
    c3_reduce: int
    c3: int
    c5_reduce: int
    c5: int
    pool_proj: int
    bn: bool = False

    def check(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "bn" and (not isinstance(v, int) or not 1 <= v <= MAX_FILTERS):
                raise GraphEditError(
                    f"Inception block: {f.name} must be a whole number of filters from 1 to "
                    f"{MAX_FILTERS}, got {v!r}"
                )

    @property
    def channels(self) -> int:
        """Channels of the concat's output."""
        return self.c1 + self.c3 + self.c5 + self.pool_proj


@dataclass(frozen=True)
class InceptionPreview:
    """What the block would be: its branches (each a list of "1×1 conv, 16" steps), output
    shape (C, H, W) or None, and its parameters and multiply-adds (sums over its layers);
    ``before_*``: the replaced layer's own; ``problems``: the new network's problem messages
    (those of layers after the block too, say a dense layer that no longer fits)."""

    branches: tuple[tuple[str, ...], ...]
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    before_shape: tuple[int, ...] | None
    before_params: int
    before_macs: int
    problems: tuple[str, ...]


def default_counts(spec: NetworkSpec, index: int) -> InceptionCounts:
    """Counts in GoogLeNet's inception (3a) proportions (64, 96→128, 16→32, 32 of 256) for
    the replaced layer's filters (a layer without filters: its input's channels), each ≥ 1;
    batch norm when the network uses it already."""
    layer = spec.layers[index]
    width = layer.get("filters") or layer.get("units")
    if not width:
        from engine.shapes import infer_shapes

        source = spec.inputs_of(index)[0] if spec.inputs_of(index) else -1
        shape = spec.input.shape if source < 0 else infer_shapes(spec)[source].output_shape
        width = shape[0] if shape else 16

    def part(share: float) -> int:
        return max(1, round(width * share / 256))

    bn = any(other.type == "batch_norm" for other in spec.layers)
    return InceptionCounts(part(64), part(96), part(128), part(16), part(32), part(32), bn)


def make_inception(
    spec: NetworkSpec, index: int, counts: InceptionCounts
) -> tuple[NetworkSpec, int]:
    """Replace layer ``index`` with an Inception module of ``counts``. Returns the new spec
    and the position of the concat. GraphEditError when ``index`` is not a layer, the layer
    merges several inputs, its input is not an image (C×H×W), or a count is out of range."""
    from engine.shapes import infer_shapes  # shapes imports much; only this edit needs it

    counts.check()
    if not 0 <= index < len(spec.layers):
        raise GraphEditError(f"there is no layer #{index + 1}")
    sources = spec.inputs_of(index)
    name = f"{spec.layers[index].type} #{index + 1}"
    if len(sources) != 1:
        raise GraphEditError(f"{name} merges {len(sources)} inputs: select a layer with one input")
    source = sources[0]
    shape = spec.input.shape if source < 0 else infer_shapes(spec)[source].output_shape
    if shape is None or len(shape) != 3:
        what = "of unknown shape" if shape is None else f"a flat vector of {shape[0]}"
        raise GraphEditError(
            f"an Inception block works on images (C×H×W); {name} takes {what}: "
            "select a layer before the flatten"
        )

    layers = spec._anchored()
    source_ref = INPUT if source < 0 else _ref(spec, layers, source)
    g = _module(_free_stem(spec, counts), counts)
    new: list[LayerSpec] = []
    previous = layers[index - 1].id if index > 0 else INPUT
    for lid, type, refs, fields_ in built_layers(g):
        refs = [source_ref if r == _SOURCE else r for r in refs]
        before = new[-1].id if new else previous
        new.append(LayerSpec.create(type, **fields_).wired(
            id=lid, inputs=None if refs == [before] and before is not None else refs))  # fmt: skip
    concat_id = new[-1].id
    old_ref = layers[index].id
    if old_ref is not None:  # what took the replaced layer by its id takes the concat
        for i in spec.wiring.consumers[index]:
            refs = layers[i].inputs
            if refs is not None:
                layers[i] = layers[i].wired(inputs=[concat_id if r == old_ref else r for r in refs])
    # a consumer without ``inputs`` is index + 1: it takes the entry before, the concat now
    layers[index : index + 1] = new
    return spec.with_layers(layers), index + len(new) - 1


def preview_inception(spec: NetworkSpec, index: int, counts: InceptionCounts) -> InceptionPreview:
    """What :func:`make_inception` would give, in numbers (GraphEditError as it would)."""
    from engine.shapes import infer_shapes

    new, at = make_inception(spec, index, counts)
    report, old = infer_shapes(new), infer_shapes(spec)
    first = at - (len(new.layers) - len(spec.layers))
    rows = [report[i] for i in range(first, at + 1)]
    was = old[index]
    c = asdict(counts)
    branches = (
        (f"1×1 conv, {c['c1']}",),
        (f"1×1 conv, {c['c3_reduce']}", f"3×3 conv, {c['c3']}"),
        (f"1×1 conv, {c['c5_reduce']}", f"5×5 conv, {c['c5']}"),
        ("3×3 max pool", f"1×1 conv, {c['pool_proj']}"),
    )
    return InceptionPreview(
        branches=branches,
        output_shape=report[at].output_shape,
        params=sum(r.params or 0 for r in rows),
        macs=sum(r.macs or 0 for r in rows),
        before_shape=was.output_shape,
        before_params=was.params or 0,
        before_macs=was.macs or 0,
        problems=tuple(p.message for p in report.problems),
    )


def _free_stem(spec: NetworkSpec, counts: InceptionCounts) -> str:
    """ "inception", else inception_2, ...: the first stem none of whose module's ids is taken."""
    taken = set(spec.wiring.ids)
    n = 1
    while True:
        stem = "inception" if n == 1 else f"inception_{n}"
        if taken.isdisjoint(lid for lid, *_ in built_layers(_module(stem, counts))):
            return stem
        n += 1


def _module(stem: str, counts: InceptionCounts) -> GraphBuilder:
    g = GraphBuilder()
    inception_module(g, _SOURCE, counts.c1, counts.c3_reduce, counts.c3, counts.c5_reduce,
                     counts.c5, counts.pool_proj, name=stem, bn=counts.bn)  # fmt: skip
    return g
