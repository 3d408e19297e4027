"""What `cnn-workbench train` refuses before it starts, and how it words a failing disk.

Kept apart from ``train.py`` (which drives the run and prints progress) so that every check
that stops a run before a byte is written reads in one place: epochs that make no sense, a
resume that would train nothing, a network or batch this machine cannot hold, a run folder
that is a file, unwritable, or held by another process. Each answer is one line naming the
option or path and what would fix it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = [
    "changed_on_resume",
    "early_stopped_problem",
    "existing_run_problem",
    "filesystem_message",
    "out_problem",
    "preflight_problem",
    "resume_problem",
    "transfer_problem",
]


def preflight_problem(epochs: int | None, batch_size: int, optimizer: str, spec) -> str | None:
    """Why training ``spec`` with these options must not start, or None. Nothing is
    allocated: the memory figures come from shape inference."""
    from engine.memory_budget import MemoryBudgetError, check_network_fits

    if epochs is not None and epochs < 1:
        return f"--epochs {epochs}: give the total number of epochs, 1 or more"
    if batch_size < 1:
        return f"--batch-size {batch_size}: give 1 or more images per batch"
    try:
        check_network_fits(spec, batch_size, optimizer)
    except MemoryBudgetError as e:
        return str(e)
    return None


def resume_problem(
    folder: str | os.PathLike[str], done: int, batch: int, epochs: int
) -> str | None:
    """Why resuming the run in ``folder`` (``done`` epochs completed, ``batch`` batches of
    the next) up to ``epochs`` in total would train nothing, or None."""
    if epochs > done:
        return None
    more = f"give --epochs {done + 1} or more to continue it"
    if batch:
        return f"--epochs {epochs}: the run in {folder} is already in epoch {done + 1}; {more}"
    return f"--epochs {epochs}: the run in {folder} has already completed {done} epochs; {more}"


def changed_on_resume(folder, ckpt, given: dict, preprocessing: dict) -> str | None:
    """Why the flags given beside ``--resume folder`` cannot be honoured, or None. A resumed
    run keeps the settings and preprocessing stored in its checkpoint ``ckpt`` (that is what
    makes it equal an uninterrupted run), so a flag that asks for another value (``given``:
    TrainConfig values by setting name, ``--epochs`` aside; ``preprocessing``: by field) would
    be ignored in silence: it is refused, naming each such flag and the run's value."""
    from engine.train_settings import setting

    stored = ckpt.config.to_dict()
    changed = []
    for name, value in given.items():
        have = stored.get(name)
        if name in _CHANGEABLE or _same(value, have):
            continue
        changed.append(f"{setting(name).flag} {_shown(value)} (the run has {_shown(have)})")
    flags = {"resize": "--resize", "center": "--center", "standardize": "--no-standardize"}
    for name, value in preprocessing.items():
        have = ckpt.preprocessing.get(name)
        if value != have and not (name == "standardize" and not have):
            changed.append(f"{flags[name]} {'' if name == 'standardize' else value}".rstrip()
                           + f" (the run has {name} {_shown(have)})")  # fmt: skip
    if not changed:
        return None
    them = "these flags" if len(changed) > 1 else "the flag"
    return (
        f"{'; '.join(changed)}: a resumed run keeps the settings it was started with (only "
        f"--epochs and --early-stopping change); leave {them} out, or start a new run "
        f"from its weights with --init-from {folder}"
    )


#: What a resumed run may change: the total of epochs, and the patience of early stopping
#: (neither alters a step already taken; a run that stopped early continues with more).
_CHANGEABLE = ("epochs", "patience")


def early_stopped_problem(folder, ckpt, patience: int) -> str | None:
    """Why resuming the run in ``folder`` with early stopping ``patience`` would stop again
    after one epoch, or None: its history already shows ``patience`` epochs or more
    without a better validation loss (it ended early)."""
    h = ckpt.history
    losses = [
        (v, e)
        for v, e in zip(h.get("val_loss", []), h.get("epoch", []), strict=False)
        if v is not None
    ]
    if not patience or ckpt.batch or not losses:
        return None
    best = min(losses)[1]
    if ckpt.epoch - best < patience:
        return None
    return (
        f"the run in {folder} stopped early at epoch {ckpt.epoch} (no better validation loss "
        f"since epoch {best}) and would stop again after one more; give --early-stopping "
        f"{ckpt.epoch - best + 1} or more (or 0: off) to continue it"
    )


def _same(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return (a == b and type(a) is type(b)) or (
        isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)
    )


def _shown(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def transfer_problem(init_from: str | None, freeze: str | None, spec) -> str | None:
    """Why ``--init-from`` / ``--freeze`` cannot be used, found before anything is written:
    a source that does not exist, a layer id the network does not have (the message lists
    the valid ones). Whether the source's tensors fit is said when the run starts."""
    from engine.transfer import TransferError, freeze_up_to

    if init_from is not None and not Path(init_from).exists():
        return (
            f"--init-from {init_from}: no such run folder or weights file; give a run folder "
            "(runs/NAME), an imported model's folder or a .safetensors/.pt file"
        )
    if freeze is not None:
        try:
            freeze_up_to(spec, freeze)
        except TransferError as e:
            return f"--freeze {freeze}: {e}"
    return None


def out_problem(
    folder: str | os.PathLike[str], data: str | os.PathLike[str] | None = None
) -> str | None:
    """Why the run folder cannot be one, found without creating anything: it, or the first
    of its parents that exists, is a file; or it is the data folder ``data`` or inside it,
    where its checkpoint/ would be read back as a class of images (or skipped files) by
    the next run on that data."""
    path = Path(folder)
    if data is not None and Path(data).is_dir():
        inside, where = Path(os.path.realpath(path)), Path(os.path.realpath(data))
        if inside == where or where in inside.parents:
            return (
                f"{folder}: is inside the data set {data}, where its checkpoint would be read "
                "as a class of images by the next run; give --out a folder outside it"
            )
    for candidate in (path, *path.parents):
        if candidate.exists():
            if candidate.is_dir():
                return None
            return f"{candidate}: is a file, not a folder; give --out a new folder or a run folder"
    return None


def existing_run_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why a new run must not start in ``folder``, or None: it already holds a run (its
    checkpoint/, or the best/ of --keep-best), which the new run would replace, or mix
    with: predict prefers best/, so a stale best/ of another network would answer."""
    path = Path(folder)
    if (path / "checkpoint").exists() or (path / "best").exists():
        return (
            f"{folder}: already holds a training run, which a new one would replace; "
            f"continue it with --resume {folder}, or give --out a new folder"
        )
    return None


def filesystem_message(e: OSError, folder: Path | None) -> str:
    """One line for an OSError met while writing the run folder or the checkpoint: names the
    path and says what to do; a checkpoint already in ``folder`` is intact (saves are
    atomic), so the line says how to continue."""
    path = e.filename or folder or "the run folder"
    reason = e.strerror or str(e)
    kept = folder is not None and (Path(folder) / "checkpoint").is_dir()
    resume = f"; the previous checkpoint in {folder} is intact" if kept else ""
    if e.errno in (errno.EEXIST, errno.ENOTDIR) or (
        isinstance(e, FileExistsError | NotADirectoryError)
    ):
        return f"{path}: is a file, not a folder; give --out a new folder or a run folder"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: cannot write here ({reason}); choose a folder you may write with --out"
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        again = f" and continue with --resume {folder}" if kept else ""
        return f"{path}: the disk is full ({reason}){resume}; free some space{again}"
    return f"{path}: {reason}{resume}"
