"""Initialisers: the chunked draws equal the textbook one-call formulas, value for value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.init import ZeroInitWarning, initialise

SHAPE = (300, 7, 5, 5)  # 52,500 values: more than one chunk
FAN_IN, FAN_OUT = 7 * 25, 300 * 25


def reference(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "he":
        return (rng.standard_normal(SHAPE) * math.sqrt(2.0 / FAN_IN)).astype(np.float32)
    if kind == "xavier":
        bound = math.sqrt(6.0 / (FAN_IN + FAN_OUT))
        return rng.uniform(-bound, bound, size=SHAPE).astype(np.float32)
    return (rng.standard_normal(SHAPE) * 0.05).astype(np.float32)


@pytest.mark.parametrize("kind", ["he", "xavier", "gaussian"])
def test_chunked_draws_equal_one_call(kind, monkeypatch):
    monkeypatch.setattr("engine.init._CHUNK", 4096)
    got = initialise(kind, np.random.default_rng(7), SHAPE, FAN_IN, FAN_OUT, std=0.05)
    want = reference(kind, np.random.default_rng(7))
    assert got.dtype == np.float32 and got.shape == SHAPE
    assert np.array_equal(got, want)


def test_he_has_the_kaiming_spread():
    w = initialise("he", np.random.default_rng(0), (256, 64, 3, 3), 64 * 9, 256 * 9)
    assert abs(w.std() - math.sqrt(2.0 / (64 * 9))) < 0.01 * math.sqrt(2.0 / (64 * 9)) * 10


def test_zeros_warns_naming_the_layer():
    with pytest.warns(ZeroInitWarning, match=r"layers\[2\]"):
        w = initialise("zeros", np.random.default_rng(0), (4, 3), 3, 4, layer="layers[2] dense")
    assert not w.any()
