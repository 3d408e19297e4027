"""The vector-transposing store of pixel-major products (engine/kernels/nchw_store.py)
against its reference and the epilogue it replaces, and the shapes it leaves to that one."""

import numpy as np
import pytest

from engine.kernels import conv_epilogue, direct_conv, nchw_store
from engine.kernels.activations import ACT_LEAKY, ACT_NONE, ACT_RELU, ACT_TANH32

pytestmark = pytest.mark.skipif(not direct_conv.available(), reason="no usable LLVM")


def _lanes():
    from engine.kernels.llvm_jit import host_shape

    return host_shape()["lanes"]


@pytest.mark.parametrize("code", [ACT_NONE, ACT_RELU, ACT_LEAKY])
@pytest.mark.parametrize(("count", "blocks", "pixel_blocks", "spare"), [(1, 1, 1, 0),
                                                                        (3, 2, 4, 1),
                                                                        (2, 4, 16, 2)])  # fmt: skip
def test_store_equals_reference_and_epilogue(code, count, blocks, pixel_blocks, spare):
    vl = _lanes()
    filters, plane = blocks * vl, pixel_blocks * vl
    rng = np.random.default_rng(count + blocks)
    buffer = rng.standard_normal((count * plane + 3, filters + spare * vl)).astype(np.float32)
    src = buffer[: count * plane, :filters]  # rows longer than K, as the kernel leaves them
    bias = rng.standard_normal(filters).astype(np.float32)
    dst = np.full((count, filters, plane), np.nan, np.float32)
    assert nchw_store.store(src, bias, code, 0.1, dst)
    np.testing.assert_array_equal(dst, nchw_store.store_naive(src, bias, code, 0.1, dst.shape))
    old = np.empty_like(dst)
    conv_epilogue._bias_act_rows_to_nchw(src.T, bias, code, np.float32(0.1), old)
    np.testing.assert_array_equal(dst, old)


def test_shapes_it_does_not_take_are_left_untouched():
    vl = _lanes()
    src = np.ones((2 * vl, vl), np.float32)
    dst = np.full((1, vl, 2 * vl), 7.0, np.float32)
    bias = np.zeros(vl, np.float32)
    assert not nchw_store.store(src, bias, ACT_TANH32, 0.0, dst)  # not an activation of its
    assert not nchw_store.store(src[:, : vl - 1], bias[:-1], ACT_NONE, 0.0,
                                np.empty((1, vl - 1, 2 * vl), np.float32))  # fmt: skip
    assert not nchw_store.store(src.astype(np.float64), bias, ACT_NONE, 0.0, dst)
    assert not nchw_store.store(np.ones((vl, 2 * vl), np.float32).T, bias, ACT_NONE, 0.0, dst)
    assert np.all(dst == 7.0)


@pytest.mark.parametrize("code", [ACT_NONE, ACT_RELU, ACT_LEAKY])
@pytest.mark.parametrize(("count", "blocks", "pixel_blocks", "spare"), [(1, 1, 1, 0),
                                                                        (3, 2, 4, 1),
                                                                        (2, 4, 16, 2)])  # fmt: skip
def test_to_pixels_equals_reference_and_the_two_passes_it_replaces(
    code, count, blocks, pixel_blocks, spare
):
    from engine.kernels import grad_layout

    vl = _lanes()
    filters, plane = blocks * vl, pixel_blocks * vl
    rng = np.random.default_rng(count + blocks + code)
    grad = rng.standard_normal((count, filters, plane)).astype(np.float32)
    y = rng.standard_normal((count, filters, plane)).astype(np.float32)
    y[y < 0.2] = 0.0  # a relu's output: zeros where its derivative is 0
    y.reshape(-1)[::11] = -0.0
    ldk = filters + spare * vl  # the weight-gradient kernel's padded filter blocks
    dst = np.full((count * plane, ldk), np.nan, np.float32)
    assert nchw_store.to_pixels(grad, y, code, 0.1, dst)
    want = nchw_store.to_pixels_naive(grad, y, code, 0.1, ldk)
    np.testing.assert_array_equal(dst, want)  # columns past K zero
    # The same as the activation-gradient pass followed by the value-by-value transpose.
    side = (count, filters, plane // vl, vl)
    block = grad.reshape(side)
    if code != ACT_NONE:
        block = grad_layout.act_grad_block(block, y.reshape(side), code, np.float32(0.1),
                                           np.empty(side, np.float32))  # fmt: skip
    old = grad_layout.to_pixels(block, np.empty_like(dst))
    np.testing.assert_array_equal(dst, old)
    sums = grad_layout.add_column_sums(dst[:, :filters], np.full(filters, 0.5))
    np.testing.assert_allclose(sums, 0.5 + want[:, :filters].sum(axis=0, dtype=np.float64),
                               rtol=1e-10)  # fmt: skip


def test_to_pixels_leaves_shapes_it_does_not_take_untouched():
    vl = _lanes()
    grad = np.ones((1, vl, 2 * vl), np.float32)
    dst = np.full((2 * vl, vl), 7.0, np.float32)
    assert not nchw_store.to_pixels(grad, grad, ACT_TANH32, 0.0, dst)
    assert not nchw_store.to_pixels(grad[:, :, :-1], None, ACT_NONE, 0.0, dst)  # plane
    assert not nchw_store.to_pixels(grad.astype(np.float64), None, ACT_NONE, 0.0, dst)
    assert not nchw_store.to_pixels(grad, None, ACT_NONE, 0.0, np.full((2 * vl, vl - 1), 7.0,
                                                                      np.float32))  # fmt: skip
    assert np.all(dst == 7.0)


@pytest.mark.parametrize(
    ("count", "chans", "height", "width", "top", "left", "extra"),
    [
        (1, 8, 8, 8, 1, 1, 0),  # 8-lane vectors on any host
        (3, 16, 5, 16, 2, 0, 0),  # rows not a whole vector tall, no left padding
        (2, 32, 32, 32, 1, 1, 0),  # the 4 KB planes the numba gather is slow on
        (2, 48, 6, 8, 0, 3, 2),  # a copy wider at the bottom right (the input gradient's)
    ],
)
def test_pad_nhwc_equals_reference_and_the_numba_loop(count, chans, height, width, top, left,
                                                      extra):  # fmt: skip
    from engine.kernels import conv

    rng = np.random.default_rng(chans + width)
    src = rng.standard_normal((count, chans, height, width)).astype(np.float32)
    src.reshape(-1)[::7] = np.nan  # a copy: NaN travels as any value
    shape = (count, height + 2 * top + extra, width + 2 * left + extra, chans)
    dst = np.full(shape, 7.0, np.float32)  # the border must be written, not assumed zero
    assert nchw_store.pad_nhwc(src, top, left, dst)
    want = nchw_store.pad_nhwc_naive(src, top, left, shape)
    np.testing.assert_array_equal(dst, want)
    old = np.full(shape, 7.0, np.float32)
    conv._pad_block(src, 0, count, top, left, old)
    np.testing.assert_array_equal(dst, old)
    # pad_block takes images lo..hi of a batch, by either route, to the same values.
    batch = np.concatenate([src[:1], src, src[:1]])
    for vector in (True, False):
        routes = []
        real = nchw_store.pad_nhwc

        def spy(*args, _real=real, _routes=routes):
            _routes.append(1)
            return _real(*args)

        got = np.full(shape, 7.0, np.float32)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(nchw_store, "pad_pays", lambda s, _v=vector: _v)
            mp.setattr(nchw_store, "pad_nhwc", spy)
            nchw_store.pad_block(batch, 1, 1 + count, top, left, got)
        assert routes == ([1] if vector else [])
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("shape", "pays"),
    [
        ((4, 32, 32, 32), True),  # 4 KB planes: all 32 channels of a pixel in one L1 set
        ((5, 16, 32, 32), True),  # 16 lines in one 8-way set
        ((2, 32, 64, 64), True),  # 16 KB planes, the same set again
        ((11, 32, 16, 16), False),  # 1 KB planes: 4 sets, 8 lines each, the ways hold them
        ((11, 64, 8, 8), False),
        ((16, 8, 32, 32), False),  # 8 lines in one set: no more than its ways
        ((2, 16, 48, 48), False),  # 9 KB planes spread over 4 sets
        ((1, 32, 32, 32), True),  # 32K values: just enough for the call's fixed cost
        ((1, 16, 32, 32), False),  # 16K values: too few
    ],
)
def test_pad_pays_where_the_gather_thrashes_the_l1_and_the_call_is_worth_it(shape, pays):
    assert nchw_store.pad_pays(np.empty(shape, np.float32)) is pays


def test_pad_nhwc_leaves_shapes_it_does_not_take_untouched():
    src = np.ones((1, 12, 8, 8), np.float32)  # 12 channels: not a whole 8-lane vector
    dst = np.full((1, 10, 10, 12), 7.0, np.float32)
    assert not nchw_store.pad_nhwc(src, 1, 1, dst)
    assert not nchw_store.pad_nhwc(np.ones((1, 8, 8, 6), np.float32), 1, 1,
                                   np.empty((1, 10, 8, 8), np.float32))  # fmt: skip
    assert not nchw_store.pad_nhwc(src[:, :8].astype(np.float64), 1, 1, dst[..., :8].copy())
    assert not nchw_store.pad_nhwc(np.ones((1, 8, 8, 8), np.float32), 3, 0,
                                   np.empty((1, 10, 10, 8), np.float32))  # too small
    assert np.all(dst == 7.0)


def test_warm_up_builds_every_kernel_a_network_reaches(monkeypatch):
    from engine.kernels import llvm_jit

    monkeypatch.setattr(llvm_jit, "_kernels", {})  # as in a fresh process
    nchw_store.warm_up()
    vl = _lanes()
    built = set(llvm_jit._kernels)
    for code in (ACT_NONE, ACT_RELU, ACT_LEAKY):
        assert ("nchw_store", vl, code) in built and ("nchw_gather", vl, code) in built
    assert {("pad_nhwc", vl), ("pad_nhwc", 8)} <= built
