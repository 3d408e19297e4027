"""``train.py`` of a PyTorch project: the run's training under ``torchrun``.

    text = train_source(spec, config, preprocessing, class_names)

The script is a template with the run's settings written in as readable literals: the
training settings (``TrainConfig.to_dict()``), the preprocessing steps (their statistics are
measured again on the training split, as ``cnn-workbench train`` does), the class names of a
trained run and the frozen layers. Everything else it needs at run time comes from torch and
this product's engine (``pip install cnn-workbench``): the readers, the preprocessing and
augmentation of batches, the learning-rate schedules and the checkpoint format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.interop.source_text import inert

__all__ = ["train_source"]


def _literal(value: Any) -> str:
    """Python source of a JSON-like value: a dict one item a line, as a person lays it out."""
    if isinstance(value, dict):
        items = "".join(f"    {_literal(k)}: {_literal(v)},\n" for k, v in value.items())
        return "{\n" + items + "}" if value else "{}"
    if isinstance(value, list | tuple):
        one = "[" + ", ".join(_literal(v) for v in value) + "]"
        if len(one) <= 80:
            return one
        return "[\n" + "".join(f"    {_literal(v)},\n" for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a valid Python literal too, in double quotes
    return repr(value)  # None, True, numbers


def train_source(
    spec,
    config: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    class_names: Sequence[str] | None,
    class_name: str,
) -> str:
    """The text of ``train.py`` for ``spec`` trained with ``config`` (a TrainConfig dict) on
    images prepared by ``preprocessing`` (a Preprocessing dict; its mean/std are dropped and
    measured again), checking the data's classes against ``class_names`` (None: any, as for
    an untrained spec). ``class_name``: the model class of model.py."""
    pre = {k: v for k, v in preprocessing.items() if k not in ("mean", "std", "format", "version")}
    frozen = [i for i, layer in enumerate(spec.layers) if not layer.trainable]
    fills = {
        "NAME": inert(spec.name, docstring=True) or "the network",
        "CLASS": class_name,
        "CONFIG": _literal(dict(config)),
        "PREPROCESSING": _literal(pre),
        "CLASS_NAMES": _literal(None if class_names is None else list(class_names)),
        "FROZEN": repr(frozen),
    }
    # One pass: a name that contains "@CONFIG@" stays a name.
    return re.sub(r"@([A-Z_]+)@", lambda m: fills.get(m[1], m[0]), _TEMPLATE)


_TEMPLATE = '''"""Train @NAME@ with PyTorch, on one process or many (torchrun), as CNN
Workbench trains it: the same data readers and preprocessing, optimiser, learning-rate
schedule, loss, seed and epochs. Written by CNN Workbench; see README.md.

    # one machine, N processes (CPU cores: gloo; GPUs: NCCL, one per process)
    torchrun --standalone --nproc-per-node=N train.py --data PATH --out RUN_DIR [--epochs E]
    # several machines: the same line on each, pointing at one of them
    torchrun --nnodes=M --nproc-per-node=N --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\
        --rdzv-id=JOB train.py --data PATH --out RUN_DIR
    # one process, no torchrun
    python train.py --data PATH --out RUN_DIR

Each process trains on its share of the training images (DistributedSampler) with batches
of batch_size / world size, so the gradient DistributedDataParallel averages is that of one
batch of batch_size, as in CNN Workbench. Only rank 0 prints, evaluates and writes RUN_DIR,
a CNN Workbench run folder: `cnn-workbench predict RUN_DIR IMAGE`, `cnn-workbench train
spec.json --data PATH --resume RUN_DIR` and the window's run history open it.
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.data import Preprocessing, load_dataset
from engine.data.split import Split
from engine.optim import ConstantLR, CosineLR, StepLR
from engine.spec import load_spec
from engine.train_config import TrainConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import @CLASS@  # noqa: E402

#: The run's training settings (CNN Workbench's TrainConfig); --epochs replaces "epochs".
CONFIG = @CONFIG@
#: How an image becomes input; the mean and std are measured on the training split.
PREPROCESSING = @PREPROCESSING@
#: The classes the run was trained on (None: whatever the data has).
CLASS_NAMES = @CLASS_NAMES@
#: Positions of the layers that are not trained ("trainable": false in the spec).
FROZEN = @FROZEN@
EVAL_BATCH = 256
#: The settings this script carries out; others of a newer CNN Workbench are reported.
DONE = {"epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
        "step_size", "gamma", "seed", "val_split", "augment", "loss", "init"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    p.add_argument("--data", required=True, help="image folder, IDX folder or CIFAR-10 batches")
    p.add_argument("--out", help="the run folder to write (default: --resume's, else run)")
    p.add_argument("--epochs", type=int, help=f"total epochs (default {CONFIG['epochs']})")
    p.add_argument("--weights", help="start from these weights (weights.safetensors) instead "
                   "of CNN Workbench's initial weights for the seed")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = p.parse_args(argv)
    args.out = Path(args.out or args.resume or "run")
    return args


class Setup:
    """This process's place: rank, world size, device, and the backend torchrun's
    environment asks for (none without torchrun)."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(local)
        self.device = torch.device("cuda", local) if cuda else torch.device("cpu")
        self.backend = "nccl" if cuda else "gloo"
        if self.world > 1:
            dist.init_process_group(self.backend)
        self.main = self.rank == 0

    def log(self, text):
        if self.main:
            print(text, flush=True)

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def sum(self, values):
        """The element-wise sum over every process of a list of numbers."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj):
        out = [None] * self.world
        if self.world > 1:
            dist.all_gather_object(out, obj)
        else:
            out[0] = obj
        return out


def load_data(path, setup):
    pre = Preprocessing.from_dict(PREPROCESSING)
    kw = {"val_fraction": CONFIG["val_split"], "seed": CONFIG["seed"]}
    if not setup.main:  # rank 0 decodes and caches first; the others read its cache
        setup.barrier()
    data = load_dataset(path, pre, **kw)
    if setup.main:
        setup.barrier()
    if CLASS_NAMES is not None and list(data.class_names) != CLASS_NAMES:
        raise SystemExit(f"{path}: classes {list(data.class_names)}, but the run was trained "
                         f"on {CLASS_NAMES}")
    return data


def schedule(config):
    if config.schedule == "step":
        return StepLR(config.lr, config.step_size, config.gamma)
    if config.schedule == "cosine":
        return CosineLR(config.lr, config.epochs)
    return ConstantLR(config.lr)


def make_optimizer(config, params):
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


def loss_fn(config, logits, y):
    if config.loss == "total_error":  # 1/2 sum((onehot - softmax)^2), mean over the batch
        t = F.one_hot(y, logits.shape[1]).to(logits.dtype)
        return 0.5 * (t - logits.softmax(1)).square().sum(1).mean()
    return F.cross_entropy(logits, y)


# ---- CNN Workbench's names and formats


def engine_weights(model):
    """The state dict as CNN Workbench keeps it: float32 numpy arrays under our names."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def load_weights(model, state):
    tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"the weights do not fit the model: missing {missing}, "
                         f"unexpected {unexpected}")


def engine_optimizer_state(opt, model):
    """torch's optimiser state in CNN Workbench's flat form (engine.optim), so that
    `cnn-workbench train --resume` continues with it."""
    group = opt.param_groups[0]
    names = {p: k for k, p in model.named_parameters()}
    if isinstance(opt, torch.optim.Adam):
        beta1, beta2 = group["betas"]
        out = {"kind": "adam", "lr": group["lr"], "beta1": beta1, "beta2": beta2,
               "eps": group["eps"], "weight_decay": group["weight_decay"]}
        buffers = ("exp_avg", "exp_avg_sq")
    else:
        out = {"kind": "sgd", "lr": group["lr"], "momentum": group["momentum"],
               "weight_decay": group["weight_decay"], "nesterov": bool(group["nesterov"])}
        buffers = ("momentum_buffer",)
    steps = 0
    for p, state in opt.state.items():
        steps = max(steps, int(state.get("step", 0)))
        for b in buffers:
            if state.get(b) is not None:
                out[f"{b}/{names[p]}"] = state[b].detach().cpu().numpy().astype(np.float32)
    out["steps"] = steps or opt.steps_done
    return out


def load_optimizer_state(opt, model, state):
    """The inverse of engine_optimizer_state, for --resume."""
    params = dict(model.named_parameters())
    steps = int(np.asarray(state.get("steps", 0)))
    for key, value in state.items():
        which, sep, name = str(key).partition("/")
        if sep and name in params:
            p = params[name]
            opt.state[p][which] = torch.as_tensor(np.asarray(value)).to(p.device, p.dtype)
            if isinstance(opt, torch.optim.Adam):
                opt.state[p]["step"] = torch.tensor(float(steps))
    opt.steps_done = steps


# ---- the loop


def evaluate(model, data, split, config, device):
    model.eval()
    total = correct = seen = 0.0
    with torch.no_grad():
        for x, y in data.iter_batches(split, EVAL_BATCH):
            x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            logits = model(x)
            total += float(loss_fn(config, logits, y)) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
    model.train()
    return total / max(seen, 1), correct / max(seen, 1)


def train_mode(model):
    model.train()
    for i in FROZEN:  # a frozen batch norm keeps its running statistics, as in the engine
        getattr(model, str(i)).eval()


def main(argv=None):
    args = parse_args(argv)
    setup = Setup(args.device)
    spec = load_spec(HERE / "spec.json")
    ckpt = load_checkpoint(args.resume) if args.resume else None
    base = ckpt.config.to_dict() if ckpt else CONFIG
    config = TrainConfig.from_dict({**base, "epochs": args.epochs or base["epochs"]})
    defaults = TrainConfig().to_dict()
    other = {k: v for k, v in config.to_dict().items() if k not in DONE and v != defaults.get(k)}
    if other:
        setup.log("note: this train.py does not carry out " + ", ".join(
            f"{k}={v!r}" for k, v in other.items()) + "; it trains without them")
    torch.manual_seed(config.seed)
    data = load_data(args.data, setup)
    train = data.split("train")

    model = @CLASS@()
    if ckpt is not None:
        load_weights(model, ckpt.weights)
    elif args.weights:
        from engine.interop.torch_weights import read_weights

        load_weights(model, read_weights(args.weights))
    else:  # CNN Workbench's initial weights for the seed: the start of `cnn-workbench train`
        import engine

        load_weights(model, engine.build(spec, seed=config.seed).state_dict())
    for i in FROZEN:
        for p in getattr(model, str(i)).parameters():
            p.requires_grad_(False)
    model.to(setup.device)
    net = model
    if setup.world > 1:
        ids = [setup.device.index] if setup.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
    opt = make_optimizer(config, [p for p in model.parameters() if p.requires_grad])
    opt.steps_done = 0
    if ckpt is not None:
        load_optimizer_state(opt, model, ckpt.optimizer_state)
    lr_at = schedule(config).lr_at
    history = {k: list(v) for k, v in ckpt.history.items()} if ckpt else {}
    for k in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
              "elapsed_s"):
        history.setdefault(k, [])
    first = ckpt.epoch + 1 if ckpt else 1
    batch = max(1, config.batch_size // setup.world)
    sampler = DistributedSampler(range(len(train)), num_replicas=setup.world, rank=setup.rank,
                                 shuffle=True, seed=config.seed)
    backend = setup.backend if setup.world > 1 else "one process"
    setup.log(f"{spec.name}: {len(train)} training images, {len(data.class_names)} classes; "
              f"{setup.world} process(es) on {setup.device.type} ({backend}), batches of "
              f"{batch} per process; epochs {first} to {config.epochs}")
    prior = history["elapsed_s"][-1] if history["elapsed_s"] else 0.0
    start = time.perf_counter()
    for epoch in range(first, config.epochs + 1):
        lr = lr_at(epoch - 1)
        for group in opt.param_groups:
            group["lr"] = lr
        sampler.set_epoch(epoch)
        mine = np.sort(np.fromiter(sampler, dtype=np.int64))
        # This process's share as a split of its own; the engine shuffles and augments it.
        share = Split("train", train.source, train.indices[mine])
        part = dataclasses.replace(data, splits={**data.splits, "share": share})
        rng = np.random.default_rng([config.seed, epoch, setup.rank])
        train_mode(model)
        loss_sum = correct = seen = 0.0
        with part.iter_batches("share", batch, shuffle=True, rng=rng,
                               augment=config.augmentation(), prefetch=1) as batches:
            for x, y in batches:
                x, y = torch.from_numpy(x).to(setup.device), torch.from_numpy(y).to(setup.device)
                logits = net(x)
                loss = loss_fn(config, logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                opt.steps_done += 1
                loss_sum += loss.item() * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
        counts = setup.gather((setup.rank, int(seen), len(np.unique(mine))))
        loss_sum, correct, seen = setup.sum([loss_sum, correct, seen])
        val_loss = val_acc = None
        if setup.main and len(data.splits.get("val", ())):
            val_loss, val_acc = evaluate(model, data, "val", config, setup.device)
        elapsed = prior + time.perf_counter() - start
        row = (epoch, loss_sum / seen, correct / seen, val_loss, val_acc, lr, elapsed)
        for k, v in zip(history, row):
            history[k].append(v)
        setup.log("epoch {}: ".format(epoch) + ", ".join(
            f"rank {r} trained on {n} images" for r, n, _ in counts))
        val = "" if val_acc is None else f", validation loss {val_loss:.4f} accuracy {val_acc:.4f}"
        setup.log(f"epoch {epoch}/{config.epochs}: loss {row[1]:.4f} accuracy {row[2]:.4f}{val}, "
                  f"lr {lr:g}, {elapsed:.1f} s")
        if setup.main:
            folder = save_checkpoint(
                args.out, spec=spec, config=config, preprocessing=data.preprocessing.to_dict(),
                class_names=data.class_names, epoch=epoch, batch=0, history=history,
                weights=engine_weights(model), optimizer_state=engine_optimizer_state(opt, model),
                rng={"seed": config.seed, "scheme": "torch DistributedSampler(seed, epoch) "
                     "shares; order+augment: default_rng([seed, epoch, rank])"},
            )
            setup.log(f"checkpoint: {folder}")
        setup.barrier()
    if setup.main and len(data.splits.get("test", ())):
        setup.log(f"test accuracy {evaluate(model, data, 'test', config, setup.device)[1]:.4f}")
    if setup.world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
