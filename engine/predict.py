"""Class probabilities for new pictures from a trained checkpoint, preprocessed as in training.

    results = predict_files("runs/mnist-2conv-20250101-120000", ["seven.png"], top=3)
    results[0].top   # (("7", 0.97), ("1", 0.02), ("9", 0.004))

``Predictor`` keeps the network loaded for repeated use: from a checkpoint folder, or
``Predictor.from_weights`` from a state dict in memory (the GUI's newest snapshot). Its
network is built once and used under a lock, so one Predictor may serve several threads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.checkpoint import Checkpoint, CheckpointError, load_checkpoint

__all__ = ["ImageActivations", "Prediction", "Predictor", "image_files", "predict_files"]


@dataclass(frozen=True)
class Prediction:
    """One picture's result: ``source`` (the path, or "image" for an in-memory picture),
    ``probabilities`` float32 (K,) in class order summing to 1, and ``top``: the ``top``
    most likely ``(class name, probability)`` pairs, most likely first."""

    source: str
    probabilities: np.ndarray
    top: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str:
        """The most likely class name."""
        return self.top[0][0]

    def to_dict(self) -> dict:
        return {
            "image": self.source,
            "top": [{"class": c, "probability": p} for c, p in self.top],
            "probabilities": [float(p) for p in self.probabilities],
        }


@dataclass(frozen=True)
class ImageActivations:
    """One picture as the network saw it: ``image`` float32 (C, H, W) after preprocessing,
    ``probabilities`` float32 (K,) and ``activations``, the evaluation output of every layer
    in order, each (1, ...) float32."""

    source: str
    image: np.ndarray
    probabilities: np.ndarray
    activations: list[np.ndarray]


def _prefer_best(path):
    """A run folder's best/ checkpoint (``train --keep-best``) when present, else ``path``."""
    best = Path(path) / "best"
    return best if (best / "checkpoint" / "checkpoint.json").is_file() else path


def _load(path) -> Checkpoint:
    """The checkpoint ``path`` names, its best/ one preferred; a best/ that cannot be read
    says how to use the latest epoch's instead of only that it is corrupt."""
    chosen = _prefer_best(path)
    try:
        return load_checkpoint(chosen)
    except CheckpointError as e:
        if chosen == path:
            raise
        latest = Path(path) / "checkpoint"
        raise CheckpointError(
            f"{e}; the best epoch's checkpoint cannot be used: give {latest} for the latest "
            "epoch's, or restore best/"
        ) from None


class Predictor:
    """A network with its preprocessing and class names, ready to classify pictures.

    ``Predictor(checkpoint)`` raises ``CheckpointError`` for a missing or corrupt
    checkpoint, or one whose weights do not fit its own spec."""

    def __init__(self, checkpoint: str | os.PathLike[str] | Checkpoint) -> None:
        from engine.data import Preprocessing
        from engine.network import StateDictError

        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else _load(checkpoint)
        self.checkpoint: Checkpoint | None = ckpt
        try:
            self._setup(ckpt.spec, ckpt.weights, Preprocessing.from_dict(ckpt.preprocessing),
                        ckpt.class_names)  # fmt: skip
        except StateDictError as e:
            raise CheckpointError(f"{ckpt.path / 'weights.npz'}: {e}") from None

    @classmethod
    def from_weights(cls, spec, weights, preprocessing, class_names) -> Predictor:
        """The network of ``spec`` (a NetworkSpec) with ``weights`` (state-dict names to
        arrays, as ``Network.state_dict`` gives them), a fitted ``Preprocessing`` and one
        class name per output. Raises SpecError for a spec that cannot be built and
        ``StateDictError`` naming the entry for weights that do not fit it."""
        self = cls.__new__(cls)
        self.checkpoint = None
        self._setup(spec, weights, preprocessing, class_names)
        return self

    def _setup(self, spec, weights, preprocessing, class_names) -> None:
        import engine

        self.spec = spec
        self.class_names = tuple(class_names)
        self.preprocessing = preprocessing
        self.network = engine.build(spec, weights=weights)
        # The layers keep per-call buffers: one caller at a time.
        self.lock = threading.Lock()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities float32 (N, K) for preprocessed images float32 (N, C, H, W)."""
        with self.lock:
            return self.network.predict_proba(x).astype(np.float32)

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's evaluation output for preprocessed images (N, C, H, W), in order."""
        with self.lock:
            return self.network.forward_activations(x)

    def predict_arrays(self, x: np.ndarray, top: int = 5, sources=None) -> list[Prediction]:
        """Predictions for preprocessed images float32 (N, C, H, W)."""
        probs = self.probabilities(x)
        names = sources if sources is not None else ["image"] * len(probs)
        out = []
        for src, p in zip(names, probs, strict=True):
            order = np.argsort(-p, kind="stable")[: max(1, top)]
            pairs = tuple((self.class_names[i], float(p[i])) for i in order)
            out.append(Prediction(str(src), p, pairs))
        return out

    def predict_image(self, image: Image.Image | str | os.PathLike[str], top: int = 5):
        """One picture (a PIL image or a file path) -> Prediction. Raises ``DatasetError``
        naming the file when it cannot be read as an image."""
        x = self.preprocess(image)[None]
        return self.predict_arrays(x, top, [_source(image)])[0]

    def explain_image(self, image: Image.Image | str | os.PathLike[str]) -> ImageActivations:
        """One picture with every layer's output (for feature maps): ``DatasetError`` naming
        the file when it cannot be read as an image."""
        x = self.preprocess(image)[None]
        activations = self.activations(x)
        from engine.losses import softmax

        probs = softmax(activations[-1])[0].astype(np.float32)
        return ImageActivations(_source(image), x[0], probs, activations)

    def preprocess(self, image: Image.Image | str | os.PathLike[str]) -> np.ndarray:
        """The picture as training saw it: float32 (C, H, W)."""
        from engine.data import apply_image

        return apply_image(self.preprocessing, image)


def _source(image) -> str:
    return "image" if isinstance(image, Image.Image) else str(Path(image))


def predict_files(checkpoint_dir: str | os.PathLike[str], paths, top: int = 5) -> list[Prediction]:
    """Classify image files with the model in ``checkpoint_dir`` (a run folder or its
    checkpoint/ folder), applying the stored preprocessing. Returns one Prediction per path,
    in order. Raises ``CheckpointError`` for the checkpoint, ``DatasetError`` naming the
    first file that is not a readable image."""
    from engine.data import apply_image

    predictor = Predictor(checkpoint_dir)
    paths = [str(Path(p)) for p in paths]
    if not paths:
        return []
    x = np.stack([apply_image(predictor.preprocessing, p) for p in paths])
    return predictor.predict_arrays(x, top, paths)


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file (by extension, regular files only, hidden ones left out) in
    ``folder`` and its subfolders, sorted by path: what "predict a folder" classifies."""
    from engine.data import IMAGE_EXTENSIONS

    root = Path(folder)
    found = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not p.is_symlink()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)
