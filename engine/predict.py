"""Class probabilities for new pictures from a trained checkpoint, preprocessed as in training.

    results = predict_files("runs/mnist-2conv-20250101-120000", ["seven.png"], top=3)
    results[0].top   # (("7", 0.97), ("1", 0.02), ("9", 0.004))

``Predictor`` keeps the network loaded for repeated use (the GUI's drop-an-image view).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.checkpoint import Checkpoint, CheckpointError, load_checkpoint

__all__ = ["Prediction", "Predictor", "image_files", "predict_files"]


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


class Predictor:
    """A checkpoint's network, preprocessing and class names, ready to classify pictures.

    Raises ``CheckpointError`` for a missing or corrupt checkpoint, or one whose weights do
    not fit its own spec."""

    def __init__(self, checkpoint: str | os.PathLike[str] | Checkpoint) -> None:
        import engine
        from engine.data import Preprocessing
        from engine.network import StateDictError

        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.checkpoint = ckpt
        self.class_names = ckpt.class_names
        self.preprocessing = Preprocessing.from_dict(ckpt.preprocessing)
        self.network = engine.build(ckpt.spec, seed=0)
        try:
            self.network.load_state_dict(ckpt.weights)
        except StateDictError as e:
            raise CheckpointError(f"{ckpt.path / 'weights.npz'}: {e}") from None

    def predict_arrays(self, x: np.ndarray, top: int = 5, sources=None) -> list[Prediction]:
        """Predictions for preprocessed images float32 (N, C, H, W)."""
        probs = self.network.predict_proba(x).astype(np.float32)
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
        from engine.data import apply_image

        x = apply_image(self.preprocessing, image)[None]
        source = "image" if isinstance(image, Image.Image) else str(Path(image))
        return self.predict_arrays(x, top, [source])[0]


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
