"""Training as a generator of frozen events (contract), with cooperative stop and pause.

    control = TrainControl()
    for event in fit(spec, dataset, TrainConfig(epochs=5), control=control, out_dir="runs/a"):
        ...   # Started, BatchEnd, Snapshot, EpochEnd, Paused, Resumed, Finished

The loop is the shape of superqt's ``GeneratorWorker`` and Orange3's tasks: a GUI worker
iterates it in a thread and re-emits each event; ``control`` (thread-safe) asks for a stop or
a pause, honoured between batches. Every array in an event is a copy.

Determinism: epoch ``e`` (1-based) draws its order and augmentation from
``default_rng([seed, e])`` and batch ``b`` of it its dropout masks from
``default_rng([seed, e, b])``. A checkpoint therefore needs no RNG stream of its own, and a
run resumed from any checkpoint (an epoch end or a stop midway) equals an uninterrupted one
bit for bit, given the same config.

Transfer learning: ``config.freeze`` freezes that layer and every one before it
(``engine.transfer.freeze_up_to``) before the network is built; ``config.init_from`` loads
the tensors of a run folder or weights file that fit (``initial_weights``) over the seeded
initial weights, and a ``Note`` event says what was left out. Early stopping
(``config.patience``) ends the run once the validation loss has not improved for that many
epochs (an ``EarlyStopped`` event, then ``Finished("completed")``); ``config.keep_best`` also
writes the checkpoint of the epoch with the lowest validation loss to ``out_dir/best/`` (a
checkpoint folder of its own: ``predict RUN/best``, and ``predict RUN`` prefers it when
present), and the test accuracy is then measured with those weights. The run folder's own
checkpoint stays the latest epoch's, which ``--resume`` continues.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.events import (
    BatchEnd,
    EarlyStopped,
    EpochEnd,
    Finished,
    Note,
    Paused,
    Resumed,
    Snapshot,
    Started,
)
from engine.losses import LOSSES, softmax
from engine.spec import NetworkSpec, load_spec
from engine.train_config import TrainConfig, TrainControl, TrainingError

__all__ = [
    "BEST_FOLDER",
    "BatchEnd",
    "EarlyStopped",
    "EpochEnd",
    "Finished",
    "Note",
    "Paused",
    "Resumed",
    "Snapshot",
    "Started",
    "TrainConfig",
    "TrainControl",
    "TrainingError",
    "default_preprocessing",
    "fit",
]

_EVAL_CHUNK = 256  # images per forward pass when evaluating
#: Snapshots come at most every ``snapshot_interval_s`` and, on a network whose probe forward
#: is slow (resnet20: tens of ms), no more often than this many times their own cost, so that
#: watching costs the training at most about 1/20 of its time. An interval of 0 means every batch.
_SNAPSHOT_SHARE = 20
#: A mean cross-entropy above this many times the chance level (log K) is a diverged run.
#: Learning runs stay within a few times chance; 1000x means the right class gets a
#: probability below e^-700 on average, which only exploding weights produce.
_DIVERGED_FACTOR = 1000.0
#: The subfolder of a run folder that keeps the best epoch's checkpoint (``keep_best``).
BEST_FOLDER = "best"


# --------------------------------------------------------------------------- loop


def fit(
    spec: NetworkSpec | str | dict,
    data: Any,
    config: TrainConfig | None = None,
    *,
    control: TrainControl | None = None,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    probe: np.ndarray | None = None,
    snapshot_interval_s: float | None = 0.5,
) -> Iterator[Any]:
    """Train ``spec`` on ``data`` (an ``engine.data`` Dataset, or a path to load one), yielding
    events. ``out_dir``: write a checkpoint there after every epoch and on stop. ``resume``:
    continue the run saved in that folder (its config, with ``config.epochs`` as the new
    total; ``out_dir`` defaults to it). ``probe``: float32 (P, C, H, W) preprocessed images
    whose activations Snapshot events carry.

    Raises TrainingError for a NaN/infinite loss (the last checkpoint stays as it was) or a
    resume that does not match; DatasetError for unusable data; SpecError for a bad spec.
    """
    return _Run(
        spec,
        data,
        config or TrainConfig(),
        control or TrainControl(),
        out_dir,
        resume,
        probe,
        snapshot_interval_s,
    ).events()


def default_preprocessing(spec: NetworkSpec):
    """What a run loading ``data`` from a path uses: the network's input geometry, stretched,
    scaled to [0, 1] and standardised per channel on the training split."""
    from engine.data import Preprocessing

    c, h, w = spec.input.shape
    return Preprocessing(c, h, w, resize="stretch", center="channel", standardize=True)


def _with_init(spec: NetworkSpec, init: str | None) -> NetworkSpec:
    if init is None:
        return spec
    layers = [
        layer.replace(init=init) if layer.kind.has_weights_to_initialise else layer
        for layer in spec.layers
    ]
    return spec.with_layers(layers)


def _train_step(net, x: np.ndarray, y: np.ndarray, loss: str):
    """One forward/backward (the network's fused stages); the batch accuracy comes from the
    same logits, so it costs no second forward pass. Returns (loss, correct, grads)."""
    value, grads, logits = net.loss_and_grads(x, y, loss=loss, return_logits=True)
    correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
    return value, correct, grads


def _evaluate(net, ds, split: str, loss: str) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Mean loss, accuracy, probs float32 (N, K) and labels int64 (N,) on a whole split."""
    total, probs, labels = 0.0, [], []
    for x, y in ds.iter_batches(split, _EVAL_CHUNK):
        logits = net.forward(x, train=False)
        total += LOSSES[loss](logits, y)[0] * len(y)
        probs.append(softmax(logits).astype(np.float32))
        labels.append(y.astype(np.int64))
    p = np.concatenate(probs) if probs else np.zeros((0, net.num_classes), np.float32)
    y = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    n = max(len(y), 1)
    return total / n, float(np.count_nonzero(p.argmax(axis=1) == y)) / n, p, y


_HISTORY_KEYS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "elapsed_s",
)


class _Run:
    """The state of one ``fit`` call; ``events()`` is the generator."""

    def __init__(self, spec, data, config, control, out_dir, resume, probe, interval):
        from engine.data import Dataset, Preprocessing, load_dataset

        self.ckpt = ckpt = load_checkpoint(resume) if resume is not None else None
        spec = _with_init(load_spec(spec), config.init)
        if config.freeze is not None:
            from engine.transfer import freeze_up_to

            spec = freeze_up_to(spec, config.freeze)  # TransferError names a bad id
        if ckpt is not None:
            if ckpt.spec.to_dict() != spec.to_dict():
                raise TrainingError(
                    f"{ckpt.path}: the checkpoint's network differs from the one given; "
                    "resume with the same spec or start a new run"
                )
            # The stored settings, but the total and the patience asked for now (neither
            # changes a step already taken; an early-stopped run continues with more).
            config = replace(ckpt.config, epochs=config.epochs, patience=config.patience)
            out_dir = resume if out_dir is None else out_dir
        if problem := config.augment_problem(spec.input.shape):
            raise TrainingError(problem)
        self.spec, self.cfg, self.control = spec, config, control
        self.out_dir = None if out_dir is None else Path(out_dir)
        stored = None if ckpt is None else Preprocessing.from_dict(ckpt.preprocessing)
        if not isinstance(data, Dataset):
            pre = stored or default_preprocessing(spec)
            data = load_dataset(data, pre, val_fraction=config.val_split, seed=config.seed)
        if data.preprocessing.shape != spec.input.shape:
            raise TrainingError(
                "the data is prepared as {}x{}x{} images but the network takes {}x{}x{}; "
                "reload the data for this network".format(
                    *data.preprocessing.shape, *spec.input.shape
                )
            )
        if ckpt is not None:
            if tuple(data.class_names) != ckpt.class_names:
                raise TrainingError(
                    f"{ckpt.path}: trained on classes {', '.join(ckpt.class_names)}"
                    f" but the data has {', '.join(data.class_names)}"
                )
            # Statistics as stored, so resumed batches are normalised exactly as before.
            data = replace(data, preprocessing=stored)
        self.ds = data
        self.probe = None if probe is None else np.ascontiguousarray(probe, dtype=np.float32)
        self.interval = interval
        self.last_checkpoint = None if ckpt is None else ckpt.path
        if (config.patience or config.keep_best) and not self._count("val"):
            what = "early stopping" if config.patience else "keeping the best checkpoint"
            raise TrainingError(
                f"{what} watches the validation loss, but the data has no validation images; "
                "set a validation split above 0 (--val-split) or add a val/ folder"
            )
        self.notes: list[str] = []
        self.net, self.opt, self.schedule = self._build()
        if self.net.parameters() and not self.net.trainable_parameters():
            how = f"freezing up to layer {config.freeze}" if config.freeze else "the spec"
            raise TrainingError(
                f'{how} freezes every layer with parameters ("trainable": false), so the '
                "run would train nothing; freeze up to an earlier layer, or none"
            )
        if ckpt is None and config.init_from is not None:
            self._load_initial_weights(config.init_from)
        if ckpt is not None:
            try:
                self.net.load_state_dict(ckpt.weights)
                self.opt.load_state_dict(ckpt.optimizer_state)
            except ValueError as e:  # StateDictError is a ValueError
                raise TrainingError(f"{ckpt.path}: cannot resume: {e}") from None

    # ---- pieces
    def _load_initial_weights(self, source) -> None:
        from engine.transfer import initial_weights

        weights, notes = initial_weights(source, self.spec)  # TransferError names the source
        state = self.net.state_dict()
        state.update(weights)
        self.net.load_state_dict(state)
        self.notes.append(
            f"started from {source}: {len(weights)} of {len(state)} tensors loaded"
            + (f"; {len(notes)} left at their initial values" if notes else "")
        )
        self.notes.extend(notes)

    def _build(self):
        import engine
        from engine.optim import ConstantLR, CosineLR, StepLR, make_optimizer

        cfg = self.cfg
        net = engine.build(self.spec, seed=cfg.seed)
        if net.num_classes != self.ds.num_classes:
            raise TrainingError(
                f"the network ends in {net.num_classes} outputs but the data has "
                f"{self.ds.num_classes} classes; set the last dense layer's units to "
                f"{self.ds.num_classes}"
            )
        settings = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
        if cfg.optimizer == "sgd":
            settings["momentum"] = cfg.momentum
        opt = make_optimizer(cfg.optimizer, **settings)
        if cfg.schedule == "step":
            schedule = StepLR(cfg.lr, cfg.step_size, cfg.gamma)
        elif cfg.schedule == "cosine":
            schedule = CosineLR(cfg.lr, cfg.epochs)
        else:
            schedule = ConstantLR(cfg.lr)
        return net, opt, schedule

    def _save(self, net, opt, epoch: int, batch: int, history, progress, best=False):
        """Write the run's checkpoint (or, ``best``, the best epoch's, into best/); returns
        the folder, or None without ``out_dir``."""
        if self.out_dir is None:
            return None
        path = save_checkpoint(
            self.out_dir / BEST_FOLDER if best else self.out_dir,
            spec=self.spec,
            config=self.cfg,
            preprocessing=self.ds.preprocessing.to_dict(),
            class_names=self.ds.class_names,
            epoch=epoch,
            batch=batch,
            history=history,
            weights=net.state_dict(),
            optimizer_state=opt.state_dict(),
            progress=progress,
            rng={
                "seed": self.cfg.seed,
                "scheme": "order+augment: default_rng([seed, epoch]); "
                "dropout: default_rng([seed, epoch, batch]); epochs and batches from 1",
            },
        )
        if not best:
            self.last_checkpoint = path
        return path

    def _previous_best(self, history) -> tuple[float, int, dict | None]:
        """(lowest validation loss, its epoch, its weights) of the epochs already in
        ``history`` (a resumed run); weights from best/ when kept, else None."""
        losses = [(v, e) for v, e in zip(history["val_loss"], history["epoch"], strict=True)
                  if v is not None]  # fmt: skip
        if not losses:
            return math.inf, 0, None
        value, epoch = min(losses)
        weights = None
        folder = None if self.out_dir is None else self.out_dir / BEST_FOLDER
        if self.cfg.keep_best and folder is not None and folder.is_dir():
            from engine.checkpoint import CheckpointError

            try:
                weights = load_checkpoint(folder).weights
            except CheckpointError as e:
                raise TrainingError(
                    f"{e}; the best epoch's checkpoint of this run cannot be read: move "
                    f"{folder} away to resume (a new best is kept from here on), or restore it"
                ) from None
        return value, epoch, weights

    def _count(self, name: str) -> int:
        return len(self.ds.splits[name]) if name in self.ds.splits else 0

    # ---- the generator
    def events(self) -> Iterator[Any]:
        from engine.network import warm_up

        cfg, ds, control = self.cfg, self.ds, self.control
        net, opt, schedule = self.net, self.opt, self.schedule
        history: dict[str, list] = {k: [] for k in _HISTORY_KEYS}
        start_epoch, skip, progress = 1, 0, {}
        if self.ckpt is not None:
            history = {k: list(self.ckpt.history.get(k, [])) for k in _HISTORY_KEYS}
            start_epoch, skip = self.ckpt.epoch + 1, self.ckpt.batch
            progress = self.ckpt.progress
        num_train = self._count("train")
        nb = -(-num_train // cfg.batch_size)
        has_val = self._count("val") > 0
        has_dropout = any(layer.kind.random for layer in self.spec.layers)
        k = ds.num_classes
        best_loss, best_epoch, best_weights = self._previous_best(history)
        yield Started(
            cfg.epochs,
            start_epoch,
            nb,
            num_train,
            self._count("val"),
            self._count("test"),
            tuple(ds.class_names),
            ds.report,
            skip,
        )
        for text in self.notes:
            yield Note(text)
        warm_up()
        prior_s = float(progress.get("elapsed_s", (history["elapsed_s"] or [0.0])[-1]))
        clock = _Clock(prior_s)
        done_here = 0  # batches this call ran, for the ETA
        ips = None
        last_snap = -math.inf
        snapped = False  # the last batch's weights went out in a Snapshot
        snap_cost = 0.0  # seconds the last snapshot took (its probe forward and weight copies)
        for epoch in range(start_epoch, cfg.epochs + 1):
            lr = schedule.lr_at(epoch - 1)
            opt.lr = lr
            loss_sum = float(progress.get("loss_sum", 0.0)) if skip else 0.0
            correct = int(progress.get("correct", 0)) if skip else 0
            seen = int(progress.get("seen", 0)) if skip else 0
            rng = np.random.default_rng([cfg.seed, epoch])
            with ds.iter_batches(
                "train",
                cfg.batch_size,
                shuffle=True,
                rng=rng,
                augment=cfg.augmentation(),
                prefetch=1,
            ) as batches:
                for b, (x, y) in enumerate(batches, 1):
                    if b <= skip:
                        continue
                    if control.stop_requested:
                        yield self._stopped(
                            net, opt, epoch, b - 1, history, loss_sum, correct, seen, clock
                        )
                        return
                    if has_dropout:
                        state = np.random.default_rng([cfg.seed, epoch, b]).bit_generator.state
                        net.set_rng_state({"dropout": state})
                    t = time.perf_counter()
                    # A diverging run overflows: the check below reports it in words.
                    with np.errstate(over="ignore", invalid="ignore"):
                        value, right, grads = _train_step(net, x, y, cfg.loss)
                    self._check_loss(value, f"at epoch {epoch}, batch {b}", lr)
                    with np.errstate(over="ignore", invalid="ignore"):
                        opt.step(net.parameters(), grads)
                    rate = len(y) / max(time.perf_counter() - t, 1e-9)
                    ips = rate if ips is None else 0.9 * ips + 0.1 * rate
                    loss_sum += value * len(y)
                    correct += right
                    seen += len(y)
                    done_here += 1
                    left = (cfg.epochs - epoch) * nb + (nb - b)
                    yield BatchEnd(
                        epoch,
                        b,
                        nb,
                        value,
                        right / len(y),
                        lr,
                        ips,
                        clock.elapsed(),
                        clock.eta(done_here, left),
                    )
                    snapped = False
                    if self.interval is not None and clock.now() - last_snap >= max(
                        self.interval, _SNAPSHOT_SHARE * snap_cost
                    ):
                        t_snap = time.perf_counter()
                        acts = (
                            None
                            if self.probe is None
                            else [a.copy() for a in net.forward_activations(self.probe)]
                        )
                        weights = net.state_dict()
                        snap_cost = time.perf_counter() - t_snap if self.interval > 0 else 0.0
                        last_snap, snapped = clock.now(), True
                        yield Snapshot(epoch, b, weights, acts)
                    if control.is_paused and not control.stop_requested:
                        yield Paused()
                        clock.pause()
                        control.wait_while_paused()
                        clock.resume()
                        if not control.stop_requested:
                            yield Resumed()
                    if control.stop_requested and b < nb:
                        yield self._stopped(
                            net, opt, epoch, b, history, loss_sum, correct, seen, clock
                        )
                        return
            skip = 0
            self._check_weights(net, f"after epoch {epoch}", lr)
            if has_val:
                with np.errstate(over="ignore", invalid="ignore"):
                    val_loss, val_acc, probs, labels = _evaluate(net, ds, "val", cfg.loss)
                self._check_loss(val_loss, f"on the validation split after epoch {epoch}", lr)
            else:
                val_loss = val_acc = None
                probs, labels = np.zeros((0, k), np.float32), np.zeros(0, np.int64)
            from engine.inspect import confusion_matrix

            confusion = confusion_matrix(labels, probs.argmax(axis=1), k)
            row = (
                epoch,
                loss_sum / max(seen, 1),
                correct / max(seen, 1),
                val_loss,
                val_acc,
                lr,
                clock.elapsed(),
            )
            for key, value in zip(_HISTORY_KEYS, row, strict=True):
                history[key].append(value)
            path = self._save(net, opt, epoch, 0, history, {"elapsed_s": clock.elapsed()})
            if val_loss is not None and val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                if cfg.keep_best:
                    best_weights = net.state_dict()
                    self._save(net, opt, epoch, 0, history, {"elapsed_s": clock.elapsed()}, True)
            yield EpochEnd(
                epoch,
                row[1],
                row[2],
                val_loss,
                val_acc,
                lr,
                row[6],
                clock.eta(done_here, (cfg.epochs - epoch) * nb),
                path,
                confusion,
                (probs, labels),
            )
            if control.stop_requested and epoch < cfg.epochs:
                yield Finished("stopped", _copy(history), None, self.last_checkpoint)
                return
            if cfg.patience and epoch < cfg.epochs and epoch - best_epoch >= cfg.patience:
                yield EarlyStopped(epoch, best_epoch, best_loss, cfg.patience)
                break
        test_acc = None
        if cfg.keep_best and best_weights is not None:
            net.load_state_dict(best_weights)  # the test measures what predict will use
        if self._count("test"):
            test_acc = _evaluate(net, ds, "test", cfg.loss)[1]
        restored = cfg.keep_best and best_weights is not None
        if self.interval is not None and (restored or not snapped):
            # The views end on the weights the run ends with, not on the last timed snapshot.
            acts = None if self.probe is None else net.forward_activations(self.probe)
            last = history["epoch"][-1] if history["epoch"] else 0
            yield Snapshot(last, 0, net.state_dict(), acts)
        yield Finished("completed", _copy(history), test_acc, self.last_checkpoint)

    def _check_loss(self, value: float, where: str, lr: float) -> None:
        """TrainingError when ``value`` (a mean loss) shows the run diverged: not finite, or
        (cross-entropy) over ``_DIVERGED_FACTOR`` times the chance level log K, which Adam at
        lr 1e9 reaches with every number still finite. Raised before anything is saved, so
        the last checkpoint stays the last good one."""
        chance = math.log(max(self.ds.num_classes, 2))
        huge = self.cfg.loss == "cross_entropy" and value > _DIVERGED_FACTOR * chance
        if math.isfinite(value) and not huge:
            return
        what = f"{value:.4g} (chance level is {chance:.4g})" if huge else str(value)
        raise TrainingError(
            f"loss became {what} {where}: the training diverged; the learning rate {lr:g} "
            f"is probably too high; try 10× lower ({lr / 10:g})"
        )

    def _check_weights(self, net, where: str, lr: float) -> None:
        """TrainingError when a step left a parameter NaN or infinite (the last step of an
        epoch, whose loss no later batch checks), before the checkpoint would keep it."""
        for name, value in net.parameters().items():
            if not np.isfinite(value).all():
                raise TrainingError(
                    f"parameter {name} became infinite or NaN {where}: the training diverged; "
                    f"the learning rate {lr:g} is probably too high; try 10× lower ({lr / 10:g})"
                )

    def _stopped(self, net, opt, epoch, batch, history, loss_sum, correct, seen, clock):
        self._check_weights(net, f"at epoch {epoch}, batch {batch}", opt.lr)
        progress = {
            "loss_sum": loss_sum,
            "correct": correct,
            "seen": seen,
            "elapsed_s": clock.elapsed(),
        }
        self._save(net, opt, epoch - 1, batch, history, progress)
        return Finished("stopped", _copy(history), None, self.last_checkpoint)


def _copy(history: dict[str, list]) -> dict[str, list]:
    return {k: list(v) for k, v in history.items()}


class _Clock:
    """Run time with pauses left out, offset by the time earlier calls already trained."""

    def __init__(self, prior_s: float) -> None:
        self._start = time.perf_counter()
        self._prior = prior_s
        self._paused_at: float | None = None
        self._paused_total = 0.0

    def now(self) -> float:
        return time.perf_counter()

    def _here(self) -> float:
        return time.perf_counter() - self._start - self._paused_total

    def elapsed(self) -> float:
        return self._prior + self._here()

    def eta(self, done: int, left: int) -> float | None:
        """Seconds for ``left`` more batches at this call's pace (evaluation included)."""
        return None if done == 0 else self._here() / done * left

    def pause(self) -> None:
        self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_total += time.perf_counter() - self._paused_at
            self._paused_at = None
