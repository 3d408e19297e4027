"""engine.predict.Predictor over weights in memory: built once, the same answers as the
network itself, safe to share between threads, clear about weights that do not fit."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from engine.data import DatasetError, Preprocessing
from engine.network import StateDictError, build
from engine.predict import Predictor
from engine.spec import NetworkSpec

SPEC = NetworkSpec.from_dict({
    "format": "cnn-workbench/network", "version": 1,
    "input": {"channels": 1, "height": 8, "width": 8},
    "layers": [{"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
               {"type": "flatten"}, {"type": "dense", "units": 4}],
})  # fmt: skip
NAMES = ("a", "b", "c", "d")


@pytest.fixture
def picture(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "one.png"
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(path)
    return path


def predictor() -> tuple[Predictor, object]:
    net = build(SPEC, seed=3)
    pre = Preprocessing(channels=1, height=8, width=8)
    return Predictor.from_weights(SPEC, net.state_dict(), pre, NAMES), net


def test_probabilities_and_activations_are_the_networks(picture):
    p, net = predictor()
    x = p.preprocess(picture)[None]
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(p.probabilities(x), net.predict_proba(x), rtol=1e-6)
    shown = p.explain_image(picture)
    assert shown.source == str(picture) and shown.image.shape == (1, 8, 8)
    for a, b in zip(shown.activations, net.forward_activations(x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert shown.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    best = p.predict_image(picture, top=2)
    assert best.label == NAMES[int(shown.probabilities.argmax())] and len(best.top) == 2


def test_one_predictor_serves_several_threads_with_the_same_answers():
    p, net = predictor()
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    expected = net.predict_proba(x)
    answers: list[np.ndarray] = []

    def work() -> None:
        for _ in range(20):
            answers.append(p.probabilities(x))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 80
    for a in answers:
        np.testing.assert_allclose(a, expected, rtol=1e-6)


def test_weights_that_do_not_fit_name_the_entry():
    weights = build(SPEC, seed=0).state_dict()
    weights["0.weight"] = np.zeros((3, 1, 5, 5), np.float32)
    with pytest.raises(StateDictError, match=r"0\.weight"):
        Predictor.from_weights(SPEC, weights, Preprocessing(1, 8, 8), NAMES)


def test_an_unreadable_picture_names_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    p, _ = predictor()
    with pytest.raises(DatasetError, match=r"bad\.png"):
        p.explain_image(bad)
