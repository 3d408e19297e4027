"""The output-gradient layouts of the direct convolution routes (engine/kernels/grad_layout.py)
against numpy, from rows and from blocks alike, and the in-place gradient sums of the graph
backward pass (engine/network.py ``_accumulate``)."""

import numpy as np
import pytest

from engine.kernels import grad_layout
from engine.kernels.activations import activation_code
from engine.network import _accumulate

G, K, OH, OW = 3, 5, 4, 6


def _block(dtype=np.float32):
    return np.random.default_rng(0).standard_normal((G, K, OH, OW)).astype(dtype)


def _rows(block):
    return np.ascontiguousarray(block.transpose(1, 0, 2, 3).reshape(K, -1))


@pytest.mark.parametrize("layout", ["block", "rows"])
@pytest.mark.parametrize(("top", "left", "hp", "wp"), [(1, 1, 6, 8), (0, 0, 4, 8), (2, 1, 9, 9)])
def test_padded_copies_equal_numpy(layout, top, left, hp, wp):
    block = _block()
    grad = block if layout == "block" else _rows(block)
    want = np.zeros((G, K, hp, wp), np.float32)
    want[:, :, top : top + OH, left : left + OW] = block
    nchw = np.full((G, K, hp, wp), np.nan, np.float32)  # every value must be written
    grad_layout.to_padded_nchw(grad, G, (OH, OW), top, left, nchw)
    np.testing.assert_array_equal(nchw, want)
    nhwc = np.full((G, hp, wp, K), np.nan, np.float32)
    grad_layout.to_padded_nhwc(grad, G, (OH, OW), top, left, nhwc)
    np.testing.assert_array_equal(nhwc, want.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("layout", ["block", "rows"])
def test_pixels_and_sums_equal_numpy(layout):
    block = _block()
    grad = block if layout == "block" else _rows(block)
    out = np.full((G * OH * OW, 8), np.nan, np.float32)
    grad_layout.to_pixels(grad, out)
    want = np.zeros_like(out)
    want[:, :K] = block.transpose(0, 2, 3, 1).reshape(-1, K)
    np.testing.assert_array_equal(out, want)
    acc = np.ones(K, np.float64)
    grad_layout.add_block_sums(grad, acc)
    np.testing.assert_allclose(acc, 1 + block.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_act_grad_block_equals_numpy(act):
    rng = np.random.default_rng(1)
    dy = rng.standard_normal((G, K, OH * OW)).astype(np.float32)
    y = rng.uniform(-0.9, 0.9, dy.shape).astype(np.float32)
    slope = np.float32(0.1)
    got = grad_layout.act_grad_block(dy, y, activation_code(act, dy.dtype), slope,
                                     np.empty_like(dy))  # fmt: skip
    derivative = {"relu": (y > 0).astype(np.float32), "leaky_relu": np.where(y > 0, 1, slope),
                  "tanh": 1 - y * y, "sigmoid": y * (1 - y)}[act]  # fmt: skip
    np.testing.assert_allclose(got, dy * derivative, rtol=1e-6, atol=1e-7)


def test_accumulate_adds_in_place_only_into_a_private_array():
    a, d = np.ones(4), np.full(4, 2.0)
    pending = {0: a}
    out = _accumulate(pending, 0, d, [d])
    assert out is a and np.all(a == 3) and np.all(d == 2)


def test_accumulate_never_writes_an_array_another_reader_holds():
    # An add hands the same array to each input: neither copy may change under the other.
    a, d = np.ones(4), np.full(4, 2.0)
    view = a[:]  # another pending gradient sees a
    pending = {0: a, 1: view}
    out = _accumulate(pending, 0, d, [d, d])
    assert out is not a and out is not d
    assert np.all(a == 1) and np.all(d == 2) and np.all(out == 3)
    # d handed out twice by the current layer: written nowhere, a can take it.
    b = np.ones(4)
    out = _accumulate({0: b}, 0, d, [d, d])
    assert out is b and np.all(b == 3) and np.all(d == 2)
    # a read-only or differently typed array is never the target.
    c = np.ones(4)
    c.flags.writeable = False
    out = _accumulate({0: c}, 0, d, [d, d])
    assert np.all(c == 1) and np.all(d == 2) and np.all(out == 3)
    f32 = np.ones(4, np.float32)
    out = _accumulate({0: f32}, 0, d, [d])
    assert out is d and out.dtype == np.float64 and np.all(f32 == 1) and np.all(d == 3)
