"""kNN and linear baselines against scikit-learn on the same data, the shift test, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from engine.baselines import (
    fit_baseline,
    native_shape,
    network_predictor,
    shift_images,
    shift_test,
    sklearn_predictor,
    split_arrays,
)
from engine.commands.main import main
from engine.data import CACHE_ENV, Preprocessing, apply_array, load_dataset


def _write_bars(root: Path, per_class: int = 24, size: int = 12) -> Path:
    """Two classes: a vertical or a horizontal bright bar at a random place, plus noise;
    train/ and test/ folders, grey PNGs."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", per_class // 2)):
        for label, name in enumerate(("horizontal", "vertical")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 40, (size, size)).astype(np.uint8)
                at = int(rng.integers(3, size - 3))
                if label == 0:
                    img[at, 2:-2] = 255
                else:
                    img[2:-2, at] = 255
                Image.fromarray(img, "L").save(folder / f"{i}.png")
    return root


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    root = _write_bars(tmp_path / "bars")
    pre = Preprocessing(1, 12, 12, center="channel", standardize=True)
    return root, load_dataset(root, pre, val_fraction=0.25, seed=3)


def _direct(ds, name):
    """The split's pixels preprocessed without engine.baselines: take + apply_array."""
    split = ds.split(name)
    images, labels = split.take(np.arange(len(split)))
    return apply_array(ds.preprocessing, images).reshape(len(images), -1), labels


def test_split_arrays_are_the_cnns_preprocessed_pixels(data):
    _, ds = data
    for name in ("train", "val", "test"):
        x, y = split_arrays(ds, name)
        dx, dy = _direct(ds, name)
        np.testing.assert_array_equal(y, dy)
        np.testing.assert_allclose(x, dx, rtol=1e-6)
    assert len(split_arrays(ds, "val")[0]) == 12  # a quarter of 48, stratified


@pytest.mark.parametrize(("metric", "p"), [("l1", 1), ("l2", 2)])
def test_knn_matches_scikit_learn_on_the_same_splits(data, metric, p):
    _, ds = data
    result, _model = fit_baseline("knn", ds, k=3, metric=metric)
    x, y = _direct(ds, "train")
    reference = KNeighborsClassifier(n_neighbors=3, p=p).fit(x, y)
    for name, got in (("val", result.val_accuracy), ("test", result.test_accuracy)):
        vx, vy = _direct(ds, name)
        assert got == pytest.approx(np.mean(reference.predict(vx) == vy))
    assert result.num_train == 36 and result.settings == {"k": 3, "metric": metric}
    assert result.label() == f"kNN (k=3, {metric.upper()})"


def test_linear_matches_scikit_learn_softmax_regression(data):
    _, ds = data
    result, model = fit_baseline("linear", ds, seed=0)
    x, y = _direct(ds, "train")
    reference = LogisticRegression(max_iter=200, random_state=0).fit(x, y)
    tx, ty = _direct(ds, "test")
    assert result.test_accuracy == pytest.approx(np.mean(reference.predict(tx) == ty))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)


def test_bad_baseline_arguments(data):
    _, ds = data
    with pytest.raises(ValueError, match="expected one of"):
        fit_baseline("svm", ds)
    with pytest.raises(ValueError, match="k = 0"):
        fit_baseline("knn", ds, k=0)
    with pytest.raises(ValueError, match="metric"):
        fit_baseline("knn", ds, metric="cosine")


def test_shift_images_moves_pixels_and_fills_with_black():
    a = np.arange(1, 17, dtype=np.uint8).reshape(1, 1, 4, 4)
    right = shift_images(a, 0, 1)
    assert right[0, 0, :, 0].tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(right[0, 0, :, 1:], a[0, 0, :, :3])
    up = shift_images(a, -2, 0)
    np.testing.assert_array_equal(up[0, 0, :2], a[0, 0, 2:])
    assert up[0, 0, 2:].max() == 0
    np.testing.assert_array_equal(shift_images(a, 0, 0), a)


def test_shift_test_separates_a_shift_invariant_classifier_from_a_pixel_lookup(data):
    _, ds = data

    # Invariant: compares the brightest row's and column's sums, wherever the bar is.
    def invariant(x):
        x = x[:, 0]
        return (x.sum(axis=1).max(axis=1) > x.sum(axis=2).max(axis=1)).astype(int)

    result, knn = fit_baseline("knn", ds, k=1)
    curves = shift_test({"invariant": invariant, "knn": sklearn_predictor(knn)}, ds)
    assert len(curves["invariant"]) == 5
    assert min(curves["invariant"]) == 1.0  # bars stay bars, shifted or not
    assert curves["knn"][0] == pytest.approx(result.test_accuracy)


def test_network_predictor_takes_the_argmax():
    class Fixed:
        def forward(self, x):
            return np.stack([x[:, 0, 0, 0], -x[:, 0, 0, 0]], axis=1)

    x = np.array([1.0, -1.0], np.float32).reshape(2, 1, 1, 1)
    assert network_predictor(Fixed())(x).tolist() == [0, 1]


def test_native_shape_of_a_folder(data):
    root, _ = data
    assert native_shape(root) == (1, 12, 12)


def test_native_shape_of_cifar100(tmp_path):
    import pickle

    root = tmp_path / "cifar-100-python"
    root.mkdir()
    data = np.zeros((2, 3072), np.uint8)
    for name in ("train", "test"):
        batch = {b"data": data, b"fine_labels": [0, 1], b"coarse_labels": [0, 0]}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"apple", b"bee"]}))
    assert native_shape(tmp_path) == (3, 32, 32)


def test_cli_json_and_text(data, capsys):
    root, _ = data
    args = ["--data", str(root), "--val-split", "0.25", "--seed", "3"]
    assert main(["baseline", "knn", *args, "--k", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result, _ = fit_baseline(
        "knn", load_dataset(root, Preprocessing(1, 12, 12, center="channel", standardize=True),
                            val_fraction=0.25, seed=3), k=3,
    )  # fmt: skip
    assert summary["val_accuracy"] == pytest.approx(result.val_accuracy)
    assert summary["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert summary["input"] == [1, 12, 12]
    assert main(["baseline", "linear", *args, "--input", "1x8x8", "--shift-test"]) == 0
    out = capsys.readouterr().out
    assert "linear (softmax regression)" in out and "1x8x8" in out and "4 px" in out


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["baseline", "knn", "--data", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnn-workbench baseline:")
    assert main(["baseline", "knn", "--data", str(tmp_path), "--input", "2x8"]) == 1
    assert "CxHxW" in capsys.readouterr().err
