"""``model.py`` of a PyTorch project: the network as PyTorch source a person would write.

    text = model_source(spec)        # a module that imports only torch

The layers' modules are the ones ``LayerDef.torch_module`` builds (the catalogue's PyTorch
knowledge, as ``engine.interop.torch_module`` uses them); each is written back as its
constructor call (:func:`module_source`), read off the module's attributes and checked by
building it again and comparing arguments and tensors. A chain becomes an ``nn.Sequential``
subclass; a graph an ``nn.Module`` that registers each layer under its position ("0", "1",
...) and whose ``forward`` follows the wiring, so either way the ``state_dict`` keys and
shapes are exactly ours ("{position}.weight"). Layers without a module (``torch_call``:
add, concat) are written as the expressions in :data:`CALL_SOURCE`.

torch is imported when this module is.
"""

from __future__ import annotations

import inspect
import keyword
import re
import textwrap

import torch
from torch import nn

from engine.interop.source_text import inert
from engine.shapes import infer_shapes

__all__ = ["CALL_SOURCE", "class_name", "model_source", "module_source"]

#: Layers that are functions of their inputs: the source of their output from the names of
#: their inputs. A new ``torch_call`` layer type needs its line here (the logits tests of
#: tests/engine/test_torch_project.py cover every type of the catalogue).
CALL_SOURCE = {
    "add": lambda xs: " + ".join(xs),
    "concat": lambda xs: f"torch.cat([{', '.join(xs)}], 1)",
}
_SKIPPED_ARGS = {"self", "device", "dtype"}
_RESERVED = {"x", "m", "image", "layer", "self", "torch", "nn"}


# --------------------------------------------------------------------------- one module


def _value(module: nn.Module, name: str):
    if name == "bias":  # the constructor takes a flag, the module keeps a tensor or None
        return getattr(module, "bias", None) is not None
    if not hasattr(module, name):
        return inspect.Parameter.empty
    value = getattr(module, name)
    if isinstance(value, tuple) and value and all(v == value[0] for v in value):
        value = value[0]  # (3, 3) -> 3: what a person writes, and the same module
    return value


def _arguments(cls) -> list[inspect.Parameter]:
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(cls.__init__).parameters.values()
    return [p for p in params if p.name not in _SKIPPED_ARGS and p.kind not in skip]


def _identity(module: nn.Module):
    """What two modules must share to be the same layer: class, constructor arguments as
    read back (a (3, 3) kernel equals 3), tensor names and shapes, and the same for
    children."""
    args = tuple((p.name, _value(module, p.name)) for p in _arguments(type(module)))
    tensors = tuple((k, tuple(v.shape)) for k, v in module.state_dict().items())
    children = tuple(_identity(c) for c in module.children())
    return type(module), args, tensors, children, module.training


def _rebuild(text: str) -> nn.Module:
    with torch.device("meta"):  # no memory for VGG's 100M weights, no initialisation
        # Our own text, made from a module a moment ago; never a file's.
        return eval(text, {"nn": nn})


def module_source(module: nn.Module) -> str:
    """The constructor call that builds ``module`` (a ``torch.nn`` layer, or an
    ``nn.Sequential`` of them), e.g. ``nn.Conv2d(3, 16, kernel_size=3, padding=1,
    bias=False)``: required arguments first (the first two positional), then only the
    keywords that differ from what the constructor would do without them. Raises ValueError
    for a module that is not ``torch.nn``'s or whose arguments cannot be read back (the
    module the text builds differs in an argument, a tensor's name or shape)."""
    cls = type(module)
    if cls is nn.Sequential:
        return f"nn.Sequential({', '.join(module_source(m) for m in module)})"
    if getattr(nn, cls.__name__, None) is not cls:
        raise ValueError(f"{cls.__module__}.{cls.__name__} is not a torch.nn layer")
    positional, keywords = [], {}
    for p in _arguments(cls):
        value = _value(module, p.name)
        if value is inspect.Parameter.empty:
            continue
        if p.default is inspect.Parameter.empty and len(positional) < 2 and not keywords:
            positional.append(value)
        elif p.default is inspect.Parameter.empty or value != p.default:
            keywords[p.name] = value

    def text(kw):
        args = [repr(v) for v in positional] + [f"{k}={v!r}" for k, v in kw.items()]
        return f"nn.{cls.__name__}({', '.join(args)})"

    want = _identity(module)
    # Drop what the constructor fills in by itself (a pool's stride is its kernel size).
    for name in list(keywords):
        fewer = {k: v for k, v in keywords.items() if k != name}
        try:
            if _identity(_rebuild(text(fewer))) == want:
                keywords = fewer
        except (TypeError, ValueError):
            pass
    source = text(keywords)
    if _identity(_rebuild(source)) != want:
        raise ValueError(f"cannot write {module!r} as a constructor call (got {source})")
    return source


# --------------------------------------------------------------------------- names


def class_name(spec) -> str:
    """A Python class name for the network: "ResNet-20" -> "ResNet20", "" -> "Network"."""
    words = re.findall(r"[A-Za-z0-9]+", spec.name or "")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name.isidentifier() or name[0].isdigit():
        name = "Network" + name if name else "Network"
    return name


def _variables(ids) -> list[str]:
    """A distinct Python identifier per layer id ("conv2d_0", "s1b1_out")."""
    seen: set[str] = set(_RESERVED)
    out = []
    for i, raw in enumerate(ids):
        name = re.sub(r"\W", "_", str(raw)) or f"layer{i}"
        if name[0].isdigit() or keyword.iskeyword(name) or name in seen:
            name = f"l{i}_{name}"
        if not name.isidentifier():  # "²" is a word character but no identifier's
            name = f"l{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        seen.add(name)
        out.append(name)
    return out


def _comment(spec, rows, i: int) -> str:
    """ "conv2d_3: 16×32×32, 2,304 parameters" """
    row = rows[i]
    shape = "×".join(str(v) for v in row.output_shape) if row.output_shape else "?"
    params = f", {row.params:,} parameters" if row.params else ""
    frozen = ", frozen" if not spec.layers[i].trainable else ""
    return f"{inert(spec.wiring.ids[i])}: {shape}{params}{frozen}"


def _blocks(spec) -> list[tuple[int, int]]:
    """(first, last) positions of the blocks the comments announce. A block starts where a
    layer takes an output that several layers read (a branch starts) unless the block open
    now has branched without merging yet (the other branches belong to it): a residual block,
    an Inception module, a dense layer each make one, with the layers after their merge."""
    readers = {j: 0 for j in range(-1, len(spec.layers))}
    for i in range(len(spec.layers)):
        for j in set(spec.inputs_of(i)):
            readers[j] += 1
    out, start, branched, merged = [], 0, False, False
    for i, layer in enumerate(spec.layers):
        forks = any(readers[j] > 1 for j in spec.inputs_of(i))
        if forks and i > start and (merged or not branched):
            out.append((start, i - 1))
            start, branched, merged = i, False, False
        branched = branched or forks
        merged = merged or layer.kind.multi_input
    out.append((start, len(spec.layers) - 1))
    return out


def _block_title(spec, number: int, first: int, last: int) -> str:
    """ "block 2: conv2d_3 … s1b1_out; add_8 = s1b1_b_bn + stem_relu" """
    ids = spec.wiring.ids
    span = ids[first] if first == last else f"{ids[first]} … {ids[last]}"
    merges = []
    for i in range(first, last + 1):
        layer = spec.layers[i]
        if layer.kind.multi_input:
            ins = ["input" if j < 0 else ids[j] for j in spec.inputs_of(i)]
            text = " + ".join(ins) if layer.type == "add" else f"{layer.type}({', '.join(ins)})"
            merges.append(f"{ids[i]} = {text}")
    return inert(f"block {number}: {span}" + "".join(f"; {m}" for m in merges))


def _line(code: str, comment: str, indent: int) -> list[str]:
    """``code  # comment`` within 99 columns, else the comment on the line above, and a call
    too long for one line broken inside its outer parentheses."""
    pad = " " * indent
    comment = inert(comment)
    one = f"{pad}{code}  # {comment}" if comment else f"{pad}{code}"
    if len(one) <= 99:
        return [one]
    out = [f"{pad}# {comment}"] if comment else []
    if len(pad + code) <= 99 or "(" not in code:
        return [*out, pad + code]
    head, _, rest = code.partition("(")
    inner, _, tail = rest.rpartition(")")
    return [*out, f"{pad}{head}(", f"{pad}    {inner}", f"{pad}){tail}"]


# --------------------------------------------------------------------------- model.py


def _header(spec, name: str, graph: bool, needs_torch: bool) -> str:
    c, h, w = spec.input.shape
    rows = infer_shapes(spec).rows
    k = rows[-1].output_shape[0]
    params = sum(r.params for r in rows)
    kind = "graph" if graph else "chain"
    title = textwrap.fill(
        f"{inert(spec.name, True) or 'The network'} as a PyTorch module ({kind} of "
        f"{len(spec.layers)} "
        f"layers, {params:,} parameters), written by CNN Workbench from its spec.",
        92,
    )
    about = f"\n{textwrap.fill(inert(spec.description, True), 92)}\n" if spec.description else ""
    return f'''"""{title}
{about}
Parameters are named as CNN Workbench names them: "{{position}}.weight", the layer's place in
the spec, so the exported weights load with strict=True:

    from safetensors.torch import load_file
    model = {name}()
    model.load_state_dict(load_file("weights.safetensors"))

Input: float32 (batch, {c}, {h}, {w}), prepared as train.py prepares it; output: (batch, {k})
logits (no softmax).
"""

{"import torch" + chr(10) if needs_torch else ""}from torch import nn

INPUT_SHAPE = ({c}, {h}, {w})
NUM_CLASSES = {k}
'''


def model_source(spec) -> str:
    """The text of ``model.py`` for ``spec`` (a NetworkSpec whose shapes work out): one
    class named :func:`class_name`, built with no arguments, importing only torch.
    Raises ValueError for a spec with shape problems or a layer that cannot be written."""
    report = infer_shapes(spec)
    if not report.ok:
        raise ValueError(f"the network has problems: {report.problems[0].message}")
    rows = report.rows
    modules = [layer.kind.torch_module(layer, list(rows[i].input_shapes))
               for i, layer in enumerate(spec.layers)]  # fmt: skip
    for i, (layer, m) in enumerate(zip(spec.layers, modules, strict=True)):
        if m is None and layer.type not in CALL_SOURCE:
            raise ValueError(f"layer {i} ({layer.type}) has no PyTorch source form")
    name = class_name(spec)
    graph = not spec.is_chain or any(m is None for m in modules)
    needs_torch = any("torch." in CALL_SOURCE[layer.type](["x"]) for layer, m
                      in zip(spec.layers, modules, strict=True) if m is None)  # fmt: skip
    lines = [_header(spec, name, graph, needs_torch), ""]
    out = lines.append
    if not graph:
        out(f"class {name}(nn.Sequential):")
        out('    """The layers in order; layer i\'s parameters are "i.weight", "i.bias"."""')
        out("")
        out("    def __init__(self):")
        out("        super().__init__(")
        for i, m in enumerate(modules):
            out(f"            # {_comment(spec, rows, i)}")
            out(f"            {module_source(m)},")
        out("        )")
        return "\n".join(lines) + "\n"
    ids = spec.wiring.ids
    names = _variables(ids)
    consumers = spec.wiring.consumers
    out(f"class {name}(nn.Module):")
    out('    """Layers registered under their positions ("0", "1", ...), so their parameters')
    out('    are "i.weight", "i.bias"; forward follows the graph."""')
    out("")
    out("    def __init__(self):")
    out("        super().__init__()")
    out("        layer = self.add_module  # (position, module): the position names its parameters")
    blocks = _blocks(spec)
    for b, (first, last) in enumerate(blocks, 1):
        title = _block_title(spec, b, first, last)
        lines.extend(textwrap.wrap(title, 99, initial_indent=" " * 8 + "# ",
                                   subsequent_indent=" " * 8 + "#   "))  # fmt: skip
        for i in range(first, last + 1):
            if modules[i] is not None:
                code = f'layer("{i}", {module_source(modules[i])})'
                lines.extend(_line(code, _comment(spec, rows, i), 8))
    out("")
    out("    def forward(self, x):")
    out("        m = self._modules")
    n = len(spec.layers)
    # An output read only by the next layer stays in x (as one writes a chain); one read
    # elsewhere too gets its layer's name, and so does the image when more than layer 0 reads it.
    readers = [i for i in range(n) if -1 in spec.inputs_of(i)]
    var = {-1: "x" if readers == [0] else "image"}
    if var[-1] != "x":
        out("        image = x")
    for i in range(n):
        var[i] = "x" if tuple(consumers[i]) in ((i + 1,), ()) else names[i]
    for b, (first, last) in enumerate(blocks, 1):
        out(f"        # block {b}")
        for i in range(first, last + 1):
            args = [var[j] for j in spec.inputs_of(i)]
            if modules[i] is None:
                expr = CALL_SOURCE[spec.layers[i].type](args)
            else:
                expr = f'm["{i}"]({", ".join(args)})'
            # The layer's name is the variable's, or else a comment.
            lines.extend(_line(f"{var[i]} = {expr}", ids[i] if var[i] != names[i] else "", 8))
    out(f"        return {var[n - 1]}")
    return "\n".join(lines) + "\n"
