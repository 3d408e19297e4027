"""Optimisers (SGD with momentum, Adam; PyTorch semantics) and learning-rate schedules.

    opt = SGD(lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt.step(net.parameters(), grads)        # updates the live parameter arrays in place
    state = opt.state_dict()                 # flat dict: scalars + float32 arrays (np.savez-able)
    opt.load_state_dict(state)               # resumes bit for bit

    schedule = CosineLR(lr=0.01, total_epochs=20, min_lr=1e-4)
    opt.lr = schedule.lr_at(epoch)           # epochs count from 0

State dicts are flat so a checkpoint can store them in one ``.npz``: scalars are Python
numbers or strings (0-d arrays after a round trip through ``np.load`` are accepted), and
per-parameter buffers are float32 arrays under keys "<buffer>/<parameter name>".
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np

from engine.kernels.updates import adam_update, sgd_update
from engine.kernels.workers import SERIAL_ELEMENTS, kernel_threads

__all__ = [
    "SCHEDULES",
    "SGD",
    "Adam",
    "ConstantLR",
    "CosineLR",
    "Optimizer",
    "Schedule",
    "StepLR",
    "make_optimizer",
]


def _scalar(state: Mapping, key: str, kind: str):
    if key not in state:
        raise ValueError(f"{kind} state dict: missing {key!r}")
    value = state[key]
    return value.item() if isinstance(value, np.ndarray) else value


class Optimizer(ABC):
    """Common bookkeeping: hyperparameters, per-parameter buffers, the step count."""

    kind = "optimizer"
    _hyper: tuple[str, ...] = ()
    _buffers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.steps = 0
        self.state: dict[str, dict[str, np.ndarray]] = {name: {} for name in self._buffers}

    def _buffer(self, which: str, name: str, like: np.ndarray) -> np.ndarray:
        store = self.state[which]
        buf = store.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = store[name] = np.zeros_like(like)
        return buf

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter that has a gradient, in place. Parameters must be contiguous
        arrays (the network's are); a gradient of another shape raises ValueError.

        A parameter without a gradient (a frozen layer's: ``Network.loss_and_grads`` leaves
        them out) is not touched, weight decay included, and gets no state, so
        :meth:`state_dict` holds buffers for the trained parameters only."""
        first = self.steps == 0
        self.steps += 1
        for name, param in params.items():
            grad = grads.get(name)
            if grad is None:
                continue
            if grad.shape != param.shape:
                raise ValueError(
                    f"{self.kind}: gradient for {name!r} has shape {grad.shape}, "
                    f"parameter has {param.shape}"
                )
            if not param.flags.c_contiguous:
                raise ValueError(f"{self.kind}: parameter {name!r} must be a contiguous array")
            flat_grad = np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)
            kernel_threads(param.size)  # a bias of 16 values on one thread
            self._update(name, param.reshape(-1), flat_grad, first)
        kernel_threads(SERIAL_ELEMENTS)

    @abstractmethod
    def _update(self, name: str, param: np.ndarray, grad: np.ndarray, first: bool) -> None:
        """Update the flat float32 ``param`` in place from ``grad`` (``first``: step one)."""

    def state_dict(self) -> dict[str, object]:
        """Flat dict: "kind", the hyperparameters, "steps", and "<buffer>/<param>" copies."""
        out: dict[str, object] = {"kind": self.kind, "steps": self.steps}
        out.update({k: getattr(self, k) for k in self._hyper})
        for which, store in self.state.items():
            for name, buf in store.items():
                out[f"{which}/{name}"] = buf.copy()
        return out

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore from :meth:`state_dict` (also after np.savez / np.load). Raises ValueError
        for another optimiser's state or a missing entry."""
        kind = str(_scalar(state, "kind", self.kind))
        if kind != self.kind:
            raise ValueError(f"cannot load a {kind!r} optimiser state into {self.kind!r}")
        values = {k: _scalar(state, k, self.kind) for k in (*self._hyper, "steps")}
        buffers: dict[str, dict[str, np.ndarray]] = {which: {} for which in self._buffers}
        for key, value in state.items():
            which, sep, name = str(key).partition("/")
            if sep and which in buffers:
                buffers[which][name] = np.array(value, dtype=np.float32)
        for k, v in values.items():
            setattr(self, k, type(getattr(self, k))(v))
        self.state = buffers

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay (torch.optim.SGD,
    dampening 0): g = grad + weight_decay * p; buf = momentum * buf + g (buf = g at the first
    step); p -= lr * (g + momentum * buf if nesterov else buf)."""

    kind = "sgd"
    _hyper = ("lr", "momentum", "weight_decay", "nesterov")
    _buffers = ("momentum_buffer",)

    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(
                f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, "
                f"{weight_decay}"
            )
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        super().__init__()
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def _update(self, name, param, grad, first):
        dtype = param.dtype.type
        if self.momentum != 0:
            # PyTorch starts the buffer as a copy of the first gradient of each parameter.
            first = first or name not in self.state["momentum_buffer"]
            buf = self._buffer("momentum_buffer", name, param)
        else:
            buf = param  # unused by the kernel when momentum is 0
        sgd_update(
            param,
            grad,
            buf,
            dtype(self.lr),
            dtype(self.momentum),
            dtype(self.weight_decay),
            self.nesterov,
            first,
        )


class Adam(Optimizer):
    """Adam (torch.optim.Adam, amsgrad off, L2 weight decay added to the gradient)."""

    kind = "adam"
    _hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        beta1, beta2 = betas
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(
                f"Adam: need lr, eps, weight_decay >= 0 and betas in [0, 1), got lr={lr}, "
                f"betas={betas}, eps={eps}, weight_decay={weight_decay}"
            )
        super().__init__()
        self.lr = float(lr)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def _update(self, name, param, grad, first):
        dtype = param.dtype.type
        t = self.steps
        # Bias corrections in double precision, as PyTorch computes them in Python floats.
        step_size = self.lr / (1 - self.beta1**t)
        bc2_sqrt = math.sqrt(1 - self.beta2**t)
        adam_update(
            param,
            grad,
            self._buffer("exp_avg", name, param),
            self._buffer("exp_avg_sq", name, param),
            dtype(step_size),
            dtype(self.beta1),
            dtype(self.beta2),
            dtype(bc2_sqrt),
            dtype(self.eps),
            dtype(self.weight_decay),
        )


def make_optimizer(kind: str, **settings) -> Optimizer:
    """An optimiser by name ("sgd" or "adam") with keyword settings."""
    table = {"sgd": SGD, "adam": Adam}
    if kind not in table:
        raise ValueError(f"unknown optimiser {kind!r}; expected one of {', '.join(table)}")
    return table[kind](**settings)


# ---------------------------------------------------------------------- schedules


class Schedule(ABC):
    """A learning rate per epoch: ``lr_at(epoch)`` (epochs from 0), ``to_dict`` / ``from_dict``."""

    kind = "schedule"
    _fields: tuple[str, ...] = ("lr",)

    @abstractmethod
    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (counted from 0)."""

    def to_dict(self) -> dict:
        return {"kind": self.kind, **{k: getattr(self, k) for k in self._fields}}

    @classmethod
    def from_dict(cls, d: Mapping) -> Schedule:
        """Rebuild any schedule from ``to_dict()``; ValueError names a bad kind or field."""
        fields = dict(d)
        kind = fields.pop("kind", None)
        if kind not in SCHEDULES:
            raise ValueError(
                f"unknown learning-rate schedule {kind!r}; expected one of {', '.join(SCHEDULES)}"
            )
        target = SCHEDULES[kind]
        unknown = sorted(set(fields) - set(target._fields))
        if unknown:
            raise ValueError(
                f"{kind} schedule: unknown fields {', '.join(unknown)} "
                f"(allowed: {', '.join(target._fields)})"
            )
        try:
            return target(**fields)
        except TypeError as e:
            raise ValueError(f"{kind} schedule: {e}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """The same learning rate every epoch."""

    kind = "constant"

    def __init__(self, lr: float):
        self.lr = float(lr)

    def lr_at(self, epoch: int) -> float:
        return self.lr


class StepLR(Schedule):
    """lr * gamma ** (epoch // step_size), as torch.optim.lr_scheduler.StepLR."""

    kind = "step"
    _fields = ("lr", "step_size", "gamma")

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        if int(step_size) < 1:
            raise ValueError(
                f"step schedule: step_size must be a positive integer, got {step_size}"
            )
        self.lr = float(lr)
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.gamma ** (int(epoch) // self.step_size)


class CosineLR(Schedule):
    """min_lr + (lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2, the closed form of
    torch.optim.lr_scheduler.CosineAnnealingLR; min_lr from total_epochs on."""

    kind = "cosine"
    _fields = ("lr", "total_epochs", "min_lr")

    def __init__(self, lr: float, total_epochs: int, min_lr: float = 0.0):
        if int(total_epochs) < 1:
            raise ValueError(
                f"cosine schedule: total_epochs must be a positive integer, got {total_epochs}"
            )
        self.lr = float(lr)
        self.total_epochs = int(total_epochs)
        self.min_lr = float(min_lr)

    def lr_at(self, epoch: int) -> float:
        e = min(int(epoch), self.total_epochs)
        cos = math.cos(math.pi * e / self.total_epochs)
        return self.min_lr + (self.lr - self.min_lr) * (1 + cos) / 2


#: Schedules by the names ``to_dict()`` writes as "kind".
SCHEDULES: dict[str, type[Schedule]] = {c.kind: c for c in (ConstantLR, StepLR, CosineLR)}
