"""The engine's worker threads: chunks run in order of results, errors come back, and the
tuner that chooses between the worker threads and the calling thread alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.kernels import workers
from engine.kernels.workers import Tuner, run, split


def test_workers_split_and_run_cover_every_item_once():
    assert workers.split(0) == []
    assert workers.split(10, 4, threads=2) == [(0, 5), (5, 10)]
    assert workers.split(10, 6, threads=2) == [(0, 10)]  # not enough for two shares
    assert workers.split(5, 1, threads=3) == [(0, 2), (2, 4), (4, 5)]
    seen = np.zeros(100, int)

    def work(index, lo, hi):
        seen[lo:hi] += 1
        # A nested call runs in the calling thread instead of waiting on the pool.
        inner = workers.run(workers.split(hi - lo), lambda i, a, b: b - a)
        return index, sum(inner)

    chunks = workers.split(100, 1, threads=4)
    assert workers.run(chunks, work) == [(i, hi - lo) for i, (lo, hi) in enumerate(chunks)]
    assert np.all(seen == 1)


def test_workers_run_reraises_a_chunk_error():
    def work(index, lo, hi):
        if index == len(chunks) - 1:
            raise KeyError("boom")

    chunks = workers.split(10, 1, threads=2)
    with pytest.raises(KeyError, match="boom"):
        workers.run(chunks if len(chunks) > 1 else [(0, 5), (5, 10)], work)


def _probe(tuner, seconds_parallel, seconds_serial, calls):
    ways = []
    for _ in range(calls):
        parallel = tuner.parallel()
        ways.append(parallel)
        tuner.record(parallel, seconds_parallel if parallel else seconds_serial)
    return ways


def test_the_tuner_probes_both_ways_then_keeps_the_faster_and_looks_again_now_and_then():
    tuner = Tuner()
    probes = _probe(tuner, 2.0, 1.0, 2 * Tuner.PROBES)
    assert probes == [True, False] * Tuner.PROBES  # alternating, workers first
    later = _probe(tuner, 2.0, 1.0, 3 * Tuner.REPROBE)
    assert later.count(True) == 3  # the slower way once per REPROBE calls
    assert not any(later[: Tuner.REPROBE - 2 * Tuner.PROBES - 1])


def test_the_tuner_follows_a_change_in_which_way_is_faster():
    tuner = Tuner()
    _probe(tuner, 1.0, 2.0, 4 * Tuner.REPROBE)
    assert tuner.parallel()
    # The worker threads become slow (another process took a core): after the next few
    # looks at both ways, the calling thread alone wins.
    _probe(tuner, 5.0, 2.0, (Tuner.PROBES + 1) * Tuner.REPROBE)
    assert not tuner.parallel()


def test_run_with_a_tuner_runs_every_chunk_on_the_calling_thread_when_that_is_faster():
    tuner = Tuner()
    chunks = split(8, 1, 4)
    _probe(tuner, 1.0, 0.5, 2 * Tuner.PROBES)  # serial is faster
    me = threading.get_ident()
    seen = run(chunks, lambda i, lo, hi: threading.get_ident(), tuner)
    assert seen == [me] * len(chunks)

    # "The calling thread alone" covers nested calls too (an evaluation's chunks run one
    # after another, and each layer's own chunks inside them): every chunk of an inner run
    # stays on the calling thread, and the threads are free again afterwards.
    def outer(i, lo, hi):
        # Each inner chunk waits a little, long enough for a pool thread to take one if
        # the inner run were handed to the workers.
        return run(split(8, 1, 4), lambda j, a, b: (time.sleep(0.002), threading.get_ident())[1])

    assert run(chunks, outer, tuner) == [[me] * 4] * len(chunks)
    if workers.THREADS > 1:
        many = run(split(64, 1, 8), lambda i, lo, hi: (time.sleep(0.002), threading.get_ident())[1])
        assert len(set(many)) > 1


def test_layers_give_the_same_results_whichever_way_their_tuner_chooses(monkeypatch):
    import engine

    spec = {
        "format": "cnn-workbench/network",
        "version": 1,
        "input": {"channels": 3, "height": 16, "width": 16},
        "layers": [
            {"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 256},
            {"type": "dense", "units": 10},
        ],
    }
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    results = []
    for way in (True, False):
        monkeypatch.setattr(Tuner, "parallel", lambda self, way=way: way)
        net = engine.build(spec, seed=0)
        results.append(net.loss_and_grads(x, y))
    (loss_a, grads_a), (loss_b, grads_b) = results
    # The same chunks either way, so the same bits (a BLAS product of another shape sums in
    # another order: the dense layers once differed by 3e-8 on a Zen 5 host).
    assert loss_a == loss_b
    for key in grads_a:
        np.testing.assert_array_equal(grads_a[key], grads_b[key], err_msg=key)


def test_kernel_threads_runs_small_work_on_one_thread():
    import numba

    workers.kernel_threads(10)
    assert numba.get_num_threads() == 1 or workers.THREADS == 1
    workers.kernel_threads(workers.SERIAL_ELEMENTS)
    assert numba.get_num_threads() == workers.THREADS


def test_alone_keeps_engine_work_on_the_calling_thread_and_one_kernel_thread(monkeypatch):
    import numba

    monkeypatch.setattr(workers, "THREADS", 2)  # a choice to make on any machine
    before = numba.get_num_threads()
    ran_on: set[int] = set()

    def work(_, lo, hi):
        ran_on.add(threading.get_ident())
        return lo

    with workers.alone():
        assert run(split(8, 1, 2), work) == [0, 4]
        workers.kernel_threads(10 * workers.SERIAL_ELEMENTS)  # large work: still one thread
        assert numba.get_num_threads() == 1
    assert ran_on == {threading.get_ident()}
    assert numba.get_num_threads() == before
