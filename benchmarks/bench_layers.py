"""Per-layer speed against PyTorch CPU: forward and backward of the layers resnet20 and the
batch-norm networks spend their time in, on the same shapes, interleaved in one run.

    .venv/bin/python benchmarks/bench_layers.py [--rounds 5]

Prints milliseconds per call (median over rounds) and the ratio PyTorch / engine (above 1
means the engine is faster) for: 3×3 convolutions of 8, 16, 32 and 64 filters at batch 64
on 32×32, 16×16 and 8×8 maps, a strided one, the same forward with a fused tanh, a residual
add with tanh, batch norm in training mode and a 2×2 max pool on the same maps. Both
libraries run with engine.config.THREADS threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: F401  (sets the thread pools before numpy and torch load BLAS)

# isort: split
import numpy as np

from engine.config import THREADS
from engine.kernels.merge import add_act_forward
from engine.layers import BatchNorm, Conv2D
from engine.layers.max_pool2d import MaxPool2D

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("PyTorch is needed for the comparison: .venv/bin/pip install torch==2.13.0")

BATCH = 64
CASES = [  # (in channels, filters, size, stride)
    (8, 8, 32, 1),
    (16, 16, 32, 1),
    (32, 32, 16, 1),
    (64, 64, 8, 1),
    (16, 32, 32, 2),
]


STAT = statistics.median  # or min (--stat min): the quiet figure on a busy machine


def _median_ms(fn, rounds: int, calls: int = 5) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1000)
    return STAT(times)


def conv_pair(c, k, size, stride, rng):
    ours = Conv2D(c, k, (3, 3), (stride, stride), (1, 1), bias=False)
    ours.params["weight"][...] = rng.standard_normal(ours.params["weight"].shape) * 0.1
    theirs = torch.nn.Conv2d(c, k, 3, stride, 1, bias=False)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["weight"]))
    return ours, theirs


def _rows(c, k, size, stride, rng):
    """The (pass, engine call, torch call) triples of one shape."""
    x = rng.standard_normal((BATCH, c, size, size)).astype(np.float32)
    ours, theirs = conv_pair(c, k, size, stride, rng)
    tx = torch.from_numpy(x)
    y = ours.forward(x, record=True)
    dy = np.ones_like(y)
    tdy = torch.from_numpy(dy)
    name = f"conv {c}->{k} @{size} s{stride}"
    other = y + np.float32(0.5)
    t_other = torch.from_numpy(other)
    rows = [
        ("forward", lambda: ours.forward(x), lambda: theirs(tx)),
        ("fwd+tanh", lambda: ours.forward(x, act="tanh"), lambda: torch.tanh(theirs(tx))),
        ("add+tanh", lambda: add_act_forward([y, other], "tanh"),
         lambda: torch.tanh(torch.from_numpy(y) + t_other)),
        ("backward", lambda: ours.backward(dy),
         lambda: theirs(tx.requires_grad_(True)).backward(tdy)),
    ]  # fmt: skip
    bn = BatchNorm(k)
    tbn = torch.nn.BatchNorm2d(k).train()
    ty = torch.from_numpy(y.copy()).requires_grad_(True)
    bn.forward(y, train=True, record=True)
    rows += [
        ("bn fwd", lambda: bn.forward(y, train=True, record=True), lambda: tbn(ty)),
        ("bn bwd", lambda: bn.backward(dy), lambda: tbn(ty).backward(tdy)),
    ]
    pool = MaxPool2D((2, 2), (2, 2), (0, 0))
    pooled = pool.forward(y, record=True)
    dp, tdp = np.ones_like(pooled), torch.from_numpy(np.ones_like(pooled))
    tpool = torch.nn.MaxPool2d(2)
    rows += [
        ("pool fwd", lambda: pool.forward(y, record=True), lambda: tpool(ty)),
        ("pool bwd", lambda: pool.backward(dp), lambda: tpool(ty).backward(tdp)),
    ]
    return name, rows


#: Backward rows and the forward row whose time comes out of torch's figure for them.
FORWARD_OF = {"backward": "forward", "bn bwd": "bn fwd", "pool bwd": "pool fwd"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="per-call figure over rounds: min is the quiet one on a busy machine")
    args = parser.parse_args(argv)
    global STAT
    STAT = min if args.stat == "min" else statistics.median
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    print(f"threads {THREADS}; batch {BATCH}; ms per call, {args.stat} of {args.rounds} rounds")
    print(f"{'layer':<26}{'pass':<10}{'engine':>9}{'torch':>9}{'torch/engine':>14}")
    for c, k, size, stride in CASES:
        name, rows = _rows(c, k, size, stride, rng)
        for task, mine, ref in rows:
            ours_ms = _median_ms(mine, args.rounds)
            torch_ms = _median_ms(ref, args.rounds)
            if task in FORWARD_OF:
                # torch's timing includes its forward: take it out so both are backward only.
                fwd = next(ref for t, _, ref in rows if t == FORWARD_OF[task])
                torch_ms = max(1e-6, torch_ms - _median_ms(fwd, args.rounds))
            print(f"{name:<26}{task:<10}{ours_ms:>9.2f}{torch_ms:>9.2f}{torch_ms / ours_ms:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
