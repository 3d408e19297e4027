"""Predictions for dropped images, computed in a worker thread on copies of the weights.

``ModelWeights`` is what the GUI may hold of a network: a snapshot's (or a checkpoint's)
state-dict copies with the spec, the fitted preprocessing and the class names. ``predict_file``
builds a private network from it, so the training thread's live network is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data import Preprocessing, apply_image
from engine.losses import softmax
from engine.network import build
from engine.spec import NetworkSpec

__all__ = ["ModelWeights", "Prediction", "predict_file"]


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
