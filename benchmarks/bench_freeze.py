"""What freezing all but the head saves: a training step's time, frozen / unfrozen, in one run.

    .venv/bin/python benchmarks/bench_freeze.py [--presets resnet20 mnist-2conv] [--rounds 5]

For each preset: one training step (batch 32, forward in training mode + mean cross-entropy
+ backward + SGD momentum update, float32) on the network as it is and on the same network
with every layer but the final dense one frozen (engine.transfer.freeze_up_to). The frozen
network runs its prefix forward without recording (a frozen batch norm folded into the
convolution before it) and skips its backward. Timings alternate between the two in rounds;
each figure is the median over rounds of the mean step time, so a noisy neighbour on a
shared machine hits both alike. Prints both times, the ratio frozen / unfrozen (below 1 is
faster) and the load average.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # sets the thread pools before numpy loads its BLAS

# isort: split
import numpy as np

from engine.network import warm_up
from engine.optim import SGD
from engine.spec import load_spec
from engine.transfer import freeze_up_to


def _step_time(net, opt, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        _, grads = net.loss_and_grads(x, y)
        opt.step(net.parameters(), grads)
    return (time.perf_counter() - start) / steps


def bench(preset: str, batch: int, rounds: int, steps: int) -> tuple[float, float]:
    """(unfrozen, frozen) median seconds per training step."""
    spec = load_spec(preset)
    frozen_spec = freeze_up_to(spec, spec.wiring.ids[-2])
    nets = {"unfrozen": engine.build(spec, 0), "frozen": engine.build(frozen_spec, 0)}
    opts = {k: SGD(0.01, momentum=0.9) for k in nets}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *spec.input.shape)).astype(np.float32)
    y = rng.integers(0, nets["frozen"].num_classes, batch)
    for k, net in nets.items():  # the first steps allocate buffers
        _step_time(net, opts[k], x, y, 1)
    times: dict[str, list[float]] = {k: [] for k in nets}
    for _ in range(rounds):
        for k, net in nets.items():
            times[k].append(_step_time(net, opts[k], x, y, steps))
    return statistics.median(times["unfrozen"]), statistics.median(times["frozen"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["resnet20", "mnist-2conv"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    warm_up()
    print(f"threads {engine.config.THREADS}, batch {args.batch}, median of {args.rounds} rounds")
    for preset in args.presets:
        unfrozen, frozen = bench(preset, args.batch, args.rounds, args.steps)
        print(f"{preset:14s} step unfrozen {unfrozen * 1e3:8.1f} ms  all but the head frozen "
              f"{frozen * 1e3:8.1f} ms  frozen/unfrozen {frozen / unfrozen:.3f}")  # fmt: skip
    with open("/proc/loadavg") as f:
        print("load average:", f.read().strip())


if __name__ == "__main__":
    main()
