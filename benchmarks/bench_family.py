"""The engine against PyTorch (CPU) over a family of networks generated from a seed, plus
resnet20 and the three networks of issue 15, in one run.

    .venv/bin/python benchmarks/bench_family.py [--seed 0] [--count 10] [--rounds 5]
    .venv/bin/python benchmarks/bench_family.py --busy     # also beside a CPU-bound neighbour
    .venv/bin/python benchmarks/bench_family.py --only lenet5-tanh-avg --rounds 9
    CNN_WORKBENCH_THREADS=1 .venv/bin/python benchmarks/bench_family.py --cpu-time  # per core

The generated networks (:func:`family`) are drawn from ``--seed``, not picked by hand, yet
cover every layer type of ``engine.layers.LAYER_TYPES`` and the common combinations:
convolutions with and without batch norm, 1×1 / 3×3 / 5×5 kernels, strides 1 and 2, every
activation, every windowed pooling and global average pooling, RGB and grayscale inputs,
residual adds (identity and projection shortcuts), channel concatenations, dense stacks and
dropout. The activations and pools are read from the catalogue by family, so a new type of
those families is drawn automatically; a type of any other family is placed, with its
default fields, into a network of its own (:func:`_cover_rest`), and the run names any type
it could not place.

Per network it times, exactly as :mod:`bench_engine` (whose ``compare`` it calls): a
training step at batch 64 (forward, mean cross-entropy, backward, SGD momentum 0.9) and
inference at batch 256, engine and PyTorch alternating in rounds, medians, the same thread
count and the same weights, PyTorch in a process of its own unless ``--torch-process
shared`` (see :mod:`bench_engine`). Prints images/s, the ratio engine / PyTorch (above 1: the
engine is faster) and the geometric mean of the ratios per task. ``--busy`` repeats the run while a
neighbour process it starts (and stops) spins on one core, and prints both. ``--cpu-time``
times CPU seconds instead of wall seconds: on a machine shared with other work that compares
the work each library does per image, which wall time on a loaded machine does not.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_engine

# isort: split
import numpy as np

import engine
from engine.layers import LAYER_TYPES
from engine.network import warm_up
from engine.shapes import infer_shapes

#: The networks of issue 15's table (resnet20 and bn-cifar come from bench_engine).
LENET5_TANH = {
    "name": "lenet5-tanh-avg",
    "input": {"channels": 1, "height": 32, "width": 32},
    "layers": [
        {"type": "conv2d", "filters": 6, "kernel": 5},
        {"type": "tanh"},
        {"type": "avg_pool2d", "size": 2},
        {"type": "conv2d", "filters": 16, "kernel": 5},
        {"type": "tanh"},
        {"type": "avg_pool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 120},
        {"type": "tanh"},
        {"type": "dense", "units": 84},
        {"type": "tanh"},
        {"type": "dense", "units": 10},
    ],
}
ALL_CONV = {
    "name": "all-conv",
    "input": {"channels": 3, "height": 32, "width": 32},
    "rounding": "floor",  # stride 2 with padding 1 on 32: 16, as in PyTorch
    "layers": [
        {"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "conv2d", "filters": 32, "kernel": 3, "stride": 2, "padding": 1},
        {"type": "relu"},
        {"type": "conv2d", "filters": 64, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "conv2d", "filters": 64, "kernel": 3, "stride": 2, "padding": 1},
        {"type": "relu"},
        {"type": "conv2d", "filters": 10, "kernel": 1},
        {"type": "global_avg_pool"},
    ],
}
FIXED = {
    "resnet20": "resnet20",
    "bn-cifar": bench_engine.BN_CIFAR,
    "lenet5-tanh-avg": LENET5_TANH,
    "all-conv": ALL_CONV,
}


def _types(family: str, spatial: bool | None = None) -> list[str]:
    """Catalogue names of one family (optionally only windowed / only global ones)."""
    return [
        name
        for name, d in LAYER_TYPES.items()
        if d.family == family and (spatial is None or d.spatial == spatial)
    ]


class _Net:
    """A spec under construction: layer dicts with ids, the current channels and size."""

    def __init__(self, name: str, channels: int, size: int):
        self.name, self.layers, self.channels, self.size = name, [], channels, size
        self.input = {"channels": channels, "height": size, "width": size}

    def add(self, layer: dict, inputs=None) -> str:
        layer = dict(layer, id=f"l{len(self.layers)}")
        if inputs is not None:
            layer["inputs"] = list(inputs)
        self.layers.append(layer)
        return layer["id"]

    @property
    def last(self) -> str:
        return self.layers[-1]["id"] if self.layers else "input"

    def spec(self) -> dict:
        return {
            "format": "cnn-workbench/network",
            "version": 2,
            "name": self.name,
            "input": self.input,
            "rounding": "floor",
            "layers": self.layers,
        }


def _activation(name: str, rng) -> dict:
    layer = {"type": name}
    if "slope" in LAYER_TYPES[name].field_names:
        layer["slope"] = float(rng.choice([0.01, 0.1, 0.2]))
    return layer


def _conv_unit(net: _Net, rng, filters, kernel, stride, bn, act, inputs=None) -> str:
    """conv (padding keeps the size at stride 1) [+ batch norm] + activation; returns the
    last id and updates the net's channels and size."""
    pad = kernel // 2
    net.add({"type": "conv2d", "filters": filters, "kernel": kernel, "stride": stride,
             "padding": pad, "bias": not bn}, inputs)  # fmt: skip
    if bn:
        net.add({"type": "batch_norm"})
    net.channels, net.size = filters, (net.size + 2 * pad - kernel) // stride + 1
    return net.add(_activation(act, rng))


def _pool(net: _Net, name: str, rng) -> None:
    layer = {"type": name, "size": 2}
    if "p" in LAYER_TYPES[name].field_names:
        layer["p"] = float(rng.choice([1.0, 2.0]))
    if "padding" in LAYER_TYPES[name].field_names and rng.random() < 0.3:
        layer.update(size=3, stride=2, padding=1)
    net.add(layer)
    net.size = net.size // 2


def _cycle(rng, items: list, count: int) -> list:
    """``count`` draws that use every item at least once when count >= len(items)."""
    out = []
    while len(out) < count:
        out += [items[j] for j in rng.permutation(len(items))]
    return out[:count]


def family(seed: int = 0, count: int = 10) -> list[dict]:
    """``count`` network specs drawn from ``seed``: a stem, two or three blocks (plain
    conv units, residual blocks, concatenations) with pools between them, and a head (global
    average pool, or flatten and a dense stack with dropout). Activations, pools, kernels,
    strides and block kinds cycle through shuffled lists, so with count >= 6 each appears."""
    rng = np.random.default_rng(seed)
    acts = _cycle(rng, _types("activation"), count)
    pools = _cycle(rng, _types("pool", spatial=True), count)
    blocks = _cycle(rng, ["plain", "residual", "concat"], count)
    kernels = _cycle(rng, [1, 3, 5], count)
    heads = _cycle(rng, ["dense", "global"], count)
    inputs = _cycle(rng, [(1, 28), (3, 32), (1, 32), (3, 32)], count)
    nets = []
    for i in range(count):
        act, channels_size = acts[i], inputs[i]
        bn = bool(i % 2) if count > 1 else True
        net = _Net(f"gen{seed}-{i}", *channels_size)
        width = int(rng.choice([8, 16, 32]))
        _conv_unit(net, rng, width, max(3, kernels[i]), 1, bn, act)
        for b in range(int(rng.integers(2, 4))):
            kind = blocks[(i + b) % count]
            kernel = kernels[(i + b) % count]
            stride = 2 if b > 0 and rng.random() < 0.5 and net.size >= 8 else 1
            if kind == "plain":
                _conv_unit(net, rng, width, kernel, stride, bn, act)
            elif kind == "residual":
                before, c0 = net.last, net.channels
                grow = 2 if stride == 2 else 1
                _conv_unit(net, rng, width * grow, kernel, stride, True, act)
                net.add({"type": "conv2d", "filters": width * grow, "kernel": 3, "padding": 1,
                         "bias": False})  # fmt: skip
                main = net.add({"type": "batch_norm"})
                short = before
                if stride != 1 or c0 != width * grow:  # the ResNet paper's projection
                    net.add({"type": "conv2d", "filters": width * grow, "kernel": 1,
                             "stride": stride, "bias": False}, [before])  # fmt: skip
                    short = net.add({"type": "batch_norm"})
                net.add({"type": "add"}, [main, short])
                net.add(_activation(act, rng))
                width *= grow
            else:  # concat of a 1x1 branch and a kernel x kernel branch (Inception-like)
                before = net.last
                size = net.size
                a = _conv_unit(net, rng, width // 2, 1, stride, bn, act, [before])
                net.size = size
                b_id = _conv_unit(net, rng, width // 2, max(3, kernel), stride, bn, act, [before])
                net.add({"type": "concat"}, [a, b_id])
                net.channels = width
            if b == 0 and net.size >= 8:
                _pool(net, pools[i], rng)
        if heads[i] == "global":
            net.add({"type": "conv2d", "filters": 10, "kernel": 1})
            net.add({"type": "global_avg_pool"})
        else:
            net.add({"type": "flatten"})
            for units in rng.choice([64, 128, 256], size=int(rng.integers(1, 3))):
                net.add({"type": "dense", "units": int(units)})
                net.add(_activation(act, rng))
                net.add({"type": "dropout", "rate": float(rng.choice([0.25, 0.5]))})
            net.add({"type": "dense", "units": 10})
        nets.append(net.spec())
    return nets + _cover_rest(nets)


def _cover_rest(nets: list[dict]) -> list[dict]:
    """A network for each catalogue type the family missed: the type with its default
    fields after a conv stem (on maps) or after a dense layer (on a vector), whichever shape
    inference accepts; a multi-input type takes the output before it twice."""
    used = {layer["type"] for spec in nets for layer in spec["layers"]}
    extra = []
    for name, d in LAYER_TYPES.items():
        if name in used:
            continue
        layer = {"type": name} | {
            f.name: f.default for f in d.fields if f.required and f.default is not None
        }
        for flat in (False, True):
            net = _Net(f"cover-{name}", 3, 32)
            src = _conv_unit(net, None, 16, 3, 1, False, "relu")
            if flat:
                net.add({"type": "flatten"})
                src = net.add({"type": "dense", "units": 64})
            net.add(layer, [src] * d.arity[0] if d.multi_input else None)
            if not flat:
                net.add({"type": "flatten"})
            net.add({"type": "dense", "units": 10})
            if not infer_shapes(engine.load_spec(net.spec())).problems:
                extra.append(net.spec())
                break
    return extra


def coverage(specs: list[dict]) -> list[str]:
    """Catalogue types that no spec in ``specs`` uses."""
    used = {layer["type"] for spec in specs for layer in spec["layers"]}
    return [name for name in LAYER_TYPES if name not in used]


def _summary(spec: dict) -> str:
    d = engine.load_spec(spec)
    parts = [f"{d.input.channels}x{d.input.height}"]
    for layer in d.layers:
        text = layer.kind.describe(layer)
        parts.append(f"{layer.type}{'(' + text + ')' if text else ''}")
    return " ".join(parts)


def _geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def bench(specs: dict, rounds: int, seconds: float, label: str, clock=time.perf_counter) -> dict:
    """Time every network; prints a row per network and task; returns {(name, task): ratio}."""
    print(f"\n== {label}: load average before {_load()} on {os.cpu_count()} cores")
    print(f"{'network':<18}{'train engine':>13}{'torch':>9}{'ratio':>7}"
          f"{'infer engine':>14}{'torch':>9}{'ratio':>7}")  # fmt: skip
    ratios = {}
    for name, spec in specs.items():
        row = {task: (ours, theirs) for task, ours, theirs in
               bench_engine.compare(spec, rounds, seconds, clock)}  # fmt: skip
        cells = ""
        for task in ("train", "infer"):
            ours, theirs = row[task]
            ratios[(name, task)] = ours / theirs
            cells += f"{ours:>13.0f}{theirs:>9.0f}{ours / theirs:>7.2f}"
        print(f"{name:<18}{cells}", flush=True)
    for task in ("train", "infer"):
        values = [r for (_, t), r in ratios.items() if t == task]
        below = [n for (n, t), r in ratios.items() if t == task and r < 1.0]
        print(f"geometric mean {task}: {_geomean(values):.2f}  (below 1.0: "
              f"{', '.join(below) or 'none'})")  # fmt: skip
    print(f"load average after: {_load()}")
    return ratios


def _neighbour() -> subprocess.Popen:
    """A CPU-bound process on one core (a busy machine), stopped by the caller."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated family")
    parser.add_argument("--count", type=int, default=10, help="generated networks")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    parser.add_argument("--seconds", type=float, default=3.0, help="budget per task and net")
    parser.add_argument("--busy", action="store_true", help="also run beside a busy neighbour")
    parser.add_argument("--only", nargs="+", help="only these networks (names as printed)")
    parser.add_argument("--list", action="store_true", help="print the networks and stop")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time CPU seconds of the process instead of wall time (images per CPU second; "
        "a busy machine disturbs it far less: use with CNN_WORKBENCH_THREADS=1)",
    )
    bench_engine.add_torch_process_option(parser)
    args = parser.parse_args(argv)
    bench_engine.use_torch_process(args.torch_process)

    generated = family(args.seed, args.count)
    specs = dict(FIXED) | {spec["name"]: spec for spec in generated}
    missing = coverage([engine.load_spec(s).to_dict() for s in specs.values()])
    if args.only:
        unknown = [n for n in args.only if n not in specs]
        if unknown:
            parser.error(f"unknown network(s) {', '.join(unknown)}; --list names them")
        specs = {n: specs[n] for n in args.only}
    for name, spec in specs.items():
        print(f"{name:<18}{_summary(spec)}")
    print(f"layer types not covered: {', '.join(missing) or 'none'}")
    if args.list:
        return 0
    bench_engine.torch.set_num_threads(engine.config.THREADS)
    warm_up()
    print(f"threads: engine {engine.config.THREADS}, torch {bench_engine.torch.get_num_threads()}")
    start = time.perf_counter()
    clock = time.process_time if args.cpu_time else time.perf_counter
    kind = "CPU time" if args.cpu_time else "wall time"
    bench(specs, args.rounds, args.seconds, f"quiet (no neighbour of ours), {kind}", clock)
    if args.busy:
        neighbour = _neighbour()
        try:
            time.sleep(1.0)
            bench(specs, args.rounds, args.seconds,
                  f"busy (a CPU-bound neighbour on one core), {kind}", clock)  # fmt: skip
        finally:
            neighbour.kill()
            neighbour.wait()
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
