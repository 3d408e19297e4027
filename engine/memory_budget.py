"""Refuse, before allocating, what this machine's memory cannot hold.

Every spec field can be within its range and the network still need terabytes: a 3x1024x1024
input into a dense layer of 1,000,000 units, 65536 filters on 64x64 maps. Shape inference
already knows the bytes of parameters and of activations, so the question is asked once,
here, with the figures in the answer ("this network needs 11.4 TiB of parameters; this
machine has 23.4 GiB"), by the train command, the designer and (later) ``engine.training``,
and by the data readers for a size declared in a file header.

The machine's memory is its physical memory, lowered by a cgroup limit (a container) and by
an address-space rlimit when either is set: what a process here can really have.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from engine.io import size_text

__all__ = [
    "MemoryBudgetError",
    "TrainingMemory",
    "check_allocation",
    "check_network_fits",
    "machine_memory",
    "network_memory_warning",
    "training_memory",
]

# Training keeps per parameter: the value, its gradient and the optimiser's state (SGD's
# momentum buffer: 1, Adam's two moments: 2). Per activation value: the forward output, kept
# for the backward pass, and the gradient flowing back through it.
_STATE_PER_PARAM = {"sgd": 1, "adam": 2}
_PER_ACTIVATION = 2


class MemoryBudgetError(ValueError):
    """The network, a batch or an array declared by a file would not fit in this machine's
    memory. The message is one line with both figures and what would make it fit."""


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 says "no limit" with a huge number
            return int(text)
    return None


def machine_memory() -> int:
    """Bytes of memory this process can have: physical memory, or less under a cgroup
    memory limit or an RLIMIT_AS soft limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 1 << 62  # unknown (not POSIX): never refuse on a guess
    limits = [total]
    cgroup = _cgroup_limit()
    if cgroup:
        limits.append(cgroup)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            limits.append(soft)
    except (ImportError, ValueError, OSError):
        pass
    return min(limits)


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes a network needs: ``parameters`` (values and running statistics), ``training``
    (parameters with gradients and optimiser state, plus a batch's activations forward and
    backward), ``per_image`` (activation bytes one image adds to a training batch)."""

    parameters: int
    training: int
    per_image: int
    batch_size: int


def training_memory(spec, batch_size: int = 1, optimizer: str = "sgd") -> TrainingMemory:
    """The memory ``spec`` (a NetworkSpec) needs to train with batches of ``batch_size``
    with ``optimizer``, from shape inference: nothing is allocated."""
    from engine.shapes import infer_shapes

    report = infer_shapes(spec)
    params = report.param_memory
    per_image = _PER_ACTIVATION * report.total_memory
    state = _STATE_PER_PARAM.get(optimizer, 2)
    training = params * (2 + state) + batch_size * per_image
    return TrainingMemory(params, training, per_image, batch_size)


def _largest_batch(need: TrainingMemory, budget: int) -> int:
    fixed = need.training - need.batch_size * need.per_image
    if need.per_image <= 0:
        return need.batch_size
    return max(0, (budget - fixed) // need.per_image)


def check_network_fits(
    spec, batch_size: int = 1, optimizer: str = "sgd", *, budget: int | None = None
) -> TrainingMemory:
    """Raise ``MemoryBudgetError`` when training ``spec`` with batches of ``batch_size``
    would not fit in ``budget`` bytes (default: ``machine_memory()``); else return the
    figures. Call it before building the network or reading the data."""
    budget = machine_memory() if budget is None else budget
    need = training_memory(spec, batch_size, optimizer)
    have = f"this machine has {size_text(budget)}"
    if need.parameters > budget:
        raise MemoryBudgetError(
            f"this network needs {size_text(need.parameters)} of parameters; {have}; "
            "use fewer filters or units, or a smaller input before the first dense layer"
        )
    if need.training > budget:
        fits = _largest_batch(need, budget)
        fixed = need.training - need.batch_size * need.per_image
        if fits >= 1:
            hint = f"a batch size of at most {fits} fits"
        elif fixed > budget:
            hint = (
                f"its parameters with gradients and optimiser state alone need "
                f"{size_text(fixed)}: use fewer filters or units"
            )
        else:
            hint = "not even one image fits: shrink the input or the layers"
        raise MemoryBudgetError(
            f"training this network with batches of {batch_size} needs "
            f"{size_text(need.training)} ({size_text(need.parameters)} of parameters, "
            f"{size_text(need.per_image)} of activations per image); {have}; {hint}"
        )
    return need


def network_memory_warning(spec, batch_size: int = 1, optimizer: str = "sgd") -> str | None:
    """The ``check_network_fits`` message for ``spec`` when it would not fit, else None: for
    the designer, which warns as soon as an edit makes the network too big."""
    try:
        check_network_fits(spec, batch_size, optimizer)
    except MemoryBudgetError as e:
        return str(e)
    return None


def check_allocation(nbytes: int, what: str, *, budget: int | None = None) -> None:
    """Raise ``MemoryBudgetError`` naming ``what`` (e.g. "train-images-idx3-ubyte: the
    header's 60000x60000x60000 values") when ``nbytes`` exceeds ``budget`` (default
    ``machine_memory()``)."""
    budget = machine_memory() if budget is None else budget
    if nbytes > budget or not math.isfinite(nbytes):
        raise MemoryBudgetError(
            f"{what} need {size_text(nbytes)} of memory; this machine has {size_text(budget)}"
        )
