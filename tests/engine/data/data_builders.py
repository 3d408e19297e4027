"""Builders of small data sets on disk for the data-layer tests: image folders with chosen
sizes and modes (plus broken files), IDX files and CIFAR-10 batches."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def save_image(path: Path, size=(12, 10), mode="RGB", value=None, seed=0, fmt=None) -> Path:
    """Write a random image of ``size`` (width, height) and ``mode`` to ``path``."""
    rng = np.random.default_rng(seed)
    w, h = size
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16))
    elif mode == "P":
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB").quantize(8)
    else:
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        a = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        if value is not None:
            a[...] = value
        img = Image.fromarray(a[..., 0] if channels == 1 else a, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


def make_folder(root: Path, classes: dict[str, int], size=(12, 10), mode="RGB", seed=0) -> Path:
    """``root/<class>/<i>.png`` with ``classes[class]`` distinct random images each."""
    k = seed * 1000
    for name, count in classes.items():
        for i in range(count):
            k += 1
            save_image(root / name / f"{i:03d}.png", size, mode, seed=k)
    return root


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    """An IDX file of uint8 ``array``, gzipped when ``compress``."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_cifar(root: Path, batches: int = 2, per_batch: int = 6, seed: int = 0) -> Path:
    """CIFAR-10 style batches (str keys, protocol 5) plus batches.meta with 3 class names."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i + 1}" for i in range(batches)] + ["test_batch"]
    for name in names:
        batch = {
            "batch_label": name,
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": [int(v) for v in np.arange(per_batch) % 3],
            "filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        (root / name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [b"airplane", b"bird", b"cat"], b"num_vis": 3072}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root
