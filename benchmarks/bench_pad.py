"""The zero-padded channels-last copy two ways, numba's gather (engine.kernels.conv._pad_block)
and the vector transposes (engine.kernels.nchw_store.pad_nhwc), per call on one thread, on
the group shapes the filter-lane convolutions pad, from hot and from cold memory.

    .venv/bin/python benchmarks/bench_pad.py

"hot" pads the same 64-image batch again and again (in cache after the first call); "cold"
cycles through 64 different source arrays of the group's size (tens of MB: from memory, as
in a network, where the activation padded was written a layer earlier). The last column is
what ``nchw_store.pad_pays`` chooses for the shape. Both ways give the same values (tested
in tests/engine/test_nchw_store.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: F401  (sets the thread pools before numpy loads)

# isort: split
import numpy as np

from engine.kernels import conv, nchw_store

SHAPES = [  # (images in a group, channels, height = width)
    (5, 16, 32),
    (4, 32, 32),
    (2, 32, 64),
    (11, 32, 16),
    (8, 64, 16),
    (11, 64, 8),
    (8, 128, 8),
    (16, 8, 32),
    (2, 16, 48),
]


def _pad(way, x, dst):
    if way == "numba":
        conv._pad_block(x, 0, len(x), 1, 1, dst)
    elif not nchw_store.pad_nhwc(x, 1, 1, dst):
        raise SystemExit(f"pad_nhwc does not take {x.shape}")


def _per_call_us(way, sources, dsts, repeats) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            for i, x in enumerate(sources):
                _pad(way, x, dsts[i % len(dsts)])
        best = min(best, (time.perf_counter() - start) / (repeats * len(sources)) * 1e6)
    return best


def main() -> int:
    rng = np.random.default_rng(0)
    print(f"{'group':<16}{'hot numba':>11}{'hot vector':>12}{'cold numba':>12}"
          f"{'cold vector':>13}  pad_pays   (us a call, best of 3)")  # fmt: skip
    for count, chans, side in SHAPES:
        shape = (count, chans, side, side)
        hot = [rng.random(shape, dtype=np.float32)]
        cold = [rng.random(shape, dtype=np.float32) for _ in range(64)]
        dsts = [np.empty((count, side + 2, side + 2, chans), np.float32) for _ in range(16)]
        for way in ("numba", "vector"):
            _pad(way, hot[0], dsts[0])  # compile / load
        figures = [
            _per_call_us(way, sources, dsts[:1] if sources is hot else dsts, reps)
            for sources, reps in ((hot, 200), (cold, 4))
            for way in ("numba", "vector")
        ]
        name = f"{count}x{chans}x{side}x{side}"
        pays = nchw_store.pad_pays(hot[0])
        print(f"{name:<16}" + "".join(f"{v:>12.1f}" for v in figures) + f"  {pays}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
