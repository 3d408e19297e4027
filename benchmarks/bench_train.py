"""Training speed and memory of the headless loop; prints one line per figure.

    python benchmarks/bench_train.py [--data /usr/share/datasets/fashion-mnist]
        [--spec mnist-2conv] [--epochs 1] [--batch-size 64] [--limit N] [--json]

Figures, for ``fit`` on the data set (Fashion-MNIST from the Debian package
``dataset-fashion-mnist`` by default):

- ``warm_up`` time (numba kernels loaded from the on-disk cache, or compiled when cold);
- the first step: from the first batch's start to its BatchEnd, kernels already warm;
- per epoch: wall time, training images/s (optimiser steps only) and the whole epoch's
  images/s (validation included);
- peak resident memory of the process (``resource.getrusage``: Python, numpy and the
  memory-mapped data cache pages it touched, all included).

``--limit N`` trains on the first N training images only, for a quick look.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402  (sets the thread pools before numpy loads)
from engine.data import Split, load_dataset  # noqa: E402
from engine.network import warm_up  # noqa: E402
from engine.training import (  # noqa: E402
    BatchEnd,
    EpochEnd,
    Finished,
    TrainConfig,
    default_preprocessing,
    fit,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(FASHION))
    ap.add_argument("--spec", default="mnist-2conv")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only")
    ap.add_argument("--json", action="store_true", help="also print one JSON object")
    args = ap.parse_args(argv)

    spec = engine.load_spec(args.spec)
    t = time.perf_counter()
    ds = load_dataset(args.data, default_preprocessing(spec), val_fraction=0.1, seed=0)
    open_s = time.perf_counter() - t
    if args.limit:
        train = ds.splits["train"]
        splits = {**ds.splits, "train": Split("train", train.source, train.indices[: args.limit])}
        ds = replace(ds, splits=splits)
    t = time.perf_counter()
    warm_up()
    warm_s = time.perf_counter() - t

    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=0.01, momentum=0.9)
    figures: dict[str, object] = {
        "spec": args.spec,
        "train_images": len(ds.splits["train"]),
        "val_images": len(ds.splits["val"]) if "val" in ds.splits else 0,
        "batch_size": args.batch_size,
        "threads": engine.config.THREADS,
        "open_s": round(open_s, 3),
        "warm_up_s": round(warm_s, 3),
    }
    print(
        f"{args.spec} on {ds.source}: {figures['train_images']} train images, "
        f"batch {args.batch_size}, {engine.config.THREADS} threads"
    )
    print(f"data open: {open_s:.2f} s (cached: {ds.cached}); warm_up: {warm_s:.2f} s")
    epoch_start = step_s = None
    first_step: float | None = None
    step_rate = 0.0
    for event in fit(spec, ds, cfg, snapshot_interval_s=None):
        now = time.perf_counter()
        if epoch_start is None:
            epoch_start = step_s = now  # after Started; fit's own warm_up is cached now
            continue
        if isinstance(event, BatchEnd):
            if first_step is None:
                first_step = now - step_s
                print(
                    f"first step (warm kernels, incl. fit's warm_up check): "
                    f"{first_step * 1000:.0f} ms"
                )
            step_rate = event.images_per_s
        elif isinstance(event, EpochEnd):
            wall = now - epoch_start
            n = figures["train_images"]
            figures[f"epoch{event.epoch}_s"] = round(wall, 2)
            figures[f"epoch{event.epoch}_images_per_s"] = round(n / wall, 1)
            figures[f"epoch{event.epoch}_step_images_per_s"] = round(step_rate, 1)
            print(
                f"epoch {event.epoch}: {wall:.1f} s, {n / wall:,.0f} images/s overall, "
                f"optimiser steps at {step_rate:,.0f} images/s (smoothed), train loss "
                f"{event.train_loss:.4f}, val accuracy {event.val_accuracy or 0:.4f}"
            )
            epoch_start = now
        elif isinstance(event, Finished):
            break
    figures["first_step_ms"] = round((first_step or 0.0) * 1000, 1)
    figures["peak_rss_mib"] = round(_peak_mib(), 1)
    print(f"peak resident memory: {figures['peak_rss_mib']:.0f} MiB")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
