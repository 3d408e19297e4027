"""A/B of one engine setting inside one process: a module attribute set to its value (A) and
to another (B) in alternating rounds, on the networks of bench_family, so that a change's
effect is read from one run on a noisy machine instead of from two runs minutes apart.

    .venv/bin/python benchmarks/bench_toggle.py engine.kernels.nchw_store PAD_MIN_VALUES \\
        10**12 --networks all-conv resnet20 [--task train|infer] [--rounds 12]

``value`` is a Python literal (``ast.literal_eval``; ``10**12`` and other integer powers are
accepted as well). Prints per network the median and the minimum milliseconds of a training
step at batch 64 (forward, loss, backward; no optimiser) or of an inference pass at batch
256, for A and B, and A/B (below 1: the current value A is faster). Rounds alternate the
order AB, BA, so a drift in the machine's load biases neither side.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_family

# isort: split
import numpy as np

import engine
from engine.network import build


def _literal(text: str):
    if "**" in text:  # 10**12: an integer power, nothing else
        base, _, power = text.partition("**")
        return int(base) ** int(power)
    return ast.literal_eval(text)


def toggle(module: str, attr: str, value, names, task: str, rounds: int, calls: int = 4):
    """[(name, A ms, B ms, A min, B min)] for each network of ``names``."""
    mod = importlib.import_module(module)
    if not hasattr(mod, attr):
        raise SystemExit(f"{module} has no attribute {attr!r}")
    current = getattr(mod, attr)
    specs = dict(bench_family.FIXED) | {s["name"]: s for s in bench_family.family(0, 10)}
    rows = []
    try:
        for name in names:
            spec = engine.load_spec(specs.get(name, name))
            net = build(spec)
            batch = 64 if task == "train" else 256
            shape = (batch, spec.input.channels, spec.input.height, spec.input.width)
            rng = np.random.default_rng(0)
            x = rng.random(shape, dtype=np.float32)
            y = rng.integers(0, net.num_classes, batch)
            if task == "train":
                step = lambda: net.loss_and_grads(x, y)  # noqa: E731
            else:
                step = lambda: net.forward(x)  # noqa: E731
            times: dict[int, list[float]] = {0: [], 1: []}
            for side in (0, 1, 0, 1):  # compile and settle both
                setattr(mod, attr, current if side == 0 else value)
                step()
            for r in range(rounds):
                for side in (0, 1) if r % 2 == 0 else (1, 0):
                    setattr(mod, attr, current if side == 0 else value)
                    start = time.perf_counter()
                    for _ in range(calls):
                        step()
                    times[side].append((time.perf_counter() - start) / calls * 1000)
            rows.append((name, statistics.median(times[0]), statistics.median(times[1]),
                         min(times[0]), min(times[1])))  # fmt: skip
    finally:
        setattr(mod, attr, current)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="e.g. engine.kernels.nchw_store")
    parser.add_argument("attr", help="a module attribute read at call time")
    parser.add_argument("value", help="the B value, a Python literal")
    parser.add_argument("--networks", nargs="+", default=["all-conv", "resnet20"],
                        help="bench_family names or presets")  # fmt: skip
    parser.add_argument("--task", choices=("train", "infer"), default="train")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    value = _literal(args.value)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.module}.{args.attr}: A = current, B = {value!r}; {args.task}; load {load}")
    for name, a, b, amin, bmin in toggle(args.module, args.attr, value, args.networks,
                                         args.task, args.rounds):  # fmt: skip
        ratios = f"A/B {a / b:.3f} (minimums {amin / bmin:.3f})"
        print(f"{name:<18} A {a:8.2f} ms  B {b:8.2f} ms  {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
