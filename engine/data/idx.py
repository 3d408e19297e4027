"""IDX files (MNIST, Fashion-MNIST, EMNIST...): a folder with train/t10k image and label pairs.

Accepted names, gzipped (``.gz``) or not, case-insensitive::

    train-images-idx3-ubyte   train-images.idx3-ubyte   (t10k- or test- for the test split)
    train-labels-idx1-ubyte   train-labels.idx1-ubyte

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions,
one uint32 per dimension) followed by the raw values; only unsigned bytes (type 0x08) occur in
image sets. EMNIST's files carry its set's name in front (``emnist-letters-train-images-idx3-
ubyte.gz``), store each image transposed (turned upright here) and name their classes in
``<set>-mapping.txt``; a folder may hold one set only. Class names come from a
``classes.txt`` beside the files (one name a line), else EMNIST's mapping, else
Fashion-MNIST's names when the folder's name says "fashion", else "0", "1", ...
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from pathlib import Path

import numpy as np

from engine.data.decoded import (
    Allocate,
    DataSource,
    Decoded,
    checked_class_names,
    class_names_file,
    is_data_file,
)
from engine.data.errors import DatasetError
from engine.data.images import Geometry
from engine.io import regular_file_problem

__all__ = ["FASHION_MNIST_CLASSES", "find_idx", "read_idx", "read_idx_file"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_NAME = re.compile(
    r"^(?:(?P<set>.+)-)?(?P<split>train|t10k|test)-(?P<kind>images|labels)[-.]idx[13]-ubyte"
    r"(?:\.gz)?$",
    re.I,
)
_UBYTE = 0x08


def _idx_files(root: Path) -> list[tuple[re.Match, Path]]:
    """(name match, file) of every IDX file in ``root``. A folder with an IDX file's name
    holding that file (how some download sites unpack: ``train-images-idx3-ubyte/
    train-images-idx3-ubyte``) stands for the file inside it."""
    out = []
    for p in sorted(root.iterdir()):
        m = _NAME.match(p.name)
        if m is None:
            continue
        if is_data_file(p):
            out.append((m, p))
        else:  # a folder
            inner = [q for q in sorted(p.iterdir()) if q.is_file() and _NAME.match(q.name)]
            if len(inner) == 1:
                out.append((_NAME.match(inner[0].name), inner[0]))
    return out


def find_idx(root: str | os.PathLike[str]) -> DataSource | None:
    """The IDX data set in folder ``root``, or None when it holds no IDX file.

    Raises ``DatasetError`` when the files are there but incomplete (no train pair), or
    when they belong to several sets (EMNIST's zip holds six: pick one)."""
    root = Path(root)
    entries = _idx_files(root)
    if not entries:
        return None
    sets = sorted({(m.group("set") or "").lower() for m, _ in entries})
    if len(sets) > 1:
        named = ", ".join(s or "(no prefix)" for s in sets)
        raise DatasetError(
            f"{root}: IDX files of {len(sets)} data sets ({named}); move the files of the one "
            "to train on into a folder of their own"
        )
    found: dict[tuple[str, str], Path] = {}
    for m, p in entries:
        split = "train" if m.group("split").lower() == "train" else "test"
        found.setdefault((split, m.group("kind").lower()), p)
    pairs = {}
    for split in ("train", "test"):
        have = {k for s, k in found if s == split}
        if have == {"images", "labels"}:
            pairs[split] = (found[split, "images"], found[split, "labels"])
        elif have:
            missing = ({"images", "labels"} - have).pop()
            prefix = "train" if split == "train" else "t10k"
            raise DatasetError(
                f"{root}: {found[split, have.pop()].name} has no matching {split} {missing} "
                f"file; add {prefix}-{missing}-idx{1 if missing == 'labels' else 3}-ubyte[.gz]"
            )
    if "train" not in pairs:
        raise DatasetError(
            f"{root}: IDX test files but no train-images/train-labels pair; add the train pair"
        )
    files = tuple(p for pair in pairs.values() for p in pair)
    names = _names_file(root, pairs["train"][0])
    return DataSource(
        kind="idx",
        root=root,
        files=(*files, names) if names is not None else files,
        description=f"IDX files in {root} ({', '.join(pairs)})",
        plan=pairs,
        reader=read_idx,
    )


def _emnist(images_path: Path) -> str | None:
    """EMNIST's set name ("emnist-letters") when ``images_path`` is one of its files."""
    m = _NAME.match(images_path.name)
    name = (m.group("set") or "") if m else ""
    return name if name.lower().startswith("emnist") else None


def _names_file(root: Path, images_path: Path) -> Path | None:
    """``classes.txt``, else EMNIST's ``<set>-mapping.txt``, when there is one."""
    classes = root / "classes.txt"
    if classes.is_file():
        return classes
    emnist = _emnist(images_path)
    mapping = root / f"{emnist}-mapping.txt" if emnist else None
    return mapping if mapping is not None and mapping.is_file() else None


#: Largest expansion accepted from a gzipped IDX file. Real image sets compress 2:1 to 10:1;
#: deflate's ceiling is about 1030:1, reached only by runs of one byte: a bomb, not images.
MAX_GZIP_RATIO = 200
_CHUNK = 1 << 20


def _declared(path: Path, head: bytes) -> tuple[tuple[int, ...], int]:
    """(shape, header bytes) from the first bytes of an IDX stream; DatasetError if bad."""
    if len(head) < 4 or head[:2] != b"\0\0":
        raise DatasetError(f"{path}: not an IDX file (its header does not start with 0x0000)")
    kind, ndim = head[2], head[3]
    if kind != _UBYTE:
        raise DatasetError(
            f"{path}: IDX value type 0x{kind:02x}; only unsigned bytes (0x08) are supported"
        )
    header = 4 + 4 * ndim
    if ndim > 4:
        raise DatasetError(
            f"{path}: IDX header declares {ndim} dimensions; image files have 3 (N x H x W) "
            "or 4, label files 1"
        )
    if ndim < 1 or len(head) < header:
        raise DatasetError(f"{path}: IDX header truncated ({len(head)} bytes)")
    return tuple(int(d) for d in np.frombuffer(head, ">u4", count=ndim, offset=4)), header


def _fill(path: Path, stream, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """Read exactly ``count`` values from ``stream`` into a new array; DatasetError when the
    stream holds fewer or more."""
    out = np.empty(count, dtype=np.uint8)
    view, got = memoryview(out), 0
    while got < count:
        n = stream.readinto(view[got : got + _CHUNK])
        if not n:
            break
        got += n
    extra = stream.read(1)
    if got != count or extra:
        held = f"{got}" if got != count else "more"
        raise DatasetError(
            f"{path}: header says {'x'.join(map(str, shape))} = {count} values but the file "
            f"holds {held}; the file is truncated or corrupt, download it again"
        )
    return out.reshape(shape)


def read_idx_file(path: str | os.PathLike[str]) -> np.ndarray:
    """The uint8 array stored in one IDX file (gzip detected by its magic bytes).

    The header is read first and its declared size checked against the file (raw: its exact
    length; gzip: at most MAX_GZIP_RATIO times the compressed size) and against this
    machine's memory before anything is allocated; the values are then streamed into one
    array, so a 2 MB file cannot inflate to 2 GB. Raises ``DatasetError`` naming the file
    for a non-regular file, a bad header, a type other than unsigned bytes, a size the file
    cannot hold, or a length that does not match the header (a truncated download)."""
    from engine.memory_budget import MemoryBudgetError, check_allocation

    path = Path(path)
    problem = regular_file_problem(path)
    if problem is not None:
        raise DatasetError(f"{path}: {problem}")
    size = path.stat().st_size
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
            shape, header = _declared(path, head)
            count = math.prod(shape)
            if gzipped and count > MAX_GZIP_RATIO * size:
                raise DatasetError(
                    f"{path}: header declares {'x'.join(map(str, shape))} = {count} values "
                    f"from {size} compressed bytes (over {MAX_GZIP_RATIO}:1): a decompression "
                    "bomb, not an image set; download the file again"
                )
            if not gzipped and header + count != size:
                raise DatasetError(
                    f"{path}: header says {'x'.join(map(str, shape))} = {count} values but "
                    f"the file holds {size - header}; the file is truncated or corrupt, "
                    "download it again"
                )
            try:
                check_allocation(count, f"{path}: the header's {'x'.join(map(str, shape))} values")
            except MemoryBudgetError as e:
                raise DatasetError(str(e)) from None
            return _fill(path, stream, count, shape)
        except (OSError, EOFError, zlib.error) as e:
            what = "broken gzip data" if gzipped else "cannot be read"
            raise DatasetError(f"{path}: {what} ({e}); download the file again") from None


def _emnist_names(mapping: Path, n_labels: int) -> tuple[str, ...]:
    """Class names from EMNIST's mapping file: lines "label code [code]" of character codes
    ("10 65 97" names label 10 "Aa"); labels it does not list are named by number."""
    from engine.io import read_regular_bytes

    names = [str(i) for i in range(n_labels)]
    try:
        lines = read_regular_bytes(mapping, 1024 * 1024).decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{mapping}: cannot be read ({e}); lines of 'label code'") from None
    for number, line in enumerate(lines, 1):
        try:
            label, *codes = (int(v) for v in line.split()) if line.strip() else (-1,)
            name = "".join(chr(c) for c in codes)
        except (ValueError, OverflowError) as e:
            raise DatasetError(
                f"{mapping} line {number}: {line[:40]!r} ({e}); expected 'label code'"
            ) from None
        if 0 <= label < n_labels and name:
            names[label] = name
    return checked_class_names(names, str(mapping))


def _fashion(root: Path) -> bool:
    """Whether the folder itself is named for Fashion-MNIST ("fashion-mnist", torchvision's
    "FashionMNIST/raw"): a project folder higher up called "fashion-work" says nothing about
    the digits inside it."""
    folder = root.resolve()
    if folder.name.lower() == "raw":
        folder = folder.parent
    return "fashion" in folder.name.lower()


def _class_names(source: DataSource, n_labels: int) -> tuple[str, ...]:
    names = _names_file(source.root, source.plan["train"][0])
    if names is not None and names.name == "classes.txt":
        return class_names_file(names, n_labels)
    if names is not None:
        return _emnist_names(names, n_labels)
    if _fashion(source.root) and n_labels <= len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES
    return tuple(str(i) for i in range(n_labels))


def _check_shapes(img_path: Path, images: np.ndarray, lab_path: Path, labels: np.ndarray) -> None:
    """Refuse, naming the file, what no image set holds: labels that are not N, images that
    are not N x H x W (x 1 or 3 channels), no image at all, or a zero height or width.
    Checked before any conversion, so the health check and a load refuse the same files."""
    if labels.ndim != 1:
        raise DatasetError(
            f"{lab_path}: labels must be one value per image (N), got "
            f"{'x'.join(map(str, labels.shape))}; is this a labels file?"
        )
    shape = "x".join(map(str, images.shape))
    if images.ndim not in (3, 4):
        raise DatasetError(
            f"{img_path}: images must be N x H x W (or N x H x W x C), got {shape}; "
            "is this an images file?"
        )
    if images.ndim == 4 and images.shape[3] not in (1, 3):
        raise DatasetError(
            f"{img_path}: images are {shape}: {images.shape[3]} channels per pixel, but only 1 "
            "(grayscale) or 3 (RGB) can be read; convert the images to gray or RGB"
        )
    if len(images) == 0:
        raise DatasetError(f"{img_path}: holds no images (header says {shape}); download it again")
    if 0 in images.shape[1:3]:
        raise DatasetError(
            f"{img_path}: images of zero height or width (header says {shape}); the header "
            "is corrupt, download the file again"
        )


def read_idx(source: DataSource, geometry: Geometry | None, allocate: Allocate) -> Decoded:
    """Decode an IDX source found by ``find_idx`` (see ``DataSource.read``)."""
    arrays = {}
    for split, (img_path, lab_path) in source.plan.items():
        images, labels = read_idx_file(img_path), read_idx_file(lab_path)
        _check_shapes(img_path, images, lab_path, labels)
        if len(images) != len(labels):
            raise DatasetError(
                f"{img_path}: {len(images)} images but {lab_path.name} has {len(labels)} "
                "labels; the pair does not belong together"
            )
        if images.ndim == 3 and _emnist(img_path):
            # EMNIST stores each image transposed (column by column), unlike MNIST.
            images = np.ascontiguousarray(images.transpose(0, 2, 1))
        # 3-D IDX is N x H x W grayscale; a 4-D one (rare) is taken as N x H x W x C.
        nchw = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        arrays[split] = (nchw, labels.astype(np.int64))
    n_labels = int(max(lab.max(initial=0) for _, lab in arrays.values())) + 1
    decoded = Decoded("idx", source.root, _class_names(source, n_labels), {})
    for split, (nchw, labels) in arrays.items():
        decoded.add_array_split(split, nchw, labels, geometry, allocate)
    return decoded
