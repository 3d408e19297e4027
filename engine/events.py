"""The frozen events ``engine.training.fit`` yields (contract). Every array is a copy, so a
GUI thread may keep them while training goes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Started:
    """The run begins. Epochs are 1-based: ``start_epoch`` is the first epoch this call runs
    (1 for a new run, later when resuming), ``start_batch`` the batches of it already done.
    ``health`` is the data's HealthReport (or None when the caller gave arrays without one)."""

    total_epochs: int
    start_epoch: int
    batches_per_epoch: int
    num_train: int
    num_val: int
    num_test: int
    class_names: tuple[str, ...]
    health: Any
    start_batch: int = 0


@dataclass(frozen=True)
class BatchEnd:
    """One optimiser step done. ``batch`` in 1..batches_per_epoch; ``loss`` and ``accuracy``
    (0..1) of this batch, measured during its training forward pass; ``lr`` the rate used;
    ``images_per_s`` smoothed training throughput; ``elapsed_s`` since this call started
    (pauses excluded); ``eta_s`` to the end of the run (None until measurable)."""

    epoch: int
    batch: int
    batches_per_epoch: int
    loss: float
    accuracy: float
    lr: float
    images_per_s: float
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class Snapshot:
    """At most every ``snapshot_interval_s``: ``weights`` (state-dict copies) and, with a
    probe, ``activations``: per layer float32 (P, ...) evaluation-mode outputs."""

    epoch: int
    batch: int
    weights: dict[str, np.ndarray]
    activations: list[np.ndarray] | None


@dataclass(frozen=True)
class EpochEnd:
    """An epoch and its validation are done. Losses are means over the epoch; accuracies in
    0..1; val_* are None without a validation split. ``confusion`` int64 (K, K) on the
    validation set (rows: true class); ``val_predictions`` = (probs float32 (Nval, K), labels
    int64 (Nval,)), in validation-split order. ``checkpoint``: the folder written, or None."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    elapsed_s: float
    eta_s: float | None
    checkpoint: Path | None
    confusion: np.ndarray
    val_predictions: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Paused:
    """The loop is blocked between batches until resumed or stopped."""


@dataclass(frozen=True)
class Resumed:
    """The loop runs again after a pause."""


@dataclass(frozen=True)
class Finished:
    """The run ended: ``reason`` "completed" or "stopped". ``history``: lists per key
    (epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, elapsed_s) over all
    epochs of the run, resumed ones included. ``test_accuracy`` when there is a test split
    and the run completed; ``checkpoint`` the last folder written (None without out_dir)."""

    reason: str
    history: dict[str, list] = field(default_factory=dict)
    test_accuracy: float | None = None
    checkpoint: Path | None = None


@dataclass(frozen=True)
class Note:
    """Something the run wants said once, in words (what ``init_from`` left out)."""

    text: str


@dataclass(frozen=True)
class EarlyStopped:
    """Early stopping ends the run after ``epoch``: the validation loss was lowest
    (``best_val_loss``) at ``best_epoch`` and has not improved for ``patience`` epochs."""

    epoch: int
    best_epoch: int
    best_val_loss: float
    patience: int
