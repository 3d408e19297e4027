"""Shape inference: every layer's output shape, parameters, multiply-adds and memory, with
the arithmetic shown and every problem found, each with one-click fixes (contract).

    report = infer_shapes(spec)      # never raises
    for row in report: row.label, row.output_shape, row.params, row.formula, row.problems

Per axis a conv or pool maps n to (n − F + 2P)/S + 1. A result that is not a whole number is
a problem for pools as much as for convs: that is the rule the tutorials teach, so the two
stay consistent (PyTorch would silently round a pool down). To keep later rows informative the
size is then rounded down; a window larger than its padded input leaves the size unknown
(None) from there on.

Counting conventions: a conv has F·F·C·K + K parameters (F·F·C·K without bias) and
K·C·F·F·Ho·Wo multiply-adds; a dense layer in·out + out parameters and in·out multiply-adds;
batch norm 2·C trainable parameters plus 2·C running statistics, reported apart as
``buffers`` (Keras' "non-trainable"). Pools, activations, dropout, flatten and batch norm do
no multiply-adds with learned weights and count 0. Memory is float32 (4 bytes): a row's
memory is its output activation; ``total_memory`` adds the input image, as training keeps
every activation for the backward pass.
"""

from __future__ import annotations

import math

from engine.fixes import EVEN_SAME, NOT_WHOLE, WINDOW, Fix, Link, insert_fix, search, step
from engine.shape_report import BYTES, LayerRow, Problem, Shape, ShapeReport
from engine.spec import LayerSpec, NetworkSpec, geometry

__all__ = ["Fix", "LayerRow", "Problem", "ShapeReport", "infer_shapes", "num"]

_AXES = ("height", "width")
_WINDOWED = ("conv2d", "max_pool2d", "avg_pool2d")
_NEEDS_MAPS = (*_WINDOWED, "global_avg_pool")
_FLATTENING = ("flatten", "global_avg_pool", "dense")


def infer_shapes(spec: NetworkSpec) -> ShapeReport:
    """Rows, problems and fixes for ``spec``. Never raises; a spec that cannot be read at all
    gives an empty report with one problem."""
    try:
        return _Inference(spec, with_fixes=True).report()
    except Exception as e:  # the GUI calls this on every keystroke: it must not fall over
        shape = _input_shape(spec)
        return ShapeReport(shape, (), (Problem(None, f"network: cannot be read ({e})"),))


def _input_shape(spec: NetworkSpec) -> Shape:
    try:
        return (spec.input.channels, spec.input.height, spec.input.width)
    except AttributeError:
        return (0, 0, 0)


def num(x: float) -> str:
    """A number as a teacher writes it: 54.25, 26.5, 18.33, −1; never 54.0."""
    s = repr(x)
    if x == int(x):
        s = str(int(x))
    else:
        for digits in (2, 4, 6):
            short = f"{x:.{digits}f}".rstrip("0").rstrip(".")
            if "." in short:
                s = short
                break
    return s.replace("-", "−")


def _arith(n: int, link: Link) -> str:
    return f"({n} − {link.kernel} + 2·{link.padding})/{link.stride} + 1"


def _either(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


class _Inference:
    """One pass over the stack. Tracks the rank (3: feature maps, 1: a vector) apart from
    the sizes, so structural problems are found even where sizes are unknown."""

    def __init__(self, spec: NetworkSpec, with_fixes: bool):
        self.spec = spec
        self.with_fixes = with_fixes
        self.input = _input_shape(spec)
        # Per axis: the conv/pool links that see feature maps, and their positions by layer.
        self.chains: dict[str, list[Link]] = {"height": [], "width": []}
        self.rows: list[LayerRow] = []
        self._dry_run: tuple[_Inference, ShapeReport] | None = None

    # ---- the walk
    def report(self) -> ShapeReport:
        c, h, w = self.input
        rank, feats = 3, None
        sizes: dict[str, int | None] = {"height": h, "width": w}
        for i, layer in enumerate(self.spec.layers):
            label = f"{layer.type} #{i + 1}"
            in_shape = self._shape(rank, c, sizes, feats)
            problems: list[Problem] = []
            params = buffers = macs = 0
            formula = ""
            t = layer.type
            try:
                if t in _NEEDS_MAPS and rank == 1:
                    problems.append(self._needs_maps(i, label))
                    c, feats = None, None
                    formula = f"{t} needs C×H×W feature maps, but its input is a flat vector"
                elif t in _WINDOWED:
                    c_in = c
                    outs, formula = self._window(i, layer, label, sizes, problems)
                    sizes = outs
                    if t == "conv2d":
                        k, ch, cw = layer["filters"], *geometry(layer).kernel
                        bias = k if layer["bias"] else 0
                        params = ch * cw * c_in * k + bias
                        b = f" + {k}" if bias else ""
                        formula += f"; {ch}·{cw}·{c_in}·{k}{b} = {params:,} parameters"
                        if None not in outs.values():
                            macs = k * c_in * ch * cw * outs["height"] * outs["width"]
                        c = k
                    else:
                        formula += "; no parameters"
                elif t == "global_avg_pool":
                    formula = f"averages each {sizes['height']}×{sizes['width']} map: {c} values"
                    rank, feats = 1, c
                elif t == "flatten":
                    if rank == 1:
                        problems.append(self._flat_flatten(i, label, feats))
                        formula = "its input is already flat"
                    else:
                        known = None not in sizes.values()
                        feats = c * sizes["height"] * sizes["width"] if known else None
                        formula = (
                            f"{c}·{sizes['height']}·{sizes['width']} = {feats}"
                            if known
                            else "size unknown"
                        )
                        rank = 1
                elif t == "dense":
                    if rank == 3:
                        problems.append(self._missing_flatten(i, label, c, sizes))
                        known = None not in sizes.values()
                        feats = c * sizes["height"] * sizes["width"] if known else None
                        rank = 1
                    units = layer["units"]
                    bias = units if layer["bias"] else 0
                    if feats is not None:
                        params, macs = feats * units + bias, feats * units
                        b = f" + {units}" if bias else ""
                        formula = f"{feats}·{units}{b} = {params:,} parameters"
                    else:
                        formula = "input size unknown, so the parameters are too"
                    feats = units
                elif t == "batch_norm":
                    n = c if rank == 3 else feats
                    if n is not None:
                        params = buffers = 2 * n
                        formula = (
                            f"2·{n} = {params:,} parameters (+ {buffers:,} running statistics)"
                        )
                elif t == "dropout":
                    formula = f"drops {layer['rate']:.0%} of the values while training; same shape"
                else:
                    formula = "same shape as its input; no parameters"
            except (KeyError, TypeError, ValueError) as e:
                problems.append(
                    Problem(i, f"{label}: its fields cannot be read ({e})", (), "bad_fields")
                )
                rank, c, feats = 1, None, None
            out_shape = self._shape(rank, c, sizes, feats)
            memory = BYTES * math.prod(out_shape) if out_shape else 0
            self.rows.append(
                LayerRow(
                    i, t, label, in_shape, out_shape, params, macs, memory, formula,
                    tuple(problems), buffers,
                )
            )  # fmt: skip
        return ShapeReport(self.input, tuple(self.rows), self._ending(rank))

    @staticmethod
    def _shape(rank: int, c: int | None, sizes: dict[str, int | None], feats: int | None):
        if rank == 1:
            return None if feats is None else (feats,)
        if c is None or None in sizes.values():
            return None
        return (c, sizes["height"], sizes["width"])

    def _window(self, i, layer, label, sizes, problems) -> tuple[dict[str, int | None], str]:
        """Both axes of a conv/pool: outputs, the formula, and its problems (with fixes)."""
        g = geometry(layer)
        same = layer.type == "conv2d" and layer["padding"] == "same"
        follows = layer.type != "conv2d" and layer["stride"] is None
        links = {
            a: Link(i, g.kernel[j], g.stride[j], g.padding[j], same, follows)
            for j, a in enumerate(_AXES)
        }
        pos = len(self.chains["height"])
        for a in _AXES:
            self.chains[a].append(links[a])
        outs: dict[str, int | None] = {}
        found: dict[str, tuple[str, ...]] = {}
        texts: dict[str, str] = {}
        for a in _AXES:
            n = sizes[a]
            if n is None:
                outs[a], found[a], texts[a] = None, (), "size unknown"
                continue
            out, kinds, numer = step(n, links[a])
            outs[a], found[a] = out, kinds
            exact = numer / links[a].stride + 1
            texts[a] = f"{_arith(n, links[a])} = {num(exact)}"
            if NOT_WHOLE in kinds:
                texts[a] += f" → {out} (rounded down)"
        same_numbers = sizes["height"] == sizes["width"] and links["height"] == links["width"]
        groups = [_AXES] if same_numbers else [(a,) for a in _AXES]
        formula = (
            texts["height"] if same_numbers else f"height {texts['height']}, width {texts['width']}"
        )
        for axes in groups:
            for kind in (EVEN_SAME, WINDOW, NOT_WHOLE):
                if kind in found[axes[0]]:
                    problems.append(
                        self._window_problem(i, label, layer, links, sizes, axes, pos, kind)
                    )
        return outs, formula

    def _window_problem(self, i, label, layer, links, sizes, axes, pos, kind) -> Problem:
        a = axes[0]
        link, n = links[a], sizes[a]
        numer = n - link.kernel + 2 * link.padding
        exact = numer / link.stride + 1
        where = "" if len(axes) == 2 else f"{a}: "
        arith = f"{_arith(n, link)} = {num(exact)}"
        if kind == NOT_WHOLE:
            text, goal = f"{arith} is not a whole number", "would make it whole"
        elif kind == WINDOW:
            text = (
                f"{arith} is not positive: the {link.kernel}-pixel window is larger than the "
                f"padded input {n} + 2·{link.padding} = {n + 2 * link.padding}"
            )
            goal = "would make it fit"
        else:
            text = (
                f'padding "same" with the even kernel {link.kernel} cannot keep the size: '
                f"{arith}, not {n}"
            )
            goal = "would keep it"
        fixes = self._window_fixes(i, layer, axes, pos, kind, exact) if self.with_fixes else ()
        if fixes:
            text += f"; {_either([f.label for f in fixes])} {goal}"
        return Problem(i, f"{label}: {where}{text}", fixes, kind)

    def _window_fixes(self, i, layer, axes, pos, kind, exact) -> tuple[Fix, ...]:
        n0 = dict(zip(_AXES, self.input[1:], strict=True))
        chains = self._dry()[0].chains
        fixes = []
        for cand in search(n0, chains, axes, pos, kind, exact if kind == NOT_WHOLE else None):
            fix = self._make_fix(i, layer, axes, cand.category, cand.value, cand.output)
            if fix is not None and self._clears(fix, i, kind, axes):
                fixes.append(fix)
        return tuple(fixes)

    def _dry(self) -> tuple[_Inference, ShapeReport]:
        """The whole stack without fixes, once: while walking, the chains reach only up to
        the current layer, and a fix must not break the layers after it either."""
        if self._dry_run is None:
            dry = _Inference(self.spec, with_fixes=False)
            self._dry_run = (dry, dry.report())
        return self._dry_run

    def _make_fix(self, i, layer, axes, category, value, output) -> Fix | None:
        axis_words = "" if len(axes) == 2 else f" {axes[0]}"
        label = f"{category}{axis_words} {value} (→ {output})"
        if category == "input":
            return Fix(label, "input", None, None, tuple((a, value) for a in axes))
        field_name = "size" if category == "kernel" and layer.type != "conv2d" else category
        if field_name == "size":
            label = label.replace("kernel", "size", 1)
        g = geometry(layer)
        current = {"kernel": g.kernel, "size": g.kernel, "stride": g.stride, "padding": g.padding}
        pair = list(current[field_name])
        for a in axes:
            pair[_AXES.index(a)] = value
        return Fix(label, "field", i, field_name, pair[0] if pair[0] == pair[1] else tuple(pair))

    def _clears(self, fix: Fix, i: int, kind: str, axes: tuple[str, ...]) -> bool:
        """Check a fix on the real spec: it applies, layer ``i`` loses that problem, and the
        network as a whole has no more problems than before (the per-axis search cannot
        see, say, a problem shared by both axes splitting in two)."""
        try:
            mended = fix.apply(self.spec)
        except ValueError:  # SpecError: out of range for the catalogue
            return False
        after = _Inference(mended, with_fixes=False).report()
        if len(after.problems) > len(self._dry()[1].problems):
            return False
        row = after.rows[i]
        where = "" if len(axes) == 2 else f"{axes[0]}: "
        return not any(
            p.kind == kind and p.message.startswith(f"{row.label}: {where}") for p in row.problems
        )

    # ---- structural problems
    def _needs_maps(self, i: int, label: str) -> Problem:
        """A conv/pool after the network went flat: offer moving it back before the first
        layer that flattened, when it fits there, or removing it."""
        layers = self.spec.layers
        flat_at = next(
            (j for j in range(i) if layers[j].type in _FLATTENING),
            None,
        )
        fixes = []
        where = ""
        if flat_at is not None:
            where = f" after {layers[flat_at].type} #{flat_at + 1}"
            move = Fix(
                f"move it before {layers[flat_at].type} #{flat_at + 1}", "move", i, value=flat_at
            )
            if self.with_fixes:
                moved = _Inference(move.apply(self.spec), with_fixes=False).report()
                if len(moved.problems) < len(self._dry()[1].problems):
                    fixes.append(move)
        fixes.append(Fix(f"remove {label}", "remove", i))
        return Problem(
            i,
            f"{label}: needs C×H×W feature maps, but its input is a flat vector{where}",
            tuple(fixes),
            "needs_feature_maps",
        )

    def _flat_flatten(self, i: int, label: str, feats: int | None) -> Problem:
        size = f" of {feats}" if feats is not None else ""
        return Problem(
            i,
            f"{label}: its input is already a flat vector{size}; remove it",
            (Fix(f"remove {label}", "remove", i),),
            "flatten_of_flat",
        )

    def _missing_flatten(self, i: int, label: str, c, sizes) -> Problem:
        shape = f"{c}×{sizes['height']}×{sizes['width']}"
        return Problem(
            i,
            f"{label}: needs a flat vector but gets {shape} feature maps; "
            "insert a flatten before it",
            (insert_fix("insert flatten before it", i, LayerSpec.create("flatten")),),
            "missing_flatten",
        )

    def _ending(self, rank: int) -> tuple[Problem, ...]:
        layers = self.spec.layers
        if layers and layers[-1].type == "dense":
            return ()
        ends = f"it ends in {layers[-1].type}" if layers else "it has no layers yet"
        new = [LayerSpec.create("dense", units=10)]
        if rank == 3:
            new.insert(0, LayerSpec.create("flatten"))
        what = " and ".join("flatten" if x.type == "flatten" else "dense 10" for x in new)
        fix = insert_fix(f"append {what}", len(layers), *new)
        return (
            Problem(
                None,
                "network: the last layer must be a dense layer with one unit per class "
                f"(its outputs are the logits); {ends}",
                (fix,),
                "no_final_dense",
            ),
        )
