"""Decode one image file into uint8 pixels of a fixed geometry, the way every reader does.

The same functions serve the folder reader (thousands of files), the IDX/CIFAR readers (arrays
at a native size) and prediction (one file), so a picture given to ``predict`` goes through
exactly the conversion its training images went through: mode -> grayscale or RGB, then
resize ("stretch", "pad" keeping the aspect on black, or "crop" at the center), bilinear.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from engine.data.errors import DatasetError, UnusableImage
from engine.io import UnsafeFile, read_regular_bytes

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_MODES",
    "DecodedFile",
    "Geometry",
    "convert_array",
    "decode_file",
    "decode_file_quietly",
    "exif_upright",
    "image_to_array",
    "pixel_digests",
    "quiet_pillow",
]

#: File name endings read as images (any case). Netpbm (.ppm/.pgm/.pbm/.pnm) is how classic
#: sets ship: GTSRB's traffic signs are .ppm, the ORL/AT&T and Yale faces .pgm.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
     ".ppm", ".pgm", ".pbm", ".pnm", ".tga"}
)  # fmt: skip
RESIZE_MODES = ("stretch", "pad", "crop")

# Modes Pillow can turn into L/RGB. Anything else (a plug-in's exotic mode) is "unreadable".
_PLAIN_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
)
_WIDE_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_EXIF_ORIENTATION = 0x0112
_RESAMPLE = Image.Resampling.BILINEAR
#: Largest image file read: bigger ones are skipped before a byte is read (no real photo or
#: scan in a training set comes near it; /dev/zero behind a link would otherwise fill memory).
MAX_IMAGE_BYTES = 256 * 1024 * 1024
#: Most pixels one image may have: Pillow's own warning threshold (89.5 megapixels), enforced
#: as a refusal. Images above _BIG_PIXELS (16 MP), and files above _BIG_BYTES, are decoded
#: one at a time.
MAX_PIXELS = 89_478_485
_BIG_PIXELS = 16_000_000
_BIG_BYTES = 32 * 1024 * 1024
_BIG_IMAGE = threading.RLock()  # re-entered when a big file is also a big image


@dataclass(frozen=True)
class Geometry:
    """The decoded pixel layout: ``channels`` (1 = grayscale "L", 3 = RGB), ``height`` and
    ``width`` in pixels, and how other sizes are fitted (one of ``RESIZE_MODES``).
    Raises ``DatasetError`` for anything else."""

    channels: int
    height: int
    width: int
    resize: str = "stretch"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise DatasetError(
                f"input channels = {self.channels}: images can be decoded as 1 (grayscale) "
                "or 3 (RGB) channels; set the network's input channels to 1 or 3"
            )
        if self.height < 1 or self.width < 1:
            raise DatasetError(
                f"input size {self.height}x{self.width}: height and width must be positive"
            )
        if self.resize not in RESIZE_MODES:
            raise DatasetError(
                f"resize mode {self.resize!r}: expected one of {', '.join(RESIZE_MODES)}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one decoded image."""
        return (self.channels, self.height, self.width)


@dataclass(frozen=True)
class DecodedFile:
    """What reading one file yields: ``pixels`` uint8 (C, H, W) (None when only checked), the
    native ``size`` (width, height) and ``mode``, and ``digest``, a 64-bit hash of the bytes."""

    pixels: np.ndarray | None
    size: tuple[int, int]
    mode: str
    digest: int


def bytes_digest(data: bytes) -> int:
    """64-bit BLAKE2b of ``data`` as an int: equal for byte-identical files (leakage check)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def pixel_digests(images: np.ndarray) -> np.ndarray:
    """uint64 (N,) 64-bit BLAKE2b of each image's pixel bytes (any (N, ...) uint8 array)."""
    # An explicit row length: reshape(0, -1) cannot infer it for an empty set.
    flat = np.ascontiguousarray(images).reshape(len(images), math.prod(images.shape[1:]))
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(row.data, digest_size=8).digest(), "little")
         for row in flat),
        dtype=np.uint64, count=len(flat),
    )  # fmt: skip


@contextlib.contextmanager
def quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings while images are decoded.

    A file with a damaged TIFF tag or EXIF block still decodes, but Pillow says so with a
    ``UserWarning`` printed as two lines of its own source on stderr, naming no file (and,
    under ``-W error``, raised, which would end the whole read). A huge image is decoded
    like any other (its size is in the report; a bomb is refused as an error). The warning
    filters are process-wide and ``catch_warnings`` is not thread-safe, so this is entered
    once by the thread that starts the decoding, around all of it, never per file on the
    decoding threads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _identify(data: bytes) -> Image.Image:
    """``data`` opened (its header read, no pixel decoded); refused when it is too large."""
    if not data:
        raise UnusableImage("zero bytes")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        raise UnusableImage("not an image (Pillow cannot identify the format)") from None
    except Image.DecompressionBombError as e:
        raise UnusableImage(f"too large to decode safely ({e}); downscale it") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError,
            struct.error, ZeroDivisionError) as e:  # fmt: skip
        raise UnusableImage(f"truncated or corrupt ({e})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        # Checked here, whatever Image.MAX_IMAGE_PIXELS a caller set: Pillow itself only
        # warns up to twice its limit, and a 200 kB PNG may declare 13000x13000 RGBA (676 MB).
        raise UnusableImage(
            f"too large to decode safely: {w}x{h} = {w * h:,} pixels, over the "
            f"{MAX_PIXELS:,} an image may have (a decompression bomb, or far larger than any "
            "network input); downscale it"
        )
    return img


def _load(img: Image.Image) -> Image.Image:
    """Fully decode ``img`` from ``_identify`` (first frame), EXIF orientation applied.
    Callers hold ``quiet_pillow``."""
    try:
        img.load()  # decodes the first frame of a GIF/TIFF; raises if truncated
    except Image.DecompressionBombError as e:
        raise UnusableImage(f"too large to decode safely ({e}); downscale it") from None
    except MemoryError:
        raise UnusableImage("too large to decode in this machine's memory") from None
    # Pillow's format plug-ins raise what their parsers raise on a damaged file (struct.error
    # from a short header, TypeError and IndexError from nonsense tag values): all "corrupt".
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError,
            struct.error, ZeroDivisionError) as e:  # fmt: skip
        raise UnusableImage(f"truncated or corrupt ({e})") from None
    return exif_upright(img)


def exif_upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF orientation tag says; ``img`` itself when it has none, or
    when its EXIF block is damaged (it is metadata: the pixels are still good, and Pillow's
    parser raises SyntaxError, struct.error, ... on it)."""
    try:
        if img.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # any failure to parse optional metadata: use the image as is
        return img


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any readable mode to "L" (channels 1) or "RGB" (channels 3)."""
    target = "L" if channels == 1 else "RGB"
    if img.mode == target:
        return img
    if img.mode in _WIDE_MODES:
        # Pillow's own I;16 -> L clips at 255 instead of scaling; scale the range instead:
        # 16-bit values map 65535 -> 255; floats in [0, 1] map 1.0 -> 255. A file that says
        # it is 16-bit (I;16, or a Netpbm file with a maxval over 255, which Pillow stretches
        # to 0..65535 as mode I) is always scaled, however dark: deciding by each image's
        # own maximum would map the same value to 250 in one picture and 1 in the next.
        # Only mode I of other formats (32-bit TIFF) has no stated range: scaled when it
        # exceeds 255.
        a = np.asarray(img)
        sixteen = img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PPM")
        if img.mode == "F" and float(np.nanmax(a, initial=0.0)) <= 1.0:
            a = a * 255.0
        elif sixteen or (img.mode == "I" and int(a.max(initial=0)) > 255):
            a = a / 257.0
        gray = Image.fromarray(np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8), "L")
        return gray if target == "L" else gray.convert("RGB")
    if img.mode not in _PLAIN_MODES:
        raise UnusableImage(f"unreadable mode {img.mode!r} (cannot convert to {target})")
    try:
        if img.mode in ("P", "PA"):
            # Going through RGBA keeps a palette's transparency handling explicit and silent.
            img = img.convert("RGBA")
        return img.convert(target)
    except (ValueError, OSError) as e:
        # Pillow lists LAB and HSV as modes but cannot convert some of them ("conversion from
        # LAB to RGB not supported"): the file is skipped with its name, like any unusable one.
        raise UnusableImage(f"unreadable mode {img.mode!r} ({e})") from None


def _resize(img: Image.Image, height: int, width: int, resize: str) -> Image.Image:
    if img.size == (width, height):
        return img
    if resize == "stretch":
        return img.resize((width, height), _RESAMPLE)
    if resize == "crop":
        # Cut the centred box of the target's aspect first, then scale it: resampling the
        # box inside the whole image (ImageOps.fit) blends in pixels from outside the crop.
        w, h = img.size
        if w * height > h * width:
            keep = max(1, round(h * width / height))
            box = ((w - keep) // 2, 0, (w - keep) // 2 + keep, h)
        else:
            keep = max(1, round(w * height / width))
            box = (0, (h - keep) // 2, w, (h - keep) // 2 + keep)
        img = img.crop(box)
        return img if img.size == (width, height) else img.resize((width, height), _RESAMPLE)
    fill = 0 if img.mode == "L" else (0, 0, 0)
    return ImageOps.pad(img, (width, height), method=_RESAMPLE, color=fill)


def image_to_array(img: Image.Image, geometry: Geometry) -> np.ndarray:
    """A PIL image of any readable mode and size -> uint8 (C, H, W) at ``geometry``.

    Raises ``UnusableImage`` for a mode that cannot be converted."""
    img = _resize(
        _to_mode(img, geometry.channels), geometry.height, geometry.width, geometry.resize
    )
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def decode_file(path: str | os.PathLike[str], geometry: Geometry | None) -> DecodedFile:
    """Read and decode one file. With ``geometry`` None the file is only checked (decoded,
    hashed, size and mode noted) and ``pixels`` is None. Pillow's warnings are silenced
    (``quiet_pillow``); a thread pool calls ``decode_file_quietly`` inside one instead.

    Raises ``UnusableImage`` (zero bytes, not an image, truncated, unreadable mode, not a
    regular file, over MAX_IMAGE_BYTES) or ``OSError`` when the file cannot be read at all."""
    with quiet_pillow():
        return decode_file_quietly(path, geometry)


def decode_file_quietly(path: str | os.PathLike[str], geometry: Geometry | None) -> DecodedFile:
    """``decode_file`` for a caller that already holds ``quiet_pillow`` (safe on threads).

    Threads decode small files side by side, but never two large ones at once (over
    _BIG_BYTES on disk or _BIG_PIXELS decoded): eight threads on 200 MB files or
    80-megapixel images would hold several GB."""
    try:
        big_file = os.stat(path).st_size > _BIG_BYTES
    except OSError:
        big_file = False  # read_regular_bytes says why
    with _BIG_IMAGE if big_file else contextlib.nullcontext():
        try:
            data = read_regular_bytes(path, MAX_IMAGE_BYTES)
        except UnsafeFile as e:  # a FIFO, a device, a symlink loop, a huge file: never read
            raise UnusableImage(e.reason) from None
        img = _identify(data)
        w, h = img.size
        with _BIG_IMAGE if w * h > _BIG_PIXELS else contextlib.nullcontext():
            try:
                return _decode(img, data, geometry)
            except UnusableImage:
                raise
            except Exception as e:
                # A plug-in's parser or a conversion failing in a way not foreseen above is
                # still one unusable file: the load goes on without it, saying which and why.
                raise UnusableImage(f"cannot be decoded ({type(e).__name__}: {e})") from None


def _decode(img: Image.Image, data: bytes, geometry: Geometry | None) -> DecodedFile:
    img = _load(img)
    size, mode = img.size, img.mode
    if geometry is None:
        if mode not in _PLAIN_MODES and mode not in _WIDE_MODES:
            raise UnusableImage(f"unreadable mode {mode!r} (cannot convert to L or RGB)")
        if mode not in ("L", "RGB") and mode not in _WIDE_MODES:
            # The health check converts exactly as training will, so what it passes,
            # training can use, and what training would skip, it skips for the same reason.
            _to_mode(img, 3)
            _to_mode(img, 1)
        pixels = None
    else:
        pixels = image_to_array(img, geometry)
    return DecodedFile(pixels, size, mode, bytes_digest(data))


def _gray(images: np.ndarray) -> np.ndarray:
    # Pillow's own RGB -> L fixed-point luma (ITU-R 601-2), so arrays and files agree exactly.
    r, g, b = (images[:, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, None]


def convert_array(images: np.ndarray, geometry: Geometry) -> np.ndarray:
    """uint8 (N, C, H, W) with C in {1, 3} -> uint8 (N, geometry.shape).

    Returns ``images`` itself (no copy) when it already has the geometry. Channels are
    converted vectorised; a size change resizes image by image through Pillow, the same
    resampling a single file gets."""
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8:
        raise DatasetError(
            f"images of shape {images.shape} and dtype {images.dtype}: "
            "expected uint8 (N, C, H, W) with C = 1 or 3"
        )
    if images.shape[1:] == geometry.shape:
        return images
    if images.shape[1] != geometry.channels:
        images = _gray(images) if geometry.channels == 1 else np.repeat(images, 3, axis=1)
    if images.shape[2:] == (geometry.height, geometry.width):
        return images
    out = np.empty((len(images), *geometry.shape), dtype=np.uint8)
    mode = "L" if geometry.channels == 1 else "RGB"
    for i, a in enumerate(images):
        img = Image.fromarray(a[0] if mode == "L" else a.transpose(1, 2, 0), mode)
        out[i] = image_to_array(img, geometry)
    return out
