"""What a training run is asked to do (TrainConfig), and how another thread steers it
(TrainControl). Both are plain Python, shared by the CLI, the GUI worker and checkpoints."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any

from engine.train_settings import SETTINGS

_POLL_S = 0.1  # how often a paused loop looks for a stop request


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, a checkpoint that does not match). One line."""


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting, frozen; ``to_dict``/``from_dict`` for checkpoints and projects.

    The fields are described once, in ``engine.train_settings.SETTINGS`` (default, valid
    values, flag, label); this class checks every value against it. ``epochs`` is the total
    (a resumed run continues up to it). ``lr`` is the base learning rate; ``schedule`` "step"
    multiplies it by ``gamma`` every ``step_size`` epochs, "cosine" anneals it to 0 over
    ``epochs``. ``val_split``: fraction of the training images held out when the data has no
    validation folder. ``augment``: items "flip", "shift" (2 pixels), "shift=N" or "crop=N"
    (pad N, crop back), "rotate=D" (degrees), "brightness=B", "contrast=C" (fractions).
    ``init``: None keeps each layer's initialiser, else one of engine.fields.INIT_CHOICES for
    every conv and dense layer. ``patience``: stop once the validation loss has not improved
    for that many epochs (0: never). ``keep_best``: also keep the checkpoint of the epoch with
    the lowest validation loss in ``best/``. ``init_from``: a run folder whose weights start
    the run (matched by name and shape); ``freeze``: a layer id; it and every layer before it
    are not trained. Raises ValueError naming the field for an invalid value.
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
    patience: int = 0
    keep_best: bool = False
    init_from: str | None = None
    freeze: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.augment, str) or not isinstance(self.augment, list | tuple):
            raise ValueError(
                f"training setting augment: must be a list of items, got {self.augment!r}"
            )
        object.__setattr__(self, "augment", tuple(self.augment))
        for s in SETTINGS:
            value = getattr(self, s.name)
            if not s.valid(value):
                raise ValueError(f"training setting {s.name}: must be {s.must}, got {value!r}")
        names = [a.partition("=")[0] for a in self.augment]
        if "crop" in names and "shift" in names:
            raise ValueError(
                "training setting augment: crop=P and shift are the same operation "
                "(pad, then crop back); give one of them"
            )
        for name in dict.fromkeys(names):
            if names.count(name) > 1:  # "rotate=5,rotate=10": only the last used to count
                given = ", ".join(a for a in self.augment if a.partition("=")[0] == name)
                raise ValueError(
                    f"training setting augment: {name} is given {names.count(name)} times "
                    f"({given}); give it once"
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
        return cls(**{k: tuple(v) if k == "augment" and isinstance(v, list) else v
                      for k, v in d.items()})  # fmt: skip

    def augment_problem(self, shape: tuple[int, int, int]) -> str | None:
        """Why ``augment`` cannot be used on images of ``shape`` (C, H, W), or None: a
        shift (or crop padding) of at least the image's size, which could move an image out
        of view and pads every batch to (B, C, H+2P, W+2P) (crop=99999: 373 GiB)."""
        shift, (_, h, w) = self.augmentation().shift, shape
        if shift < min(h, w):
            return None
        item = next(a for a in self.augment if a.partition("=")[0] in ("shift", "crop"))
        return (
            f"augment {item}: a shift of {shift} pixels is not smaller than the network's "
            f"{h}x{w} input, so an image could be moved out of view; give at most "
            f"{min(h, w) - 1} (a few pixels is usual)"
        )

    def augmentation(self):
        """The data package's ``Augmentation`` for ``augment``."""
        from engine.data.augment import Augmentation

        values: dict[str, Any] = {}
        for item in self.augment:
            name, _, value = item.partition("=")
            if item == "flip":
                values["flip"] = True
            elif item == "shift":
                values["shift"] = 2
            elif name in ("shift", "crop"):
                values["shift"] = int(value)
            else:
                values[name] = float(value)
        return Augmentation(**values)


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
