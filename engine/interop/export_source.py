"""What an export starts from (ONNX, PyTorch project): a run folder with its trained weights,
or a spec with the initial weights of a seed. Kept apart from the writers so that each export
needs only its own library (onnx, torch)."""

from __future__ import annotations

import os

__all__ = ["load_source"]


def load_source(source: str | os.PathLike[str], seed: int = 0):
    """What ``cnn-workbench export`` exports: a run folder (or its checkpoint/ folder or
    checkpoint.json) with its trained weights, preprocessing and class names; otherwise a
    spec (preset name or spec file) with the initial weights of ``seed``, the plain
    preprocessing of its input size (pixels / 255; None when the input has neither 1 nor 3
    channels) and classes named "0", "1", ...

    Returns (network, preprocessing record, class names, where the weights come from).
    Raises ``CheckpointError`` for a bad run folder, ``SpecError`` for a bad spec."""
    from pathlib import Path

    import engine
    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.data import Preprocessing
    from engine.network import StateDictError
    from engine.spec import load_spec

    p = Path(source) if isinstance(source, str | os.PathLike) else None
    if p is not None and (p.is_dir() or p.name == "checkpoint.json"):
        ckpt = load_checkpoint(p)
        try:
            net = engine.build(ckpt.spec, weights=ckpt.weights)
        except StateDictError as e:
            raise CheckpointError(f"{ckpt.path / 'weights.npz'}: {e}") from None
        where = f"trained: {ckpt.path}, {ckpt.epoch} epochs"
        return net, dict(ckpt.preprocessing), tuple(ckpt.class_names), where
    spec = load_spec(source)
    _check_parameters_fit(source, spec)
    net = engine.build(spec, seed=seed)
    c, h, w = net.spec.input.shape
    names = tuple(str(k) for k in range(net.num_classes))
    pre = Preprocessing(c, h, w).to_dict() if c in (1, 3) else None
    return net, pre, names, f"initial: seed {seed}, untrained"


def _check_parameters_fit(source, spec) -> None:
    """Refuse, before engine.build allocates them, parameters that this machine cannot hold
    (a valid spec of 65,536 64×64 filters before a million-unit dense layer wants 244 GiB):
    SpecError naming the source and both sizes."""
    from engine.io import size_text
    from engine.memory_budget import machine_memory, training_memory
    from engine.spec import SpecError

    need, have = training_memory(spec).parameters, machine_memory()
    if need > have:
        where = f"{source}: " if isinstance(source, str | os.PathLike) else ""
        raise SpecError(f"{where}its network needs {size_text(need)} of parameters; this "
                        f"machine has {size_text(have)}")  # fmt: skip
