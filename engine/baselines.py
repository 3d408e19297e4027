"""Baselines beside the CNN: k-nearest neighbours and a linear classifier on raw pixels.

The tutorials argue that a kNN or linear classifier on pixels fails where a CNN works,
because the same object can sit anywhere in the image. This module measures that on the
user's own data: the same preprocessed pixels and the same splits as the CNN (a
:class:`engine.data.Dataset` loaded as ``train`` loads it), scikit-learn's
``KNeighborsClassifier`` (L1 or L2 distance) and ``LogisticRegression`` (softmax regression),
and :func:`shift_test`, accuracy on test images moved by 0-4 pixels.

    ds = load_dataset(path, default_preprocessing(spec), val_fraction=0.1, seed=0)
    result, model = fit_baseline("knn", ds, k=5)
    result.val_accuracy, result.test_accuracy
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.data import Dataset, apply_array

__all__ = [
    "BASELINES",
    "BaselineResult",
    "fit_baseline",
    "native_shape",
    "network_predictor",
    "shift_images",
    "shift_test",
    "sklearn_predictor",
    "split_arrays",
]

BASELINES = ("knn", "linear")
METRICS = {"l1": 1, "l2": 2}
#: Shifts of the shift test, in pixels.
SHIFTS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's scores: ``kind`` "knn" or "linear", accuracies in [0, 1] (None for a
    split the data set does not have), the settings used, image counts and fit seconds."""

    kind: str
    val_accuracy: float | None
    test_accuracy: float | None
    settings: dict = field(default_factory=dict)
    num_train: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """ "kNN (k=5, L2)" or "linear (softmax regression)"."""
        if self.kind == "knn":
            return f"kNN (k={self.settings.get('k')}, {self.settings.get('metric', 'l2').upper()})"
        return "linear (softmax regression)"


def split_arrays(data: Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``name`` preprocessed as the CNN sees it: float32 (N, C*H*W) and int64 (N,)."""
    split = data.split(name)
    if len(split) == 0:
        c, h, w = data.preprocessing.shape
        return np.zeros((0, c * h * w), np.float32), np.zeros(0, np.int64)
    xs, ys = [], []
    for x, y in data.iter_batches(name, 2048):
        xs.append(x.reshape(len(x), -1))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _model(kind: str, k: int, metric: str, seed: int, max_iter: int):
    if kind == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=k, p=METRICS[metric])
    from sklearn.linear_model import LogisticRegression

    # lbfgs fits the multinomial (softmax) model on all classes at once.
    return LogisticRegression(max_iter=max_iter, random_state=seed)


def fit_baseline(
    kind: str,
    data: Dataset,
    *,
    k: int = 5,
    metric: str = "l2",
    seed: int = 0,
    max_iter: int = 200,
):
    """Fit baseline ``kind`` ("knn" or "linear") on ``data``'s training split and score it
    on validation and test. Returns ``(BaselineResult, model)``; the model is the fitted
    scikit-learn estimator (``predict`` takes float32 (N, C*H*W)). Raises ValueError for an
    unknown kind or metric, or k below 1."""
    if kind not in BASELINES:
        raise ValueError(f"baseline {kind!r}: expected one of {', '.join(BASELINES)}")
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: expected l1 or l2")
    if k < 1:
        raise ValueError(f"k = {k}: expected 1 or more neighbours")
    x, y = split_arrays(data, "train")
    k = min(k, len(x))
    start = time.perf_counter()
    model = _model(kind, k, metric, seed, max_iter)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A linear model that has not fully converged after max_iter still scores; the
        # number is what the learner compares, not the optimiser's report.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    scores: dict[str, float | None] = {}
    for name in ("val", "test"):
        if name in data.splits and len(data.splits[name]):
            xs, ys = split_arrays(data, name)
            scores[name] = float(np.mean(model.predict(xs) == ys))
        else:
            scores[name] = None
    settings = {"k": k, "metric": metric} if kind == "knn" else {"max_iter": max_iter}
    result = BaselineResult(
        kind, scores["val"], scores["test"], settings, len(x), time.perf_counter() - start
    )
    return result, model


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """uint8 (N, C, H, W) moved down by ``dy`` and right by ``dx`` pixels (negative: up,
    left); what slides in is 0 (black, the background of MNIST-like images)."""
    out = np.zeros_like(images)
    h, w = images.shape[-2:]
    src_y = slice(max(0, -dy), min(h, h - dy))
    dst_y = slice(max(0, dy), min(h, h + dy))
    src_x = slice(max(0, -dx), min(w, w - dx))
    dst_x = slice(max(0, dx), min(w, w + dx))
    out[..., dst_y, dst_x] = images[..., src_y, src_x]
    return out


def shift_test(
    classifiers: dict,
    data: Dataset,
    split: str = "test",
    shifts: Sequence[int] = SHIFTS,
    limit: int | None = 2000,
) -> dict[str, list[float]]:
    """Accuracy of each classifier on ``split``'s images (the first ``limit``) moved by each
    shift: for a shift s the mean over the four moves (s right, left, down, up), so no
    direction is favoured. ``classifiers`` maps a name to a function from preprocessed
    images float32 (N, C, H, W) to predicted labels (N,), or to ``(function, preprocessing)``
    when that classifier was trained with another :class:`engine.data.Preprocessing` (a CNN
    from an earlier run); the default is ``data.preprocessing``. The pixels are shifted
    before preprocessing, so what slides in is black. Returns name -> one accuracy per
    shift. Raises DatasetError when the split is missing or a preprocessing does not fit."""
    part = data.split(split)
    rows = np.arange(len(part) if limit is None else min(limit, len(part)))
    images, labels = part.take(rows)
    plans = {
        name: entry if isinstance(entry, tuple) else (entry, data.preprocessing)
        for name, entry in classifiers.items()
    }
    out: dict[str, list[float]] = {name: [] for name in plans}
    for s in shifts:
        moves = [(0, 0)] if s == 0 else [(0, s), (0, -s), (s, 0), (-s, 0)]
        moved = [shift_images(images, dy, dx) for dy, dx in moves]
        for name, (predict, pre) in plans.items():
            hits = [np.mean(np.asarray(predict(apply_array(pre, m))) == labels) for m in moved]
            out[name].append(float(np.mean(hits)))
    return out


def sklearn_predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    """A fitted scikit-learn estimator as a function of images (N, C, H, W)."""
    return lambda x: model.predict(x.reshape(len(x), -1))


def network_predictor(net) -> Callable[[np.ndarray], np.ndarray]:
    """An :class:`engine.network.Network` as a function of images (N, C, H, W)."""
    return lambda x: net.forward(x).argmax(axis=1)


def native_shape(path) -> tuple[int, int, int]:
    """(C, H, W) of the data set at ``path`` as it is stored: CIFAR-10 3×32×32, IDX from its
    header, an image folder from its first image (grey modes 1 channel, others 3); CIFAR-100
    as CIFAR-10."""
    from engine.data import detect_source

    source = detect_source(path)
    if source.kind in ("cifar10", "cifar100"):
        return (3, 32, 32)
    if source.kind == "idx":
        from engine.data.idx import read_idx_file

        images = read_idx_file(source.plan["train"][0])
        return (1, *images.shape[1:3]) if images.ndim == 3 else images.shape[1:4]
    from PIL import Image

    entries = source.plan[1]
    if not entries:
        raise ValueError(f"{path}: no images to take the size from; pass --input CxHxW")
    with Image.open(entries[0].path) as im:
        channels = 1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
        return (channels, im.height, im.width)
