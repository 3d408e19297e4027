"""Regenerate the bundled sample: a seeded, class-balanced subset of Fashion-MNIST as PNGs.

    python resources/sample/make_sample.py [IDX_FOLDER] [--train 100] [--test 20] [--seed 0]

IDX_FOLDER defaults to Debian's ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist).
Writes ``train/<k>_<class>/<index>.png`` and ``test/...`` next to this script, where <index>
is the image's position in the original IDX file; the folder is built aside and swapped in,
so an interrupted run leaves the previous sample intact. Same inputs, same files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.data.idx import find_idx, read_idx_file

HERE = Path(__file__).resolve().parent
DEBIAN_PATH = Path("/usr/share/datasets/fashion-mnist")
# Folder names in Fashion-MNIST's label order (0 = T-shirt/top ... 9 = Ankle boot); the
# workbench sorts them alphabetically, which is the label order it stores with a model.
CLASS_FOLDERS = (
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per class, ``per_class`` distinct indices into ``labels``, sorted."""
    return [
        np.sort(rng.choice(np.flatnonzero(labels == k), per_class, replace=False))
        for k in range(len(CLASS_FOLDERS))
    ]


def write_split(out: Path, images: np.ndarray, labels: np.ndarray, per_class: int,
                rng: np.random.Generator) -> int:  # fmt: skip
    count = 0
    for k, chosen in enumerate(pick(labels, per_class, rng)):
        folder = out / CLASS_FOLDERS[k]
        folder.mkdir(parents=True)
        for i in chosen:
            Image.fromarray(images[i], "L").save(folder / f"{i:05d}.png", optimize=True)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("idx_folder", nargs="?", default=str(DEBIAN_PATH))
    parser.add_argument("--train", type=int, default=100, help="images per class in train/")
    parser.add_argument("--test", type=int, default=20, help="images per class in test/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = find_idx(args.idx_folder)
    if source is None or "test" not in source.plan:
        print(f"{args.idx_folder}: no Fashion-MNIST IDX train and t10k files there "
              "(apt-get install dataset-fashion-mnist)", file=sys.stderr)  # fmt: skip
        return 1
    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=HERE))
    try:
        total = 0
        for split, per_class in (("train", args.train), ("test", args.test)):
            img_path, lab_path = source.plan[split]
            total += write_split(tmp / split, read_idx_file(img_path),
                                 read_idx_file(lab_path), per_class, rng)  # fmt: skip
        for split in ("train", "test"):
            old = HERE / split
            if old.exists():
                shutil.rmtree(old)
            os.replace(tmp / split, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in HERE.rglob("*.png"))
    print(f"wrote {total} PNGs, {size / 1024:.0f} KiB, under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
