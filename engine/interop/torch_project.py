"""PyTorch project export: a folder a person can read, run and train on a cluster.

    project = export_torch_project("runs/fashion-1", "fashion-pytorch")   # or a spec / preset

writes into the folder:

- ``model.py``: the network as PyTorch source (:mod:`engine.interop.torch_project_model`),
  its ``state_dict`` keys and shapes exactly ours ("{position}.weight");
- ``weights.safetensors``: the run's trained weights (a spec: the initial weights of
  ``seed``), written by safetensors' published layout (no pickle, no safetensors package
  needed), plus each batch norm's ``num_batches_tracked`` so ``load_state_dict`` is strict;
- ``train.py``: the run's training under torchrun (:mod:`engine.interop.torch_project_train`);
- ``spec.json``: the spec, which train.py writes into its checkpoints;
- ``README.md``: the commands, for one machine and for several.

What the run was trained with comes from its checkpoint: its training settings and its
preprocessing steps. A spec gets ``TrainConfig()``'s settings and the preprocessing a
``cnn-workbench train`` run of it would use (stretched, standardised per channel).

torch is imported when this module is (the source is read off the modules the catalogue's
``torch_module`` hooks build); the rest of the engine never needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.interop.torch_project_model import class_name, model_source
from engine.interop.torch_project_train import train_source
from engine.interop.torch_weights import write_safetensors
from engine.io import atomic_write_text

__all__ = ["FILES", "TorchProject", "export_torch_project", "project_readme", "torch_state"]

FILES = ("model.py", "weights.safetensors", "train.py", "spec.json", "README.md")


@dataclass(frozen=True)
class TorchProject:
    """What :func:`export_torch_project` wrote: the folder, its files (name -> bytes
    written), the model class and where the weights come from."""

    folder: Path
    files: dict[str, int]
    class_name: str
    weights: str


def torch_state(net) -> dict[str, np.ndarray]:
    """``net``'s state dict (float32, our names) with what torch's own adds: an int64
    ``num_batches_tracked`` (0) after each batch norm's running variance."""
    out: dict[str, np.ndarray] = {}
    for key, value in net.state_dict().items():
        out[key] = np.ascontiguousarray(value, dtype=np.float32)
        if key.endswith(".running_var"):
            out[key.removesuffix("running_var") + "num_batches_tracked"] = np.array(0, np.int64)
    return out


def _run_settings(source, spec):
    """(TrainConfig, preprocessing dict, class names or None) of a run folder; a spec's
    defaults otherwise."""
    from engine.checkpoint import load_checkpoint
    from engine.train_config import TrainConfig
    from engine.training import default_preprocessing

    p = Path(source) if isinstance(source, str | os.PathLike) else None
    if p is not None and (p.is_dir() or p.name == "checkpoint.json"):
        ckpt = load_checkpoint(p)
        return ckpt.config, dict(ckpt.preprocessing), list(ckpt.class_names)
    return TrainConfig(), default_preprocessing(spec).to_dict(), None


def _check_model(text: str, name: str, state: dict[str, np.ndarray]) -> None:
    """Build the model of ``text`` (on torch's meta device: no memory) and compare its
    state_dict's keys and shapes with ``state``: a wrong model.py is never written."""
    import torch

    scope: dict = {"__name__": "model"}
    # The text was generated a moment ago from the spec, never read from a file; every
    # string of the spec in it went through source_text.inert, so none can end a comment or
    # a docstring. A text that still does not compile is our bug: say so, write nothing.
    try:
        code = compile(text, "model.py", "exec")
    except (SyntaxError, ValueError) as e:
        raise ValueError(f"model.py could not be written for this network ({e})") from None
    exec(code, scope)
    with torch.device("meta"):
        model = scope[name]()
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in state.items()}
    if theirs != ours:
        diff = sorted(set(theirs.items()) ^ set(ours.items()))[:4]
        raise ValueError(f"model.py does not match the network's parameters: {diff}")


def project_readme(spec, name: str, config, where: str) -> str:
    """README.md of the folder: what is in it and the commands."""
    c, h, w = spec.input.shape
    return f"""# {spec.name or "Network"}: PyTorch project

Written by CNN Workbench. Weights: {where}.

- `model.py`: `{name}`, the network as a PyTorch module (it imports only torch); its
  parameters are named as CNN Workbench names them (`"0.weight"`: the layer's position).
- `weights.safetensors`: its weights,
  `model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))`.
- `train.py`: the run's training under `torchrun`, with CNN Workbench's data readers and
  preprocessing: {config.optimizer}, lr {config.lr:g} ({config.schedule} schedule),
  {config.loss}, seed {config.seed}, {config.epochs} epochs, batches of {config.batch_size}.
- `spec.json`: the network as a CNN Workbench spec (`cnn-workbench summary spec.json`).

Input: float32 (batch, {c}, {h}, {w}); output: logits, one per class.

## Train on one machine

```
pip install cnn-workbench torch          # train.py reads the data with CNN Workbench
torchrun --standalone --nproc-per-node=N train.py --data PATH --out RUN_DIR [--epochs E]
python train.py --data PATH --out RUN_DIR    # one process, no torchrun
```

N processes share each epoch's images (DistributedSampler) and average their gradients
(DistributedDataParallel): gloo on CPUs, NCCL on GPUs (one per process, `--device cuda`).
Each takes batches of {config.batch_size} / N, so one step sees {config.batch_size} images, as in
CNN Workbench.

## Train on several machines

The same command on every machine, with the address of one of them:

```
torchrun --nnodes=M --nproc-per-node=N --rdzv-backend=c10d \\
    --rdzv-endpoint=HOST:29500 --rdzv-id=JOB train.py --data PATH --out RUN_DIR
```

Every machine needs the data at PATH; rank 0 writes RUN_DIR.

## Use the result

RUN_DIR is a CNN Workbench run folder:

```
cnn-workbench predict RUN_DIR IMAGE...
cnn-workbench train spec.json --data PATH --resume RUN_DIR --epochs MORE
torchrun --standalone --nproc-per-node=N train.py --data PATH --resume RUN_DIR --epochs MORE
```

`--weights weights.safetensors` starts train.py from these weights (fine-tuning) instead of
CNN Workbench's initial weights for the seed.
"""


def export_torch_project(source, out, *, seed: int = 0) -> TorchProject:
    """Write the PyTorch project of ``source`` (a run folder: its trained weights and its
    training settings; a spec or preset name: the initial weights of ``seed`` and the
    default settings) into the folder ``out`` (made if missing; our files in it are
    replaced, each atomically). Raises ``CheckpointError`` / ``SpecError`` for a bad
    source, ValueError for a network that cannot be written, OSError when the disk refuses."""
    from engine.interop.export_source import load_source

    net, _, _, where = load_source(source, seed)
    spec = net.spec
    config, pre, classes = _run_settings(source, spec)
    name = class_name(spec)
    model_text = model_source(spec)
    state = torch_state(net)
    _check_model(model_text, name, state)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "model.py": model_text,
        "train.py": train_source(spec, config.to_dict(), pre, classes, name),
        "spec.json": spec.to_json() + "\n",
        "README.md": project_readme(spec, name, config, where),
    }
    sizes = {}
    meta = {"format": "pt", "producer": "cnn-workbench", "network": spec.name, "weights": where}
    sizes["weights.safetensors"] = write_safetensors(folder / "weights.safetensors", state, meta)
    for file, text in texts.items():
        atomic_write_text(folder / file, text)
        sizes[file] = len(text.encode("utf-8"))
    return TorchProject(folder, {f: sizes[f] for f in FILES}, name, where)
