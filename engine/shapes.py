"""Shape inference: every layer's output shape, parameters, multiply-adds and memory, with
the arithmetic shown and every problem found, each with one-click fixes (contract).

    report = infer_shapes(spec)      # never raises
    for row in report: row.label, row.output_shape, row.params, row.formula, row.problems

The walk follows the graph in list order (engine.graph); each layer type's own rule, in its
module of engine/layers/, computes its output, costs and formula, and reports its problems
through :class:`_Context`, which also does the window arithmetic that conv and every pool
share. Per axis a window maps n to (n − F + 2P)/S + 1 (engine.kernels.geometry). With the
spec's default rounding ("exact", the tutorials' rule) a result that is not a whole number
is a problem, for pools as much as for convs; with "floor" it is rounded down as PyTorch
does, and a note says which rows and columns no window covers. To keep later rows
informative a fractional size is rounded down either way; a window larger than its padded
input leaves the size unknown (None) from there on.

Counting conventions: a conv has F·F·C·K + K parameters (F·F·C·K without bias) and
K·C·F·F·Ho·Wo multiply-adds; a dense layer in·out + out parameters and in·out multiply-adds;
batch norm 2·C trainable parameters plus 2·C running statistics, reported apart as
``buffers`` (Keras' "non-trainable"). Memory is float32 (4 bytes): a row's memory is its
output activation; ``total_memory`` adds the input image, as training keeps every activation
of every branch for the backward pass.
"""

from __future__ import annotations

import math

from engine.fixes import EVEN_SAME, NOT_WHOLE, WINDOW, Fix, Link, insert_fix, search, step
from engine.graph import unused_branch
from engine.layers.definition import Tensor
from engine.merge_fixes import merge_fixes
from engine.shape_report import BYTES, LayerRow, Problem, Shape, ShapeReport
from engine.spec import LayerSpec, NetworkSpec, field_problems, geometry

__all__ = ["Fix", "LayerRow", "Problem", "ShapeReport", "infer_shapes", "num"]

_AXES = ("height", "width")
#: Fix checks per inference pass: each re-infers the whole graph, so their number shrinks
#: as the graph grows (about this many layer visits in all: 58 checks for DenseNet-121's
#: 430 layers, none for a hostile 100,000).
_CHECK_WORK = 25_000
#: Next-nearest values tried per field when the network refuses the nearest (a kernel of 8
#: that would leave the pool after it a 1×1 input, where 7 fits).
_SPARE = 2


#: The last few (spec, report) pairs, newest first. Specs and reports are immutable, so the
#: same spec object has the same report: the GUI's document and whatever else asks about the
#: spec it shows (the memory budget, the training estimate) share one inference per edit.
_RECENT: tuple[tuple[NetworkSpec, ShapeReport], ...] = ()
_KEEP = 4


def infer_shapes(spec: NetworkSpec) -> ShapeReport:
    """Rows, problems and fixes for ``spec``. Never raises; a spec that cannot be read at all
    gives an empty report with one problem. Asked again for the same spec object (not an
    equal one: comparing would cost what it saves), it returns the same report."""
    global _RECENT
    recent = _RECENT
    for seen, report in recent:
        if seen is spec:
            return report
    try:
        report = _Inference(spec, with_fixes=True).report()
    except Exception as e:  # the GUI calls this on every keystroke: it must not fall over
        shape = _input_shape(spec)
        return ShapeReport(shape, (), (Problem(None, f"network: cannot be read ({e})"),))
    _RECENT = ((spec, report), *recent[: _KEEP - 1])  # one assignment: safe across threads
    return report


_UNKNOWN_MAPS = Tensor.maps(None, None, None)
#: The fields a fix may set without touching the wiring (``_Inference._reusable``).
_WINDOW_FIELDS = frozenset({"kernel", "size", "stride", "padding", "dilation", "filters", "units"})


def _checked_result(result):
    """``result``, once its sizes and counts are whole numbers (None: unknown sizes)."""
    t = result.output
    sizes = (t.channels, t.height, t.width, t.features)
    counts = (result.params, result.macs, result.buffers)
    if not all(v is None or _whole(v) for v in sizes) or not all(map(_whole, counts)):
        raise ValueError(f"sizes {t.text()} or counts {counts} are not whole numbers")
    return result


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


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


class _Context:
    """What one layer's shape rule may ask and report (engine.layers.definition.RuleContext)."""

    def __init__(self, inference: _Inference, index: int, label: str):
        self.inference = inference
        self.index = index
        self.label = label
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.path: list[Link] = []  # this layer's links per axis, set by window()
        self._approved: list[Fix] = []  # fixes merge_fixes checked already (with their target)

    # ---- reporting
    def problem(self, text: str, kind: str, fixes: tuple = ()) -> None:
        """Report a problem of this layer; only the ``fixes`` that are checked to clear it
        without adding another are kept (engine.shapes._Inference.checked)."""
        inference = self.inference
        fixes = (
            tuple(
                f
                for f in fixes
                if any(f is g for g in self._approved) or inference.checked(f, self.index, kind)
            )
            if inference.with_fixes
            else ()
        )
        self.problems.append(Problem(self.index, f"{self.label}: {text}", fixes, kind))

    def note(self, text: str) -> None:
        self.notes.append(f"{self.label}: {text}")

    # ---- fixes, as data (checked by the caller where they could fail)
    def layer(self, type: str, **fields) -> LayerSpec:
        return LayerSpec.create(type, **fields)

    def fix_insert(self, label: str, index: int, *layers: LayerSpec) -> Fix:
        return insert_fix(label, index, *layers)

    def fix_remove(self, label: str) -> Fix:
        return Fix(label, "remove", self.index)

    def fix_field(self, label: str, index: int, field: str, value) -> Fix:
        return Fix(label, "field", index, field, value)

    def merge_fixes(self, kind: str, inputs: list[Tensor]) -> tuple[Fix, ...]:
        """Fixes for an add (kind "add") or concat ("concat") whose inputs do not match."""
        if not self.inference.with_fixes:
            return ()
        found = merge_fixes(self.inference, self.index, kind, inputs)
        self._approved.extend(found)
        return found

    # ---- the window arithmetic of conv and pools
    def window(self, layer, g, same: bool, stride_follows: bool, tensor: Tensor):
        return self.inference.window(self, layer, g, same, stride_follows, tensor)


class _Inference:
    """One pass over the graph. Tracks the rank (3: feature maps, 1: a vector) apart from
    the sizes, so structural problems are found even where sizes are unknown."""

    def __init__(self, spec: NetworkSpec, with_fixes: bool, reuse=None):
        """``reuse``: (an inference without fixes of a spec whose input and layers before
        index k are these, k): the rows of those layers are taken from it, not walked again
        (a fix checked on a field of layer k; see ``_check``)."""
        self.spec = spec
        self.with_fixes = with_fixes
        self._reuse = reuse
        self.input = _input_shape(spec)
        self.wiring = spec.wiring
        # Per layer output: the conv/pool links along its first-input path, per axis (the
        # chain the per-axis fix search walks); index -1 is the input's empty path.
        self.paths: dict[int, dict[str, list[Link]]] = {-1: {a: [] for a in _AXES}}
        self.outputs: dict[int, Tensor] = {}
        self.rows: list[LayerRow] = []
        self._dry_run: tuple[_Inference, ShapeReport] | None = None
        self._verdicts: dict[tuple, bool] = {}  # checked() once per fix and problem
        self._origins: dict[int, int | None] = {}  # _flat_origin's memo
        self._checks_left = _CHECK_WORK // max(1, len(spec.layers))

    # ---- the walk
    def report(self) -> ShapeReport:
        c, h, w = self.input
        self.outputs[-1] = Tensor.maps(c, h, w)
        wiring_problems: dict[int, list] = {}
        for p in self.wiring.problems:
            wiring_problems.setdefault(p.layer, []).append(p)
        done, upto = self._reuse if self._reuse is not None else (None, 0)
        for i, layer in enumerate(self.spec.layers):
            if i < upto:  # the same layers on the same input: the same rows
                self.outputs[i], self.paths[i] = done.outputs[i], done.paths[i]
                self.rows.append(done.rows[i])
                continue
            label = f"{layer.type} #{i + 1}"
            ctx = _Context(self, i, label)
            sources = self.wiring.inputs[i]
            ins = [self.outputs[j] for j in sources if j in self.outputs]
            self.paths[i] = self.paths[sources[0]] if sources else self.paths[-1]
            for p in wiring_problems.get(i, ()):
                fixes = (self._remove_unused(i, label),) if p.kind == "dangling" else ()
                ctx.problem(p.message, p.kind, fixes)
            result = None
            bad = field_problems(layer)
            try:
                if bad:  # built around validation: its numbers are not to be computed with
                    ctx.problem(f"its fields cannot be read ({bad[0]})", "bad_fields")
                    out, formula = Tensor.flat(None), ""
                elif not ins and not (layer.kind.spatial or layer.kind.needs_maps):
                    out, formula = Tensor.flat(None), "no input"
                elif not ins:
                    # Every input is an unknown id (reported): feature maps of unknown size,
                    # so that the layers after it are not also told their input went flat.
                    result = _checked_result(layer.kind.infer(ctx, layer, [_UNKNOWN_MAPS]))
                    out, formula = result.output, "no input"
                elif layer.kind.needs_maps and any(x.rank == 1 for x in ins):
                    ctx.problems.append(self._needs_maps(i, label))
                    out, formula = (
                        Tensor.flat(None),
                        (f"{layer.type} needs C×H×W feature maps, but its input is a flat vector"),
                    )
                else:
                    result = _checked_result(layer.kind.infer(ctx, layer, ins))
                    out, formula = result.output, result.formula
            # A layer built around validation (LayerSpec(...) with a stride of "x", a
            # kernel of 0) still gets its row, with the problem on it.
            except Exception as e:
                ctx.problem(f"its fields cannot be read ({e})", "bad_fields")
                out, formula, result = Tensor.flat(None), "", None
            self.outputs[i] = out
            out_shape = out.shape
            memory = BYTES * math.prod(out_shape) if out_shape else 0
            self.rows.append(
                LayerRow(
                    i, layer.type, label, ins[0].shape if ins else None, out_shape,
                    result.params if result else 0, result.macs if result else 0, memory,
                    formula, tuple(ctx.problems), result.buffers if result else 0,
                    tuple(sources), tuple(x.shape for x in ins), tuple(ctx.notes),
                    layer.trainable,
                )
            )  # fmt: skip
        last = self.outputs.get(len(self.spec.layers) - 1)
        return ShapeReport(self.input, tuple(self.rows), self._ending(last))

    # ---- windows (conv and every pool)
    def window(self, ctx: _Context, layer, g, same: bool, follows: bool, tensor: Tensor):
        """Both axes of a conv/pool: output sizes and the formula; its problems (with fixes)
        or, with floor rounding, its notes go to ``ctx``."""
        i = ctx.index
        links = {
            a: Link(i, g.kernel[j], g.stride[j], g.padding[j], same, follows)
            for j, a in enumerate(_AXES)
        }
        before = self.paths[i]
        pos = len(before["height"])
        self.paths[i] = {a: [*before[a], links[a]] for a in _AXES}
        sizes = tensor.sizes
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
                if kind not in found[axes[0]]:
                    continue
                if kind == NOT_WHOLE and self.spec.floor_rounding:
                    ctx.note(self._uncovered(links, sizes, axes))
                    continue
                ctx.problems.append(
                    self._window_problem(i, ctx.label, layer, links, sizes, axes, pos, kind)
                )
        return outs, formula

    @staticmethod
    def _uncovered(links, sizes, axes) -> str:
        """Which input rows/columns a floor-rounded window never reaches."""
        a = axes[0]
        link, n = links[a], sizes[a]
        numer = n - link.kernel + 2 * link.padding
        left = numer % link.stride  # padded rows/columns at the end that no window reaches
        real = left - link.padding
        what = {"height": "rows", "width": "columns"}[a] if len(axes) == 1 else "rows and columns"
        if real == 1:
            single = what.replace("rows", "row").replace("columns", "column")
            tail = f"the last input {single} ({n - 1}) never reaches a window"
        elif real > 1:
            tail = f"the last {real} input {what} ({n - real}–{n - 1}) never reach a window"
        else:
            tail = f"only padding {what} are left out"
        where = "" if len(axes) == 2 else f"{a}: "
        exact = num(numer / link.stride + 1)
        return f"{where}{exact} is rounded down (floor rounding, as PyTorch): {tail}"

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
        local = [f.label for f in fixes if f.action != "rounding"]
        if local:
            text += f"; {_either(local)} {goal}"
        if len(local) < len(fixes):
            text += "; or round down like PyTorch (floor rounding)"
        return Problem(i, f"{label}: {where}{text}", fixes, kind)

    def _window_fixes(self, i, layer, axes, pos, kind, exact) -> tuple[Fix, ...]:
        n0 = dict(zip(_AXES, self.input[1:], strict=True))
        chains = self._chain_through(i)
        fixes = []
        settled: dict[str, int] = {}  # field -> the rank whose values passed the check
        found = search(n0, chains, axes, pos, kind, exact if kind == NOT_WHOLE else None,
                       spare=_SPARE)  # fmt: skip
        for cand in found:
            if settled.get(cand.category, cand.rank) < cand.rank:
                continue  # a nearer value of this field already passed
            fix = self._make_fix(i, layer, axes, cand.category, cand.value, cand.output)
            if fix is not None and self._clears(fix, i, kind, axes):
                fixes.append(fix)
                settled[cand.category] = cand.rank
        if kind == NOT_WHOLE:
            floor = Fix("round down like PyTorch", "rounding", value="floor")
            if self._clears(floor, i, kind, axes):
                fixes.append(floor)
        return tuple(fixes)

    def _chain_through(self, i: int) -> dict[str, list[Link]]:
        """The per-axis links of the longest first-input path through layer ``i`` (from the
        run without fixes, so the layers after it count too)."""
        dry = self._dry()[0]
        mine = dry.paths[i]
        best = mine
        for path in dry.paths.values():
            h = path["height"]
            if len(h) > len(best["height"]) and h[: len(mine["height"])] == mine["height"]:
                best = path
        return best

    def _dry(self) -> tuple[_Inference, ShapeReport]:
        """The whole graph without fixes, once: while walking, the paths reach only up to
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
        field_name = category
        if category == "kernel" and "kernel" not in layer.kind.field_names:
            field_name = "size"
            label = label.replace("kernel", "size", 1)
        if field_name not in layer.kind.field_names:
            return None
        g = geometry(layer)
        current = {"kernel": g.kernel, "size": g.kernel, "stride": g.stride, "padding": g.padding}
        pair = list(current[field_name])
        for a in axes:
            pair[_AXES.index(a)] = value
        return Fix(label, "field", i, field_name, pair[0] if pair[0] == pair[1] else tuple(pair))

    def checked(self, fix: Fix, i: int, kind: str, where: str = "", target=None) -> bool:
        """Check a fix on the real spec: it applies, layer ``i`` (at position ``target`` in
        the mended spec, when the fix moves it) loses its ``kind`` problem (on the axis
        ``where`` names, if any), and the network as a whole has fewer problems than before
        (none new). A removal takes the layer's problems with it: it must only add none
        elsewhere (removing a concat hands its consumer every one of its inputs, which may be
        too many)."""
        key = (fix, i, kind, where, target)
        try:
            verdict = self._verdicts.get(key)
        except TypeError:  # a fix whose value cannot be hashed: checked every time
            key, verdict = None, None
        if verdict is None:
            if not self._spend():
                return False
            verdict = self._check(fix, i, kind, where, target)
            if key is not None:
                self._verdicts[key] = verdict
        return verdict

    def _reusable(self, fix: Fix):
        """What a check of ``fix`` may take from the dry run: a fix that sets a window field
        of layer k leaves the input, the wiring and the layers before k as they are, so
        their rows are the dry run's (resnet50: a kernel typed that breaks an add is checked
        against ~5 fixes, each a walk of the whole graph: 13 of the report's 16 ms)."""
        if fix.action != "field" or fix.field not in _WINDOW_FIELDS or fix.layer is None:
            return None
        return self._dry()[0], fix.layer

    def _check(self, fix: Fix, i: int, kind: str, where: str, target) -> bool:
        try:
            mended = fix.apply(self.spec)
        except (ValueError, IndexError):  # SpecError: out of range; or no longer fits
            return False
        after = _Inference(mended, with_fixes=False, reuse=self._reusable(fix)).report()
        # The problem must go without another taking its place (an even kernel under "same"
        # padding, a pool padded past half its window, a mismatch further on): fewer in all.
        if len(after.problems) >= len(self._dry()[1].problems):
            return False
        if target is None and len(mended.layers) < len(self.spec.layers):
            return True  # a removal (of one layer, or of an unused branch) took its problem
        if target is None:
            shifted = fix.action == "insert" and fix.layer is not None and fix.layer <= i
            target = i + (len(mended.layers) - len(self.spec.layers) if shifted else 0)
        if target >= len(after.rows):
            return True
        row = after.rows[target]
        return not any(
            p.kind == kind and p.message.startswith(f"{row.label}: {where}") for p in row.problems
        )

    def _clears(self, fix: Fix, i: int, kind: str, axes: tuple[str, ...]) -> bool:
        return self.checked(fix, i, kind, "" if len(axes) == 2 else f"{axes[0]}: ")

    # ---- structural problems
    def _remove_unused(self, i: int, label: str) -> Fix:
        """Remove the unused layer ``i`` with the layers that only feed it (removing it alone
        would leave the one before it unused, the same problem one layer up)."""
        gone = unused_branch(self.wiring, i)
        if len(gone) == 1:
            return Fix(f"remove {label}", "remove", i)
        spec = self.spec
        try:
            for j in gone:
                spec = spec.remove_layer(j)
        except (ValueError, IndexError):  # a wiring too broken to edit: the layer alone
            return Fix(f"remove {label}", "remove", i)
        rest = len(gone) - 1
        feeding = (
            f"the {rest} layers that only feed it" if rest > 1 else "the layer that only feeds it"
        )
        return Fix(f"remove {label} and {feeding}", "layers", value=spec.layers)

    def _flat_origin(self, at: int) -> int | None:
        """The layer on the first-input path ending at ``at`` (itself included) whose output
        went flat while its input was feature maps; None if there is none. Remembered per
        layer, so a long run of layers after a flatten costs one walk, not one each."""
        memo, path, found = self._origins, [], None
        while at >= 0 and at not in memo:
            sources = self.wiring.inputs[at]
            if self._rank(at) == 1 and sources and self._rank(sources[0]) == 3:
                found = at
                break
            path.append(at)
            if not sources:
                break
            at = sources[0]
        else:
            found = memo.get(at)
        memo.update(dict.fromkeys(path, found))
        if found is not None:
            memo[found] = found
        return found

    def _rank(self, j: int) -> int:
        out = self.outputs.get(j)
        return out.rank if out is not None else 1

    def _spend(self) -> bool:
        """Take one full-graph check from this pass's budget; False once it is spent (a
        hostile graph with a problem on each of thousands of layers would otherwise take
        minutes: its remaining fixes are then not offered, never offered unchecked)."""
        self._checks_left -= 1
        return self._checks_left >= 0

    def _needs_maps(self, i: int, label: str) -> Problem:
        """A conv/pool after the network went flat: offer moving it back before the first
        layer on its path that flattened, when it fits there, or removing it."""
        layers = self.spec.layers
        sources = self.wiring.inputs[i]
        flat_at = self._flat_origin(sources[0]) if sources else None
        fixes = []
        where = ""
        if flat_at is not None:
            where = f" after {layers[flat_at].type} #{flat_at + 1}"
            move = Fix(
                f"move it before {layers[flat_at].type} #{flat_at + 1}", "move", i, value=flat_at
            )
            if self.with_fixes and self._spend():
                moved = _Inference(move.apply(self.spec), with_fixes=False).report()
                if len(moved.problems) < len(self._dry()[1].problems):
                    fixes.append(move)
        remove = Fix(f"remove {label}", "remove", i)
        if self.with_fixes and self.checked(remove, i, "needs_feature_maps"):
            fixes.append(remove)
        return Problem(
            i,
            f"{label}: needs C×H×W feature maps, but its input is a flat vector{where}",
            tuple(fixes) if self.with_fixes else (),
            "needs_feature_maps",
        )

    def _ending(self, last: Tensor | None) -> tuple[Problem, ...]:
        layers = self.spec.layers
        if layers and layers[-1].kind.ends_network and last is not None and last.rank == 1:
            return ()
        ends = f"it ends in {layers[-1].type}" if layers else "it has no layers yet"
        new = [LayerSpec.create("dense", units=10)]
        if last is None or last.rank == 3:
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
