"""The catalogue of training settings: one entry per ``TrainConfig`` field, read by the config's
validation, the ``train`` command's flags and the Train page's form (as ``engine.fields`` is
for layer fields), so a setting is described once.

Each ``Setting`` carries its default, what a valid value is (``check`` and the words ``must``
that the error quotes), its command-line flag, its label and tooltip, and the range a form
offers. Plain Python: no Qt, no argparse here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.fields import INIT_CHOICES
from engine.losses import LOSSES

__all__ = ["AUGMENT_ITEMS", "SETTINGS", "Setting", "augment_item_ok", "setting"]

#: What an ``augment`` item may be (``name=value`` where a value is shown).
AUGMENT_ITEMS = ("flip", "shift", "shift=N", "crop=P", "rotate=D", "brightness=B", "contrast=C")

INITIALISERS = tuple(c for c in INIT_CHOICES if c != "auto")


@dataclass(frozen=True)
class Setting:
    """One training setting. ``kind``: "int", "float", "choice", "bool", "augment",
    "optional_choice" (None or one of ``choices``) or "text" (None or a string).
    ``lo``/``hi``/``decimals``/``step``: the range a form's spin box offers (validation is
    ``check``, which may be wider)."""

    name: str
    kind: str
    default: Any
    check: Callable[[Any], bool]
    must: str
    label: str
    tip: str
    flag: str
    choices: tuple[str, ...] = ()
    lo: float = 0
    hi: float = 0
    decimals: int = 0
    step: float = 1

    def valid(self, value: Any) -> bool:
        return bool(self.check(value))


#: The largest whole-number setting: a 32-bit signed int, what the Train page's spin boxes
#: (and the checkpoints other tools read) hold; a seed of 10**26 loaded fine in the engine
#: and then ended the form in OverflowError.
INT_MAX = 2**31 - 1


_POSITIVE = f"a positive integer up to {INT_MAX}"
_NON_NEGATIVE = f"a non-negative integer up to {INT_MAX}"


def _int(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= INT_MAX


def _real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def augment_item_ok(a: Any) -> bool:
    """Whether ``a`` is one of AUGMENT_ITEMS: "flip", "shift", "shift=N" or "crop=P" (N, P
    whole pixels), "rotate=D" (0 < D <= 180 degrees), "brightness=B" or "contrast=C"
    (0 < B, C <= 1)."""
    if not isinstance(a, str):
        return False
    if a in ("flip", "shift"):
        return True
    name, _, value = a.partition("=")
    if name in ("shift", "crop"):
        return value.isascii() and value.isdigit()  # "²".isdigit(), but int("²") fails
    limit = {"rotate": 180.0, "brightness": 1.0, "contrast": 1.0}.get(name)
    v = _number(value) if limit is not None else None
    return v is not None and 0 < v <= limit


def _optional(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: v is None or v in choices


def _text(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() != "")


SETTINGS: tuple[Setting, ...] = (
    Setting("epochs", "int", 10, _int(1), _POSITIVE, "Epochs",
            "Passes over the training split (the total, when resuming)", "--epochs",
            lo=1, hi=10000),
    Setting("batch_size", "int", 64, _int(1), _POSITIVE, "Batch size",
            "Images per gradient step", "--batch-size", lo=1, hi=8192),
    Setting("optimizer", "choice", "sgd", lambda v: v in ("sgd", "adam"), '"sgd" or "adam"',
            "Optimiser", "SGD with momentum, or Adam", "--optimizer", choices=("sgd", "adam")),
    Setting("lr", "float", 0.01, lambda v: _real(v) and v > 0, "a positive number",
            "Learning rate", "Learning rate: the size of each step", "--lr",
            lo=1e-6, hi=1e6, decimals=6, step=0.001),
    Setting("momentum", "float", 0.9, lambda v: _real(v) and 0 <= v < 1, "in [0, 1)",
            "Momentum", "Momentum of SGD (ignored by Adam)", "--momentum",
            lo=0, hi=0.999, decimals=3, step=0.05),
    Setting("weight_decay", "float", 0.0, lambda v: _real(v) and v >= 0, ">= 0",
            "Weight decay", "L2 penalty on the weights", "--weight-decay",
            lo=0, hi=1, decimals=6, step=1e-4),
    Setting("schedule", "choice", "constant", lambda v: v in ("constant", "step", "cosine"),
            '"constant", "step" or "cosine"', "Schedule",
            "How the learning rate changes over the epochs: constant, step (times the decay "
            "factor every few epochs) or cosine (annealed to 0 at the last epoch)",
            "--schedule", choices=("constant", "step", "cosine")),
    Setting("step_size", "int", 10, _int(1), _POSITIVE, "Step every",
            "Step schedule: epochs between decays", "--step-size", lo=1, hi=1000),
    Setting("gamma", "float", 0.1, lambda v: _real(v) and 0 < v <= 1, "in (0, 1]",
            "Decay factor", "Step schedule: factor applied at each decay", "--gamma",
            lo=0.01, hi=1, decimals=3, step=0.05),
    Setting("seed", "int", 0, _int(0), _NON_NEGATIVE, "Seed",
            "Seeds the initial weights, the split and the shuffles", "--seed",
            lo=0, hi=2**31 - 1),
    Setting("val_split", "float", 0.1, lambda v: _real(v) and 0 <= v < 1, "in [0, 1)",
            "Validation split", "Fraction of training images held out (when the data has "
            "no validation folder)", "--val-split", lo=0, hi=0.9, decimals=2, step=0.05),
    Setting("augment", "augment", (), lambda v: all(augment_item_ok(a) for a in v),
            "items " + ", ".join(f'"{a}"' for a in AUGMENT_ITEMS[:-1])
            + f' or "{AUGMENT_ITEMS[-1]}"',
            "Augmentation", "Random changes to training images, redrawn every epoch",
            "--augment"),
    Setting("loss", "choice", "cross_entropy", lambda v: v in LOSSES,
            " or ".join(f'"{k}"' for k in LOSSES), "Loss", "What training minimises",
            "--loss", choices=tuple(LOSSES)),
    Setting("init", "optional_choice", None, _optional(INITIALISERS),
            "null or one of " + ", ".join(INITIALISERS), "Initialiser",
            "Weight initialiser for every layer ('per layer': each layer's own)", "--init",
            choices=INITIALISERS),
    Setting("patience", "int", 0, _int(0), _NON_NEGATIVE, "Early stopping",
            "Stop when the validation loss has not improved for this many epochs (0: off)",
            "--early-stopping", lo=0, hi=1000),
    Setting("keep_best", "bool", False, lambda v: isinstance(v, bool), "true or false",
            "Keep the best", "Also keep the checkpoint of the epoch with the lowest "
            "validation loss (in best/ of the run folder; predict uses it)", "--keep-best"),
    Setting("init_from", "text", None, _text, "null or a run folder", "Start from",
            "A run folder (or imported model) whose weights start this run, matched by "
            "name and shape", "--init-from"),
    Setting("freeze", "text", None, _text, "null or a layer id", "Freeze up to",
            "Freeze every layer up to and including this one (its parameters stay as "
            "loaded)", "--freeze"),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The catalogue entry of ``name``; KeyError for an unknown one."""
    return _BY_NAME[name]
