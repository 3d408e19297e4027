"""Mini-batches for training and evaluation, prepared without per-image Python work.

A batch is gathered with one fancy index into the split's uint8 array (a memory map reads
only those rows), augmented with whole-batch numpy operations, then preprocessed in place to
float32. All randomness of an epoch (the order, then every augmentation's numbers, see
``engine.data.augment``) is drawn from ``rng`` when ``iter_batches`` is called, before any
batch is made: how far a consumer iterates, and whether a prefetch thread runs ahead, never
changes the state ``rng`` is left in, which keeps a resumed run identical to an
uninterrupted one.
"""

from __future__ import annotations

import queue
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

from engine.data.augment import Augmentation, augment_batch
from engine.data.errors import DatasetError
from engine.data.preprocess import Preprocessing, apply_array

if TYPE_CHECKING:
    from engine.data.split import Split

__all__ = ["Augmentation", "BatchIterator", "augment_batch"]

_POLL_S = 0.1  # how often a blocked prefetch thread looks for a stop request


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
        self._draws = augment.draw(n, rng) if augment.enabled else None
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
        if self._draws is not None:
            images = self._draws.apply(images, sel)
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
