"""Run comparison: what differs between two or more training runs and what it changed.

Each run is given as plain data (:class:`RunInput`: a name, its network spec, its training
settings and its per-epoch history, as a checkpoint or a project's run record holds them), so
the comparison is computed, tested and printed without Qt. The first run is the reference
("A"); every other run ("B", "C", ...) is told relative to it:

    B vs A: adds batch_norm after the 2nd conv2d; lr 0.01 → 0.001. Result: +3.1 points best
    validation accuracy, +0.4% multiply-adds, 1.2× epoch time.

Architecture differences come from :mod:`engine.network_diff`; settings differences list every
field of ``TrainConfig`` that differs; outcomes compare the best and final validation accuracy
(in percentage points), multiply-adds and parameters (in %, from the shape report) and the mean
epoch time (a ratio, from the history's cumulative ``elapsed_s``).
"""

from __future__ import annotations

import csv
import io
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.network_diff import diff_networks, value_text
from engine.shapes import infer_shapes
from engine.spec import NetworkSpec, SpecError
from engine.train_config import TrainConfig

__all__ = [
    "COMPARISON_CSV_HEADER",
    "Comparison",
    "RunDifference",
    "RunInput",
    "RunOutcome",
    "compare_runs",
    "diff_settings",
    "run_outcome",
]

COMPARISON_CSV_HEADER = (
    "run", "name", "network", "settings", "parameters", "multiply_adds",
    "best_val_accuracy", "final_val_accuracy", "test_accuracy", "epochs",
    "mean_epoch_s", "differences",
)  # fmt: skip


@dataclass(frozen=True)
class RunInput:
    """One run as plain data. ``spec``: a NetworkSpec or its dict; ``config``: a TrainConfig
    or its dict; ``history``: the engine's per-epoch lists ("epoch", "val_accuracy",
    "elapsed_s", ...; accuracies are fractions in [0, 1], ``elapsed_s`` cumulative seconds);
    ``test_accuracy``: a fraction or None."""

    name: str
    spec: Any
    config: Any
    history: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    test_accuracy: float | None = None


@dataclass(frozen=True)
class RunOutcome:
    """What a run cost and reached. Accuracies are fractions in [0, 1] (None when the history
    has none); ``mean_epoch_s`` is seconds per epoch (None without timings)."""

    parameters: int
    multiply_adds: int
    best_val_accuracy: float | None
    final_val_accuracy: float | None
    test_accuracy: float | None
    epochs: int
    mean_epoch_s: float | None


@dataclass(frozen=True)
class RunDifference:
    """``run`` (a letter) relative to ``reference``: clauses about the network, the settings
    and the outcome, each a short phrase."""

    run: str
    reference: str
    architecture: tuple[str, ...]
    settings: tuple[str, ...]
    outcome: tuple[str, ...]

    @property
    def changes(self) -> tuple[str, ...]:
        return self.architecture + self.settings

    def sentence(self) -> str:
        """Like "B vs A: adds ...; lr 0.01 → 0.001. Result: +3.1 points ..., 1.2× epoch time"."""
        what = "; ".join(self.changes) or "the same network and settings"
        text = f"{self.run} vs {self.reference}: {what}."
        if self.outcome:
            text += f" Result: {', '.join(self.outcome)}."
        return text


@dataclass(frozen=True)
class Comparison:
    """Runs ``letters[k]`` = ``names[k]``; ``outcomes[k]`` their figures; ``settings[k]`` their
    TrainConfig; ``differences[k - 1]`` run k against run 0 (the reference)."""

    letters: tuple[str, ...]
    names: tuple[str, ...]
    networks: tuple[str, ...]
    settings: tuple[TrainConfig, ...]
    outcomes: tuple[RunOutcome, ...]
    differences: tuple[RunDifference, ...]

    def sentences(self) -> list[str]:
        return [d.sentence() for d in self.differences]

    def rows(self) -> list[list[str]]:
        """One row per run of display text: letter, name, network, parameters, multiply-adds,
        best and final validation accuracy, epochs, seconds per epoch. The other runs' figures
        carry their change against the reference: "112,186 (+82%)", "90.2% (-2.5 pts)",
        "5.0 s (1.5×)"."""
        ref = self.outcomes[0]
        out = []
        for k, o in enumerate(self.outcomes):
            d = k > 0
            out.append([
                self.letters[k], self.names[k], self.networks[k],
                f"{o.parameters:,}" + (_relative_note(ref.parameters, o.parameters) if d else ""),
                f"{o.multiply_adds:,}"
                + (_relative_note(ref.multiply_adds, o.multiply_adds) if d else ""),
                _percent(o.best_val_accuracy)
                + (_points_note(ref.best_val_accuracy, o.best_val_accuracy) if d else ""),
                _percent(o.final_val_accuracy)
                + (_points_note(ref.final_val_accuracy, o.final_val_accuracy) if d else ""),
                str(o.epochs),
                _seconds(o.mean_epoch_s)
                + (_ratio_note(ref.mean_epoch_s, o.mean_epoch_s) if d else ""),
            ])  # fmt: skip
        return out

    ROW_HEADER = ("", "Run", "Network", "Parameters", "Multiply-adds", "Best val acc",
                  "Final val acc", "Epochs", "Epoch time")  # fmt: skip

    def table(self) -> str:
        """The rows as a plain-text table with a header, then one sentence per run."""
        rows = [list(self.ROW_HEADER), *self.rows()]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]  # fmt: skip
        return "\n".join([*lines, "", *self.sentences()])

    def to_csv(self) -> str:
        """A row per run (COMPARISON_CSV_HEADER): raw numbers (accuracies as fractions,
        seconds), the run's settings as ``name=value; ...`` and its differences from the
        reference (empty for the reference)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COMPARISON_CSV_HEADER)
        for k, o in enumerate(self.outcomes):
            diff = self.differences[k - 1].sentence() if k else ""
            writer.writerow([
                self.letters[k], _safe_cell(self.names[k]), _safe_cell(self.networks[k]),
                settings_text(self.settings[k]), o.parameters, o.multiply_adds,
                _number(o.best_val_accuracy), _number(o.final_val_accuracy),
                _number(o.test_accuracy), o.epochs, _number(o.mean_epoch_s), _safe_cell(diff),
            ])  # fmt: skip
        return out.getvalue()


# --------------------------------------------------------------------------- settings


def _config(value: Any, name: str) -> TrainConfig:
    if isinstance(value, TrainConfig):
        return value
    try:
        return TrainConfig.from_dict(dict(value or {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"run {name}: its training settings cannot be read: {e}") from None


def _setting_text(name: str, value: Any) -> str:
    # init None keeps each layer's own initialiser (the Train page says "per layer" too)
    return "per layer" if name == "init" and value is None else value_text(value)


def diff_settings(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Every setting that differs, in TrainConfig's order: ["lr 0.01 → 0.001", ...]."""
    da, db = a.to_dict(), b.to_dict()
    return [f"{k} {_setting_text(k, da[k])} → {_setting_text(k, db[k])}"
            for k in da if da[k] != db[k]]  # fmt: skip


def settings_text(config: TrainConfig) -> str:
    """All settings as ``epochs=10; batch_size=64; ...`` (a CSV cell)."""
    return "; ".join(f"{k}={_setting_text(k, v)}" for k, v in config.to_dict().items())


# --------------------------------------------------------------------------- outcomes


def _finite(values: Sequence[Any]) -> list[float]:
    out = []
    for v in values or ():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def run_outcome(spec: NetworkSpec, history: Mapping[str, Sequence[Any]],
                test_accuracy: float | None = None) -> RunOutcome:  # fmt: skip
    """The figures of one run: costs from the spec's shape report, accuracies and epoch time
    from its history (missing or non-finite entries are left out)."""
    report = infer_shapes(spec)
    val = _finite(history.get("val_accuracy", ()))
    elapsed = _finite(history.get("elapsed_s", ()))
    steps = [t - s for s, t in zip([0.0, *elapsed], elapsed, strict=False) if t > s]
    test = _finite([test_accuracy])
    return RunOutcome(
        parameters=report.total_params,
        multiply_adds=report.total_macs,
        best_val_accuracy=max(val) if val else None,
        final_val_accuracy=val[-1] if val else None,
        test_accuracy=test[0] if test else None,
        epochs=len(history.get("epoch", ())),
        mean_epoch_s=sum(steps) / len(steps) if steps else None,
    )


def _points(a: float | None, b: float | None, what: str) -> str | None:
    if a is None or b is None:
        return None
    return f"{100.0 * (b - a):+.1f} points {what}"


def _relative(a: int, b: int, what: str) -> str | None:
    if a == b or a <= 0:
        return None
    pct = 100.0 * (b - a) / a
    return f"{pct:+.0f}% {what}" if abs(pct) >= 10 else f"{pct:+.1f}% {what}"


def _relative_note(a: int, b: int) -> str:
    text = _relative(a, b, "")
    return f" ({text.strip()})" if text else ""


def _points_note(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None else f" ({100.0 * (b - a):+.1f} pts)"


def _ratio_note(a: float | None, b: float | None) -> str:
    return f" ({b / a:.2g}×)" if a and b else ""


def diff_outcomes(a: RunOutcome, b: RunOutcome) -> list[str]:
    """B's outcome against A's: accuracy changes in points, costs in %, epoch time as a ratio."""
    parts = [
        _points(a.best_val_accuracy, b.best_val_accuracy, "best validation accuracy"),
        _points(a.final_val_accuracy, b.final_val_accuracy, "final validation accuracy"),
        _points(a.test_accuracy, b.test_accuracy, "test accuracy"),
        _relative(a.multiply_adds, b.multiply_adds, "multiply-adds"),
        _relative(a.parameters, b.parameters, "parameters"),
    ]
    if a.mean_epoch_s and b.mean_epoch_s:
        parts.append(f"{b.mean_epoch_s / a.mean_epoch_s:.2g}× epoch time")
    return [p for p in parts if p]


# --------------------------------------------------------------------------- runs


def _spec(value: Any, name: str) -> NetworkSpec:
    if isinstance(value, NetworkSpec):
        return value
    try:
        return NetworkSpec.from_dict(value)
    except SpecError as e:
        raise ValueError(f"run {name}: its network cannot be read: {e.problems[0]}") from None


def compare_runs(runs: Sequence[RunInput]) -> Comparison:
    """Compare two or more runs; the first is the reference. Raises ValueError for fewer than
    two runs, or naming the run whose spec or settings cannot be read."""
    if len(runs) < 2:
        raise ValueError(f"a comparison needs two or more runs, got {len(runs)}")
    if len(runs) > len(string.ascii_uppercase):
        raise ValueError(f"at most {len(string.ascii_uppercase)} runs can be compared at once")
    specs = [_spec(r.spec, r.name) for r in runs]
    configs = [_config(r.config, r.name) for r in runs]
    outcomes = [
        run_outcome(s, r.history, r.test_accuracy) for s, r in zip(specs, runs, strict=True)
    ]
    letters = tuple(string.ascii_uppercase[: len(runs)])
    diffs = tuple(
        RunDifference(
            run=letters[k],
            reference=letters[0],
            architecture=tuple(diff_networks(specs[0], specs[k])),
            settings=tuple(diff_settings(configs[0], configs[k])),
            outcome=tuple(diff_outcomes(outcomes[0], outcomes[k])),
        )
        for k in range(1, len(runs))
    )
    return Comparison(
        letters=letters,
        names=tuple(r.name for r in runs),
        networks=tuple(s.name or "network" for s in specs),
        settings=tuple(configs),
        outcomes=tuple(outcomes),
        differences=diffs,
    )


# --------------------------------------------------------------------------- text


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else (f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms")


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (=, +, -, @ at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
