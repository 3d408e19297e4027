"""Mini-batches for training and evaluation, prepared without per-image Python work.

A batch is gathered with one fancy index into the split's uint8 array (a memory map reads
only those rows), augmented with whole-batch numpy operations, then preprocessed in place to
float32. All randomness of an epoch (the order, the flips, the shifts) is drawn from ``rng``
when ``iter_batches`` is called, before any batch is made: how far a consumer iterates, and
whether a prefetch thread runs ahead, never changes the state ``rng`` is left in, which keeps
a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

import queue
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.data.errors import DatasetError
from engine.data.preprocess import Preprocessing, apply_array

if TYPE_CHECKING:
    from engine.data.split import Split

__all__ = ["Augmentation", "BatchIterator", "augment_batch"]

_POLL_S = 0.1  # how often a blocked prefetch thread looks for a stop request


@dataclass(frozen=True)
class Augmentation:
    """Random changes to training images: ``flip`` mirrors half of them left-right;
    ``shift`` > 0 moves each by up to ``shift`` pixels in x and y (zero padding, then a
    random crop back to size). The default changes nothing."""

    flip: bool = False
    shift: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.shift, int) or isinstance(self.shift, bool) or self.shift < 0:
            raise DatasetError(f"augmentation shift={self.shift!r}: expected pixels >= 0")

    @property
    def enabled(self) -> bool:
        return self.flip or self.shift > 0

    def to_dict(self) -> dict:
        return {"flip": self.flip, "shift": self.shift}

    @classmethod
    def from_dict(cls, data: dict) -> Augmentation:
        """Inverse of ``to_dict``; raises ``DatasetError`` naming an unknown field."""
        unknown = sorted(set(data) - {"flip", "shift"})
        if unknown:
            raise DatasetError(f"augmentation.{unknown[0]}: unknown field (flip, shift)")
        if not isinstance(data.get("flip", False), bool):
            raise DatasetError("augmentation.flip: expected true or false")
        return cls(flip=data.get("flip", False), shift=data.get("shift", 0))

    @classmethod
    def parse(cls, text: str) -> Augmentation:
        """From a command-line value: "none", or a comma list of "flip" and "shift=N"
        (e.g. "flip,shift=4"). Raises ``DatasetError`` quoting the bad item."""
        flip, shift = False, 0
        for item in (s.strip() for s in text.split(",")):
            if item in ("", "none"):
                continue
            if item == "flip":
                flip = True
            elif item.startswith(("shift=", "crop=")) and item.split("=", 1)[1].isdigit():
                shift = int(item.split("=", 1)[1])
            else:
                raise DatasetError(
                    f"--augment item {item!r}: expected 'none', 'flip' or 'shift=N' "
                    "(e.g. --augment flip,shift=4)"
                )
        return cls(flip=flip, shift=shift)


def augment_batch(
    images: np.ndarray, flips: np.ndarray | None, offsets: np.ndarray | None, shift: int
) -> np.ndarray:
    """uint8 (B, C, H, W) -> augmented uint8 (B, C, H, W), a new array.

    ``flips``: bool (B,), mirror those images. ``offsets``: int (B, 2) in [0, 2*shift], the
    (dy, dx) corner of each crop in the zero-padded image; ``shift`` pixels of padding."""
    out = images.copy()
    if flips is not None and flips.any():
        out[flips] = out[flips, :, :, ::-1]
    if offsets is not None and shift > 0:
        b, _, h, w = out.shape
        padded = np.pad(out, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (B, C, dy, dx, H, W)
        out = windows[np.arange(b), :, offsets[:, 0], offsets[:, 1]]
    return out


class BatchIterator:
    """Iterator of ``(x, y)``: x float32 (B, C, H, W) preprocessed, y int64 (B,).

    Made by ``Dataset.iter_batches``. With ``prefetch`` > 0 a daemon thread prepares up to
    that many batches ahead; ``close()`` (or leaving a ``with`` block, or exhausting it)
    stops the thread. ``len()`` is the number of batches."""

    def __init__(
        self,
        split: Split,
        preprocessing: Preprocessing,
        batch_size: int,
        shuffle: bool,
        rng: np.random.Generator | None,
        augment: Augmentation | None,
        drop_last: bool,
        prefetch: int,
    ) -> None:
        if batch_size < 1:
            raise DatasetError(f"batch size {batch_size}: expected 1 or more")
        if (shuffle or (augment is not None and augment.enabled)) and rng is None:
            raise DatasetError("shuffling or augmenting needs an rng (np.random.default_rng)")
        n = len(split)
        self._split, self._pre, self._size = split, preprocessing, batch_size
        self._order = rng.permutation(n) if shuffle else np.arange(n)
        augment = augment or Augmentation()
        self._shift = augment.shift
        self._flips = rng.random(n) < 0.5 if augment.flip else None
        self._offsets = (
            rng.integers(0, 2 * augment.shift + 1, size=(n, 2)) if augment.shift else None
        )
        self._count = n // batch_size if drop_last else -(-n // batch_size)
        self._next = 0
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if prefetch > 0 and self._count > 0:
            self._queue = queue.Queue(maxsize=prefetch)
            self._thread = threading.Thread(
                target=self._produce,
                args=(weakref.ref(self), self._queue, self._stop, self._count),
                name="cnn-workbench-batches",
                daemon=True,
            )
            self._thread.start()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> BatchIterator:
        return self

    def _make(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        sel = slice(k * self._size, (k + 1) * self._size)
        images, labels = self._split.take(self._order[sel])
        if self._flips is not None or self._offsets is not None:
            flips = None if self._flips is None else self._flips[sel]
            offsets = None if self._offsets is None else self._offsets[sel]
            images = augment_batch(images, flips, offsets, self._shift)
        return apply_array(self._pre, images), labels

    @staticmethod
    def _produce(
        ref: weakref.ref[BatchIterator], batches: queue.Queue, stop: threading.Event, count: int
    ) -> None:
        # Only a weak reference between batches: an iterator the consumer dropped is
        # collected, its __del__ sets ``stop``, and this thread ends instead of polling forever.
        for k in range(count):
            it = ref()
            if it is None or stop.is_set():
                return
            try:
                item: object = it._make(k)
            except BaseException as e:  # handed to the consumer, re-raised there
                item = e
            del it
            while not stop.is_set():
                try:
                    batches.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    if ref() is None:
                        return
            if isinstance(item, BaseException):
                return

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        if self._next >= self._count:
            self.close()
            raise StopIteration
        k, self._next = self._next, self._next + 1
        if self._queue is None:
            return self._make(k)
        item = self._queue.get()
        if isinstance(item, BaseException):
            self.close()
            raise item
        if self._next >= self._count:
            self.close()
        return item

    def close(self) -> None:
        """Stop the prefetch thread (if any) and wait for it; further ``next`` stops."""
        self._next = self._count
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> BatchIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if "_stop" in self.__dict__:  # __init__ may have raised before the thread existed
            self.close()
