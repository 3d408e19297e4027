"""Predictions for dropped images, computed in a worker thread on copies of the weights.

``ModelWeights`` is what the GUI may hold of a network: a snapshot's (or a checkpoint's)
state-dict copies with the spec, the fitted preprocessing and the class names. ``predict_file``
builds a private network from it, so the training thread's live network is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data import Preprocessing, apply_image
from engine.data.preprocess import apply_array
from engine.losses import softmax
from engine.network import build
from engine.spec import NetworkSpec

__all__ = ["ModelWeights", "Prediction", "RunInspection", "inspect_run", "predict_file"]


@dataclass(frozen=True)
class ModelWeights:
    """A network the views may run: ``weights`` maps state-dict names to arrays (copies)."""

    spec: NetworkSpec
    weights: dict[str, np.ndarray]
    preprocessing: Preprocessing
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class Prediction:
    """``image``: float32 (C, H, W) as the network saw it; ``probs``: float (K,);
    ``activations``: one (1, ...) array per layer."""

    path: str
    image: np.ndarray
    probs: np.ndarray
    activations: list[np.ndarray]


def predict_file(model: ModelWeights, path: str) -> Prediction:
    """Preprocess ``path`` as training did and run it through ``model``.

    Raises DatasetError naming the file when it is not a usable image."""
    x = apply_image(model.preprocessing, path)[None]
    net = build(model.spec, seed=0)
    net.load_state_dict(model.weights)
    activations = net.forward_activations(x)
    return Prediction(str(path), x[0], softmax(activations[-1])[0], activations)


@dataclass(frozen=True)
class RunInspection:
    """What the Inspect page shows of a reopened run, computed from its checkpoint on the
    loaded data: ``probe`` float32 (P, C, H, W) and its per-layer ``activations``;
    ``probs`` (N, K), ``labels`` (N,) and raw ``images`` (N, C, H, W) of the validation
    split for the confusion matrix. All None with ``reason`` saying why when the loaded data
    is not the run's (other classes or image size) or no data is loaded."""

    model: ModelWeights
    probe: np.ndarray | None = None
    activations: list[np.ndarray] | None = None
    probs: np.ndarray | None = None
    labels: np.ndarray | None = None
    images: np.ndarray | None = None
    reason: str = ""


def inspect_run(
    model: ModelWeights, dataset, probe_indices: np.ndarray | None = None, limit: int = 2000
) -> RunInspection:
    """Run ``model`` on the first ``limit`` validation images of ``dataset`` (an
    engine.data Dataset, or None), preprocessed as the run's training did, and on the probe
    images at ``probe_indices`` of that split (default: the first 16)."""
    if dataset is None:
        return RunInspection(model, reason="load the run's data set to see its results")
    if tuple(dataset.class_names) != tuple(model.class_names):
        return RunInspection(
            model, reason=f"the loaded data's classes are not the run's ({len(model.class_names)})"
        )
    split = dataset.splits.get("val") or dataset.splits["train"]
    n = min(len(split), limit)
    raw, labels = split.take(np.arange(n))
    if n == 0 or tuple(raw.shape[1:]) != tuple(model.spec.input.shape):
        return RunInspection(model, reason="the loaded data's images are not the run's size")
    x = apply_array(model.preprocessing, raw)
    net = build(model.spec, seed=0)
    net.load_state_dict(model.weights)
    probs = np.concatenate([softmax(net.forward(x[i : i + 256])) for i in range(0, n, 256)], axis=0)
    picks = np.arange(min(16, n)) if probe_indices is None else np.asarray(probe_indices)
    picks = picks[picks < n]
    probe = x[picks]
    return RunInspection(
        model, probe, net.forward_activations(probe), probs, np.asarray(labels), raw
    )
