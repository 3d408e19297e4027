"""Data sets for the engine: readers, preprocessing, splits, batches, disk cache, health check.

Readers: image folders (one subfolder per class, optional train/ val/ test/ above or below
the classes), IDX files (MNIST, Fashion-MNIST, EMNIST), CIFAR-10 batches (python or binary)
and CIFAR-100 (python; its pickles loaded with a pickle loader that refuses code). Pixels are
decoded once to uint8 (N, C, H, W) at the network's input size and cached on disk as
memory-mapped ``.npy`` files; batches are float32 (B, C, H, W).

    import numpy as np
    from engine.data import Preprocessing, load_dataset
    ds = load_dataset(path, Preprocessing(channels=1, height=28, width=28))
    for x, y in ds.iter_batches("train", 64, shuffle=True, rng=np.random.default_rng(0)):
        ...

Pure numpy and Pillow; never imports Qt.
"""

from engine.data.batches import Augmentation, BatchIterator, augment_batch
from engine.data.cache import CACHE_ENV, default_cache_dir
from engine.data.dataset import Dataset, Split, load_dataset
from engine.data.errors import DatasetError
from engine.data.health import HealthReport, Leak, check_dataset
from engine.data.images import IMAGE_EXTENSIONS, RESIZE_MODES, Geometry
from engine.data.preprocess import CENTER_MODES, Preprocessing, apply_array, apply_image
from engine.data.source import detect_source
from engine.data.split import stratified_split

__all__ = [
    "CACHE_ENV",
    "CENTER_MODES",
    "IMAGE_EXTENSIONS",
    "RESIZE_MODES",
    "Augmentation",
    "BatchIterator",
    "Dataset",
    "DatasetError",
    "Geometry",
    "HealthReport",
    "Leak",
    "Preprocessing",
    "Split",
    "apply_array",
    "apply_image",
    "augment_batch",
    "check_dataset",
    "default_cache_dir",
    "detect_source",
    "load_dataset",
    "stratified_split",
]
