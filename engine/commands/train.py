"""`cnn-workbench train SPEC --data PATH ...`: train headless, a checkpoint after every epoch.

The data's health report comes first (skipped files, warnings). On a terminal each epoch has
a progress bar with loss and ETA; otherwise one plain line per epoch. At the end: train loss,
validation and test accuracy; with ``--json`` the last line of stdout is one JSON object and
everything else goes to stderr. Ctrl-C or SIGTERM stops after the current batch and leaves a
checkpoint (a second one aborts). Bad data, a NaN loss or a bad checkpoint: one line, exit 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import signal
import sys
from dataclasses import replace
from pathlib import Path

from engine.training import (
    BEST_FOLDER,
    BatchEnd,
    EarlyStopped,
    EpochEnd,
    Finished,
    Note,
    Started,
    TrainConfig,
    TrainControl,
    fit,
)

__all__ = ["register", "run"]

_BAR = 24
_NOTES_SHOWN = 8  # notes of --init-from printed; the rest only in the --json summary


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to ``subparsers``; its default ``func`` is ``run``."""
    p = subparsers.add_parser(
        "train",
        help="train a network on a data set, with a checkpoint after every epoch",
        description="Train SPEC (a spec file or preset name) on the data set at --data. "
        "A preset's recommended settings (resources/presets/training/NAME.json; for a spec "
        "file NET.json, NET.training.json beside it) replace the defaults below wherever no "
        "flag is given; the run says which it used.",
    )
    p.add_argument("spec", metavar="SPEC", help="network spec file or preset name")
    p.add_argument("--data", required=True, metavar="PATH", help="image folder, IDX or CIFAR-10")
    _add_setting_flags(p)
    p.add_argument(
        "--resize",
        choices=("stretch", "pad", "crop"),
        default=None,  # None: not given (a resumed run keeps its own)
        help="fit images to the network's input: stretch, pad to keep the aspect, or "
        "centre-crop (default stretch)",
    )
    p.add_argument(
        "--center",
        choices=("none", "pixel", "channel"),
        default=None,
        help="subtract the training split's mean image (pixel) or mean per channel "
        "(default channel)",
    )
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        default=None,
        help="do not divide by the training split's standard deviation after centering",
    )
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<spec>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR up to --epochs")
    p.add_argument(
        "--strict-head",
        action="store_true",
        help="refuse data whose class count differs from the final dense layer's units "
        "(by default the units are set to the number of classes, and the run says so)",
    )
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(func=run)
    return p


_METAVARS = {"int": "N", "float": "X", "augment": "LIST", "text": "PATH"}
_EXTRA_HELP = {
    "augment": "comma list: flip, shift, shift=N, crop=P, rotate=D, brightness=B, contrast=C "
    "(e.g. flip,crop=2,rotate=10), or none",
    "init_from": "a run folder (or imported model, or .safetensors/.pt weights file) whose "
    "tensors that fit start this run; a different class count replaces the head",
    "freeze": "freeze this layer (an id such as conv2d_3, or a position) and every one before it",
}


def _add_setting_flags(p: argparse.ArgumentParser) -> None:
    """One flag per training setting of engine.train_settings. Every default is None, so a
    flag the user gave can be told from one left out (the preset's recommendation or the
    setting's default then applies)."""
    from engine.train_settings import SETTINGS

    for s in SETTINGS:
        default = "none" if s.default in (None, ()) else s.default
        helptext = f"{_EXTRA_HELP.get(s.name, s.tip)} (default {default})"
        if s.kind == "bool":
            p.add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction,
                           default=None, help=helptext)  # fmt: skip
            continue
        kwargs: dict = {"dest": s.name, "default": None, "help": helptext}
        if s.kind in ("choice", "optional_choice"):
            kwargs["choices"] = s.choices
        else:
            kwargs["metavar"] = "ID" if s.name == "freeze" else _METAVARS.get(s.kind, "X")
            kwargs["type"] = {"int": int, "float": float}.get(s.kind, str)
        p.add_argument(s.flag, **kwargs)


def _given(args: argparse.Namespace) -> dict:
    """The training settings given as flags, as TrainConfig values."""
    from engine.train_settings import SETTINGS

    given = {}
    for s in SETTINGS:
        value = getattr(args, s.name, None)
        if value is None:
            continue
        if s.kind == "augment":
            value = [a.strip() for a in value.split(",") if a.strip() not in ("", "none")]
        given[s.name] = value
    return given


def _preprocessing(args: argparse.Namespace) -> dict:
    """The preprocessing flags given (--resize, --center, --no-standardize), by field."""
    given = {"resize": args.resize, "center": args.center, "standardize": args.standardize}
    return {k: v for k, v in given.items() if v is not None}


def _settings(args: argparse.Namespace, recommended: dict | None) -> tuple[dict, dict]:
    """(every setting's value: defaults, then the recommendation, then the flags given;
    the recommended settings that were used, those no flag overrode)."""
    given = _given(args)
    used = {k: v for k, v in (recommended or {}).items() if k not in given}
    return {**TrainConfig().to_dict(), **(recommended or {}), **given}, used


def _default_out(spec_arg: str) -> Path:
    """runs/<spec>-<YYYYmmdd-HHMMSS>, <spec> being the preset name or spec file's stem."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(spec_arg).stem).strip("-.") or "run"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


class _Interrupt:
    """SIGINT (Ctrl-C) or SIGTERM (``kill``, a scheduler's preemption, ``docker stop``): the
    first asks the run to stop after this batch and keep a checkpoint, the second aborts."""

    def __init__(self, control: TrainControl, say) -> None:
        self.control, self.say = control, say

    def __call__(self, signum, frame) -> None:
        if self.control.stop_requested:
            raise KeyboardInterrupt
        self.control.request_stop()
        again = "Ctrl-C again" if signum == signal.SIGINT else "a second SIGTERM"
        self.say(f"stopping after this batch and writing a checkpoint ({again} aborts)")


_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM") if hasattr(signal, n))


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    with ExitStack() as held:  # the run folder's lock, released however _run returns
        return _run(args, held)


def _run(args: argparse.Namespace, held) -> int:
    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.commands.train_checks import (
        changed_on_resume,
        early_stopped_problem,
        existing_run_problem,
        filesystem_message,
        out_problem,
        preflight_problem,
        resume_problem,
        transfer_problem,
    )
    from engine.data import DatasetError, load_dataset
    from engine.run_lock import RunFolderBusy, RunLock
    from engine.spec import load_spec
    from engine.training import TrainingError, default_preprocessing

    as_json = args.json
    log = sys.stderr if as_json else sys.stdout
    tty = log.isatty()

    def say(line: str) -> None:
        print(line, file=log, flush=True)

    def fail(message: str) -> int:
        print(f"cnn-workbench train: {message}", file=sys.stderr)
        return 1

    from engine.presets import describe, recommended_settings
    from engine.transfer import TransferError

    given = {"SPEC": args.spec, "--data": args.data, "--out": args.out, "--resume": args.resume}
    for flag, value in given.items():  # "" is the current folder to Path: never what was meant
        if value is not None and not value.strip():
            return fail(f"{flag} is empty; give a path")
    spec = load_spec(args.spec)
    try:
        recommended = None if args.resume else recommended_settings(args.spec)
    except ValueError as e:
        return fail(str(e))
    values, used = _settings(args, recommended)
    if problem := preflight_problem(args.epochs, values["batch_size"], values["optimizer"], spec):
        return fail(problem)
    out = folder = None
    try:
        cfg = TrainConfig.from_dict(values)
        if problem := transfer_problem(cfg.init_from, cfg.freeze, spec):
            return fail(problem)
        center = args.center or "channel"
        pre = replace(
            default_preprocessing(spec),
            resize=args.resize or "stretch",
            center=center,
            standardize=args.standardize is not False and center != "none",
        )
        out = Path(args.out) if args.out else None
        if args.resume:
            ckpt = load_checkpoint(args.resume)
            epochs = ckpt.config.epochs if args.epochs is None else args.epochs
            if problem := resume_problem(args.resume, ckpt.epoch, ckpt.batch, epochs):
                return fail(problem)
            if problem := changed_on_resume(args.resume, ckpt, _given(args), _preprocessing(args)):
                return fail(problem)
            patience = ckpt.config.patience if args.patience is None else args.patience
            if problem := early_stopped_problem(args.resume, ckpt, patience):
                return fail(problem)
            cfg = TrainConfig.from_dict(
                {**ckpt.config.to_dict(), "epochs": epochs, "patience": patience}
            )
            from engine.data import Preprocessing

            pre = Preprocessing.from_dict(ckpt.preprocessing)
        elif out is None:
            out = _default_out(args.spec)
        if problem := cfg.augment_problem(spec.input.shape):
            return fail(problem)
        folder = out or Path(args.resume)
        if problem := out_problem(folder, args.data):
            return fail(problem)
        elsewhere = out is not None and not (
            args.resume and out.resolve() == Path(args.resume).resolve()
        )
        if elsewhere and (problem := existing_run_problem(out)):  # a new run, or a resume to a copy
            return fail(problem)
        data = load_dataset(
            args.data,
            pre,
            val_fraction=cfg.val_split,
            seed=cfg.seed,
            on_miss=lambda: say("decoding the data set (cached for next time)"),
        )
    except (DatasetError, CheckpointError, ValueError) as e:
        return fail(str(e))
    except OSError as e:  # --out is a file, or a folder we may not write
        return fail(filesystem_message(e, None))
    for line in data.report.lines():
        say(line)
    if used:
        say(f"recommended settings of {args.spec} used: {describe(used)} (a flag overrides each)")
    from engine.head import adapt_head, head_mismatch

    if args.strict_head and (mismatch := head_mismatch(spec, data.num_classes)):
        return fail(f"{mismatch.message} (without --strict-head: {mismatch.fixes[0].label})")
    spec, adapted = adapt_head(spec, data.num_classes)  # the checkpoint keeps the adapted spec
    if adapted:
        say(f"{adapted} (--strict-head refuses instead)")
    notes: list[str] = []
    control = TrainControl()
    try:  # fit checks everything it refuses (no validation data, nothing to train, ...) here
        events = fit(spec, data, cfg, control=control, out_dir=out, resume=args.resume,
                     snapshot_interval_s=None)  # fmt: skip
    except (TrainingError, DatasetError, CheckpointError, TransferError) as e:
        return fail(str(e))
    try:  # taken once nothing can refuse the run any more, so a refusal leaves no folder
        held.enter_context(RunLock(folder))  # a second train on this folder is refused
    except RunFolderBusy as e:
        return fail(str(e))
    except OSError as e:  # a folder we may not create or write
        return fail(filesystem_message(e, None))
    early = None
    stop = _Interrupt(control, say)
    previous = {n: signal.signal(n, stop) for n in _STOP_SIGNALS}
    finished = None
    try:
        for event in events:
            if isinstance(event, Started):
                folder = out or Path(args.resume)
                say(
                    f"training {spec.name or args.spec}: epochs {event.start_epoch}.."
                    f"{event.total_epochs}, {event.num_train} train / {event.num_val} val / "
                    f"{event.num_test} test images; checkpoints in {folder}"
                )
            elif isinstance(event, BatchEnd) and tty:
                done = round(_BAR * event.batch / event.batches_per_epoch)
                bar = "#" * done + "." * (_BAR - done)
                print(
                    f"\repoch {event.epoch}/{cfg.epochs} [{bar}] {event.batch}/"
                    f"{event.batches_per_epoch} loss {event.loss:.4f} "
                    f"{event.images_per_s:,.0f} img/s ETA {_clock(event.eta_s)} ",
                    end="",
                    file=log,
                    flush=True,
                )
            elif isinstance(event, EpochEnd):
                if tty:
                    print(file=log)
                say(
                    f"epoch {event.epoch}/{cfg.epochs}: train loss {event.train_loss:.4f} "
                    f"acc {event.train_accuracy:.4f}, val loss {_fmt(event.val_loss)} "
                    f"acc {_fmt(event.val_accuracy)}, {_clock(event.elapsed_s)} elapsed, "
                    f"ETA {_clock(event.eta_s)}"
                )
            elif isinstance(event, Note):
                notes.append(event.text)
                if len(notes) <= _NOTES_SHOWN:
                    say(event.text)
                elif len(notes) == _NOTES_SHOWN + 1:
                    say("(more notes in the --json summary)")
            elif isinstance(event, EarlyStopped):
                early = event
                say(
                    f"early stopping: the validation loss has not improved for "
                    f"{event.epoch - event.best_epoch} epochs since epoch {event.best_epoch} "
                    f"({event.best_val_loss:.4f})"
                )
            elif isinstance(event, Finished):
                finished = event
    except (TrainingError, DatasetError, CheckpointError, TransferError) as e:
        if tty:
            print(file=log)
        return fail(str(e))
    except OSError as e:  # a full disk under the checkpoint: the previous one stays
        if tty:
            print(file=log)
        return fail(filesystem_message(e, folder))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert finished is not None
    return _report(finished, out or Path(args.resume), as_json, say, cfg, early, notes)


def _best(h: dict, folder: Path, keep_best: bool) -> tuple[int | None, Path | None]:
    """The epoch of the lowest validation loss in history ``h``, and best/ when kept."""
    losses = [(v, e) for v, e in zip(h.get("val_loss", []), h.get("epoch", []), strict=True)
              if v is not None]  # fmt: skip
    epoch = min(losses)[1] if losses else None
    best = folder / BEST_FOLDER
    return epoch, (best if keep_best and (best / "checkpoint").is_dir() else None)


def _report(done: Finished, folder: Path, as_json: bool, say, cfg, early, notes) -> int:
    h = done.history
    best_epoch, best_folder = _best(h, folder, cfg.keep_best)
    last = {k: (v[-1] if v else None) for k, v in h.items()}
    summary = {
        "reason": done.reason,
        "epochs": last.get("epoch") or 0,
        "train_loss": last.get("train_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
        "test_accuracy": done.test_accuracy,
        "elapsed_s": last.get("elapsed_s"),
        "checkpoint": None if done.checkpoint is None else str(done.checkpoint),
        "best_epoch": best_epoch,
        "best_checkpoint": None if best_folder is None else str(best_folder),
        "early_stopped": early is not None,
        "notes": notes,
    }
    if done.reason == "stopped":
        say(f"stopped; a checkpoint is in {folder}: continue with --resume {folder}")
    tested = f" (the best epoch's, {best_epoch})" if best_folder is not None else ""
    say(
        f"train loss {_fmt(summary['train_loss'])}, val accuracy "
        f"{_fmt(summary['val_accuracy'])}, test accuracy {_fmt(summary['test_accuracy'])}"
        f"{tested}"
    )
    if best_folder is not None:
        say(f"best checkpoint (epoch {best_epoch}) in {best_folder}")
    if as_json:
        print(json.dumps(summary), flush=True)
    return 130 if done.reason == "stopped" else 0
