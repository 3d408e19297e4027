"""Where a residual block's two input gradients are summed: inside the convolution's backward,
each worker adding its chunk while it is in cache (``engine.network._into``), or afterwards
by one numpy add on the calling thread. Times the training step of a network both ways, in
interleaved rounds in one process, and prints the ratio (below 1: the fused sum is faster).

    .venv/bin/python benchmarks/bench_shortcut_sum.py [--spec resnet20] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import engine  # noqa: E402
import engine.network as network  # noqa: E402
from engine.optim import SGD  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="resnet20")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    args = parser.parse_args(argv)
    net = engine.build(args.spec, seed=0)
    opt = SGD(lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, *net.input_shape)).astype(np.float32)
    y = rng.integers(0, net.num_classes, 64)
    fused = network._into
    ways = {"fused": fused, "afterwards": lambda *a: None}

    def step():
        _, grads = net.loss_and_grads(x, y)
        opt.step(net.parameters(), grads)

    for _ in range(8):
        step()
    times: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for r in range(args.rounds):
            for name in list(ways) if r % 2 == 0 else reversed(list(ways)):
                network._into = ways[name]
                start = time.perf_counter()
                for _ in range(args.steps):
                    step()
                times[name].append((time.perf_counter() - start) / args.steps)
    finally:
        network._into = fused
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.spec}, batch 64, {args.rounds} interleaved rounds, load {load}")
    for name, ts in times.items():
        print(f"  sum {name:<10} median {statistics.median(ts) * 1e3:7.1f} ms"
              f"  min {min(ts) * 1e3:7.1f} ms")  # fmt: skip
    a, b = times["fused"], times["afterwards"]
    print(f"fused / afterwards: median {statistics.median(a) / statistics.median(b):.3f}, "
          f"min {min(a) / min(b):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
