"""What the GUI computes with a trained network, run in worker threads on copies of weights.

``ModelWeights`` is what the GUI may hold of a network: a snapshot's (or a checkpoint's)
state-dict copies with the spec, the fitted preprocessing and the class names. Its
``predictor()`` is the engine's ``engine.predict.Predictor`` over those weights, built once
(on first use, in whichever worker thread asks) and shared by every later prediction,
inspection and dead-unit count of the same weights; the Predictor's lock keeps two threads
from running its network at once. The training thread's live network is never touched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from engine.data import Preprocessing
from engine.data.preprocess import apply_array
from engine.predict import ImageActivations, Predictor
from engine.spec import NetworkSpec

__all__ = [
    "DEAD_SAMPLE",
    "LIVE_DEAD_MIN",
    "LIVE_DEAD_SHARE",
    "ModelWeights",
    "RunInspection",
    "balanced_indices",
    "dead_units_of",
    "inspect_run",
    "live_dead_sample",
    "predict_file",
    "predict_paths",
]

#: Validation images the dead-unit count looks at (class-balanced).
DEAD_SAMPLE = 500
#: During a run the count after each epoch shares the cores with the training, and its
#: forward pass keeps every layer's output: about half a training step per image. So it
#: looks at no more than one image per LIVE_DEAD_SHARE training images (~2% of the run),
#: and at least LIVE_DEAD_MIN; the count at the run's end takes the whole DEAD_SAMPLE. (The
#: full sample after each epoch of the bundled sample cost resnet20 10% of its throughput:
#: benchmarks/bench_gui.py 0.80 -> 0.88 without it.)
LIVE_DEAD_SHARE = 25
LIVE_DEAD_MIN = 32

_BUILDING = threading.Lock()  # one network built per ModelWeights, whoever asks first


@dataclass(frozen=True)
class ModelWeights:
    """A network the views may run: ``weights`` maps state-dict names to arrays (copies)."""

    spec: NetworkSpec
    weights: dict[str, np.ndarray]
    preprocessing: Preprocessing
    class_names: tuple[str, ...]
    _predictor: list = field(default_factory=list, init=False, repr=False, compare=False)

    def predictor(self) -> Predictor:
        """The engine's Predictor of these weights, built on the first call (SpecError or
        StateDictError when they do not fit the spec)."""
        with _BUILDING:
            if not self._predictor:
                self._predictor.append(Predictor.from_weights(
                    self.spec, self.weights, self.preprocessing, self.class_names
                ))  # fmt: skip
            return self._predictor[0]


def predict_file(model: ModelWeights, path: str) -> ImageActivations:
    """Preprocess ``path`` as training did and run it through ``model``: the image as the
    network saw it, its class probabilities and every layer's activations.

    Raises DatasetError naming the file when it is not a usable image."""
    return model.predictor().explain_image(str(path))


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
    predictor = model.predictor()
    probs = np.concatenate([predictor.probabilities(x[i : i + 256]) for i in range(0, n, 256)])
    labels = np.asarray(labels)
    picks = balanced_indices(labels, 16) if probe_indices is None else np.asarray(probe_indices)
    picks = picks[picks < n]
    probe = x[picks]
    return RunInspection(model, probe, predictor.activations(probe), probs, np.asarray(labels), raw)


def balanced_indices(labels: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` indices into ``labels`` (int (N,)) taking the classes in turn (the
    first of each class, then the second, ...), so a small sample covers every class."""
    labels = np.asarray(labels).reshape(-1)
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [ix[r] for r in range(max((len(ix) for ix in per_class), default=0))
             for ix in per_class if r < len(ix)]  # fmt: skip
    return np.asarray(order[:count], dtype=np.int64)


def live_dead_sample(dataset) -> int:
    """Images the dead-unit count takes while ``dataset``'s training split is being trained
    on (see LIVE_DEAD_SHARE)."""
    train = len(dataset.splits["train"])
    return max(LIVE_DEAD_MIN, min(DEAD_SAMPLE, train // LIVE_DEAD_SHARE))


def dead_units_of(model: ModelWeights, dataset, count: int = DEAD_SAMPLE, batch: int = 100):
    """engine.inspect's dead filters and units of ``model`` on a class-balanced sample of
    ``count`` validation images of ``dataset`` (the training split without one), with the
    run's preprocessing; [] when the data is not the run's. Activations are reduced to each
    unit's maximum batch by batch, so memory stays that of one batch."""
    from engine.inspect import dead_relu_fractions

    if dataset is None or tuple(dataset.class_names) != tuple(model.class_names):
        return []
    split = dataset.splits.get("val") or dataset.splits["train"]
    if len(split) == 0:
        return []
    picks = balanced_indices(split.labels, count)
    predictor = model.predictor()
    # Only the layers that zero negatives are counted: the others' outputs are not reduced
    # (resnet20: half of a count's time went to reducing every conv, batch-norm and add).
    counted = [layer.kind.zeroes_negatives for layer in model.spec.layers]
    maxima: list[list[np.ndarray]] = []
    for i in range(0, len(picks), batch):
        raw, _ = split.take(picks[i : i + batch])
        if tuple(raw.shape[1:]) != tuple(model.spec.input.shape):
            return []
        acts = predictor.activations(apply_array(model.preprocessing, raw))
        pairs = zip(acts, counted, strict=True)
        maxima.append([_unit_maxima(a) if c else a[:, :0] for a, c in pairs])
    per_layer = [np.concatenate(layer, axis=0) for layer in zip(*maxima, strict=True)]
    return dead_relu_fractions(per_layer, model.spec)


def _unit_maxima(a: np.ndarray) -> np.ndarray:
    """Each image's maximum per channel, (N, C, 1, 1), of an (N, C, H, W) output (over one
    contiguous axis: several times faster than over axes 2 and 3); a flat output as it is."""
    if a.ndim != 4:
        return a
    return a.reshape(*a.shape[:2], -1).max(axis=2).reshape(*a.shape[:2], 1, 1)


def predict_paths(model: ModelWeights, paths) -> list[tuple[str, str, float | None]]:
    """(path, top class, confidence) for each image file in ``paths``, with the network of
    ``model`` built once; an unusable file gets (path, "unreadable: why", None) and the
    rest go on."""
    from engine.data import DatasetError

    predictor = model.predictor()
    rows: list[tuple[str, str, float | None]] = []
    for path in paths:
        try:
            ((name, p),) = predictor.predict_image(str(path), top=1).top
        except (DatasetError, OSError, ValueError) as e:
            rows.append((str(path), f"unreadable: {e}", None))
            continue
        rows.append((str(path), name, p))
    return rows
