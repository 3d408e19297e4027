"""What a training run is asked to do (TrainConfig), and how another thread steers it
(TrainControl). Both are plain Python, shared by the CLI, the GUI worker and checkpoints."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields
from typing import Any

from engine.fields import INIT_CHOICES
from engine.losses import LOSSES

_POLL_S = 0.1  # how often a paused loop looks for a stop request


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, a checkpoint that does not match). One line."""


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting, frozen; ``to_dict``/``from_dict`` for checkpoints and projects.

    ``epochs`` is the total (a resumed run continues up to it). ``lr`` is the base learning
    rate; ``schedule`` "step" multiplies it by ``gamma`` every ``step_size`` epochs, "cosine"
    anneals it to 0 over ``epochs``. ``val_split``: fraction of the training images held out
    when the data has no validation folder. ``augment``: items "flip", "shift" (2 pixels) or
    "shift=N". ``init``: None keeps each layer's initialiser, else one of
    engine.fields.INIT_CHOICES for every conv and dense layer. Raises ValueError naming the
    field for an invalid value.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 10
    gamma: float = 0.1
    seed: int = 0
    val_split: float = 0.1
    augment: tuple[str, ...] = ()
    loss: str = "cross_entropy"
    init: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment", tuple(self.augment))
        checks = [
            ("epochs", _is_int(self.epochs, 1), "a positive integer"),
            ("batch_size", _is_int(self.batch_size, 1), "a positive integer"),
            ("optimizer", self.optimizer in ("sgd", "adam"), '"sgd" or "adam"'),
            ("lr", _is_real(self.lr) and self.lr > 0, "a positive number"),
            ("momentum", _is_real(self.momentum) and 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", _is_real(self.weight_decay) and self.weight_decay >= 0, ">= 0"),
            (
                "schedule",
                self.schedule in ("constant", "step", "cosine"),
                '"constant", "step" or "cosine"',
            ),
            ("step_size", _is_int(self.step_size, 1), "a positive integer"),
            ("gamma", _is_real(self.gamma) and 0 < self.gamma <= 1, "in (0, 1]"),
            ("seed", _is_int(self.seed, 0), "a non-negative integer"),
            ("val_split", _is_real(self.val_split) and 0 <= self.val_split < 1, "in [0, 1)"),
            (
                "augment",
                all(_augment_item(a) for a in self.augment),
                'items "flip", "shift" or "shift=N"',
            ),
            ("loss", self.loss in LOSSES, " or ".join(f'"{k}"' for k in LOSSES)),
            (
                "init",
                self.init is None or (self.init in INIT_CHOICES and self.init != "auto"),
                "null or one of " + ", ".join(c for c in INIT_CHOICES if c != "auto"),
            ),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ValueError(
                    f"training setting {name}: must be {what}, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["augment"] = list(self.augment)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; ValueError names an unknown field or a bad value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"training setting {unknown[0]}: unknown (allowed: {', '.join(sorted(known))})"
            )
        return cls(**{k: tuple(v) if k == "augment" else v for k, v in d.items()})

    def augmentation(self):
        """The data package's ``Augmentation`` for ``augment``."""
        from engine.data.batches import Augmentation

        flip = "flip" in self.augment
        shift = 0
        for item in self.augment:
            if item == "shift":
                shift = 2
            elif item.startswith("shift="):
                shift = int(item[6:])
        return Augmentation(flip=flip, shift=shift)


def _is_int(v: Any, lo: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _augment_item(a: Any) -> bool:
    return a in ("flip", "shift") or (
        isinstance(a, str) and a.startswith("shift=") and a[6:].isdigit()
    )


class TrainControl:
    """Requests from another thread, honoured by ``fit`` between batches. Thread-safe."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def request_stop(self) -> None:
        """Stop after the current batch (also while paused); a checkpoint is written."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Block the loop after the current batch until ``resume`` or ``request_stop``."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def is_paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self, poll_s: float = _POLL_S) -> None:
        """Return once resumed or stopped, checking every ``poll_s`` seconds."""
        while not self._running.wait(poll_s):
            if self._stop.is_set():
                return
