"""Networks trained in several threads at once give the results they give alone.

The GUI times the engine in one thread while another trains, so the engine's shared pieces
(its worker pool, numba's threading layer, per-thread buffers) must be safe under concurrent
callers, and the numbers must not depend on who else is running.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine


def _train(preset: str, seed: int) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    net = engine.build(preset, seed=seed)
    rng = np.random.default_rng(seed)
    c, h, w = net.spec.input.shape
    x = rng.random((16, c, h, w), dtype=np.float32)
    y = rng.integers(0, 10, 16)
    for _ in range(3):
        loss, grads = net.loss_and_grads(x, y)
        for name, p in net.parameters().items():
            p -= np.float32(0.01) * grads[name]
    return loss, {k: v.copy() for k, v in grads.items()}, net.forward(x)


@pytest.mark.parametrize("preset", ["lenet5", "mnist-2conv"])
def test_concurrent_training_equals_serial(preset):
    seeds = range(3)
    alone = {s: _train(preset, s) for s in seeds}
    together: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            together[seed] = _train(preset, seed)
        except BaseException as e:  # surfaced below, with the thread's seed
            errors.append(e)

    threads = [threading.Thread(target=run, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for s in seeds:
        loss, grads, logits = together[s]
        assert loss == alone[s][0]
        for name, g in alone[s][1].items():
            assert np.array_equal(grads[name], g), name
        assert np.array_equal(logits, alone[s][2])
