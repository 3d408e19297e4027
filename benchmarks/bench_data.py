"""Speed and memory of the data layer; prints one line per figure.

    python benchmarks/bench_data.py [--fashion /usr/share/datasets/fashion-mnist]

1. PNG folder decode throughput (images/s) of ``load_dataset`` without cache, against a
   plain single-threaded Pillow loop over the same files (the ratio is what the thread pool
   and the array plumbing buy): the bundled 28x28 sample and a generated folder of 96x96 RGB.
2. Fashion-MNIST (70,000 images) open time, cold (empty cache: gunzip, decode, write the
   cache) and cached (second open), each in a fresh process, with its peak resident memory
   (``resource.getrusage``, so the numbers are the whole process, Python and numpy included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from engine.data import Preprocessing, load_dataset  # noqa: E402

SAMPLE = ROOT / "resources" / "sample"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reference_decode(files: list[Path], size: tuple[int, int], mode: str) -> float:
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as img:
            np.asarray(img.convert(mode).resize(size, Image.Resampling.BILINEAR))
    return time.perf_counter() - start


def bench_decode(folder: Path, pre: Preprocessing, label: str) -> None:
    files = sorted(folder.rglob("*.png"))
    start = time.perf_counter()
    ds = load_dataset(folder, pre, val_fraction=0.0, cache=False)
    ours = time.perf_counter() - start
    n = sum(len(s) for s in ds.splits.values())
    ref = _reference_decode(files, (pre.width, pre.height), "L" if pre.channels == 1 else "RGB")
    print(
        f"decode {label}: {n} PNGs in {ours:.3f} s = {n / ours:,.0f} images/s "
        f"(plain Pillow loop {len(files) / ref:,.0f} images/s, ratio {ref / ours:.2f}x)"
    )


def _generated_folder(base: Path, count: int = 1000) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = base / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        # Smooth random pictures compress like photos do, unlike pure noise.
        small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 96), Image.Resampling.BICUBIC).save(
            folder / f"{i:04d}.png"
        )
    return base


def child(path: str, cache_dir: str) -> None:
    """Run in a fresh process: open the data set once, print time and peak memory as JSON."""
    start = time.perf_counter()
    ds = load_dataset(path, Preprocessing(1, 28, 28), val_fraction=0.1, cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    n = sum(len(s) for s in ds.splits.values())
    print(json.dumps({"seconds": seconds, "images": n, "cached": ds.cached,
                      "peak_mib": _peak_mib()}))  # fmt: skip


def bench_open(path: Path) -> None:
    if not path.is_dir():
        print(f"fashion-mnist: {path} missing (apt-get install dataset-fashion-mnist); skipped")
        return
    with tempfile.TemporaryDirectory() as cache_dir:
        results = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), cache_dir],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(out.stdout))
    cold, warm = results
    assert not cold["cached"] and warm["cached"]
    base = subprocess.run(
        [sys.executable, "-c", "import resource, numpy, PIL.Image, engine.data; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    print(f"fashion-mnist open, cold:   {cold['seconds']:.3f} s for {cold['images']} images, "
          f"peak {cold['peak_mib']:.0f} MiB")  # fmt: skip
    print(f"fashion-mnist open, cached: {warm['seconds']:.3f} s, peak {warm['peak_mib']:.0f} MiB "
          f"(cold/cached {cold['seconds'] / warm['seconds']:.1f}x; "
          f"imports alone peak {float(base.stdout):.0f} MiB)")  # fmt: skip


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion", type=Path, default=FASHION)
    args = parser.parse_args()
    bench_decode(SAMPLE, Preprocessing(1, 28, 28), "sample 28x28 L")
    with tempfile.TemporaryDirectory() as tmp:
        folder = _generated_folder(Path(tmp) / "gen")
        bench_decode(folder, Preprocessing(3, 32, 32), "generated 96x96 RGB -> 32x32")
    bench_open(args.fashion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
