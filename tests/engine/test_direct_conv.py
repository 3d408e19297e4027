"""The direct convolution kernel (LLVM-generated micro-kernel) against its numpy reference,
and the convolution layer with it against the layer on the GEMM route."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import direct_conv
from engine.layers import Conv2D


def test_direct_kernel_is_available():
    # llvmlite comes with numba: the fast path must be on wherever the engine installs.
    assert direct_conv.available()


# (N, C, H, W, K, kernel, stride, padding): odd sizes, strides, paddings, filter counts below,
# at and above one and two vectors, outputs with fewer pixels than a tile.
CASES = [
    (2, 3, 7, 6, 5, (3, 3), (1, 1), (1, 1)),
    (1, 2, 9, 8, 17, (2, 3), (2, 1), (0, 1)),
    (3, 1, 8, 8, 33, (2, 2), (2, 2), (0, 0)),
    (2, 4, 10, 7, 40, (3, 2), (3, 2), (1, 1)),
    (1, 1, 5, 5, 1, (5, 5), (1, 1), (2, 2)),
    (1, 6, 3, 3, 16, (3, 3), (1, 1), (0, 0)),
    (2, 16, 16, 16, 64, (3, 3), (1, 1), (1, 1)),
    (2, 8, 11, 13, 10, (5, 5), (2, 2), (2, 2)),
    (1, 32, 4, 4, 70, (1, 1), (1, 1), (0, 0)),
]


@pytest.mark.parametrize("case", CASES)
def test_direct_forward_matches_reference(case):
    n, c, h, w, k, kernel, stride, padding = case
    rng = np.random.default_rng(sum(case[:5]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((k, c, *kernel)).astype(np.float32)
    got = direct_conv.conv_forward(x, weight, stride, padding)
    want = direct_conv.conv_forward_naive(x, weight, stride, padding)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(c * kernel[0] * kernel[1]))


def test_pack_weight_layout():
    weight = np.arange(3 * 2 * 2 * 2, dtype=np.float32).reshape(3, 2, 2, 2)
    packed = direct_conv.pack_weight(weight, 4)
    assert packed.shape == (1, 2, 2, 2, 4) and packed.flags.c_contiguous
    assert packed[0, 1, 0, 1, 2] == weight[2, 1, 1, 0]
    assert not packed[..., 3].any()  # the filter beyond K is zero


def _pack_naive(weight, nr):
    k, c, kh, kw = weight.shape
    blocks = -(-k // nr)
    packed = np.zeros((blocks * nr, kh, kw, c), np.float32)
    packed[:k] = weight.transpose(0, 2, 3, 1)
    return packed.reshape(blocks, nr, kh, kw, c).transpose(0, 2, 3, 4, 1)


@pytest.mark.parametrize("nr", [4, 16])
def test_pack_weight_reads_strided_views_as_their_copies(nr):
    weight = np.random.default_rng(0).standard_normal((5, 6, 3, 2)).astype(np.float32)
    views = [
        weight,
        weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1],  # the input gradient's flipped filters
        weight[:, :, ::2, ::-1],  # a strided phase of them
        np.ascontiguousarray(weight.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),  # row layout
    ]
    for view in views:
        packed = direct_conv.pack_weight(view, nr)
        np.testing.assert_array_equal(packed, _pack_naive(np.ascontiguousarray(view), nr))
        assert packed.flags.c_contiguous


def test_pixel_offsets_are_one_read_only_table_per_geometry():
    a = direct_conv.pixel_offsets(3, (6, 7), 4, (4, 5), (1, 1), 12)
    b = direct_conv.pixel_offsets(3, (6, 7), 4, (4, 5), (1, 1), 12)
    assert a is b and not a.flags.writeable
    assert a[5] == (1 * 7 + 0) * 4  # image 0, row 1, column 0
    tiny = direct_conv.pixel_offsets(1, (3, 3), 2, (1, 1), (1, 1), 12)
    assert tiny.shape == (12,) and (tiny == 0).all()  # padded to a tile by its last entry


def test_tile_fits_the_registers():
    for filters in (1, 8, 16, 17, 64):
        mr, vl, nv = direct_conv.tile(filters)
        assert 1 <= mr <= 12 and vl in (4, 8, 16) and nv in (1, 2)
        assert mr * nv + 2 * nv + 1 <= 32


@pytest.mark.parametrize(
    ("c", "k", "size", "kernel", "stride", "padding", "fused"),
    [
        (3, 8, 12, (3, 3), (1, 1), (1, 1), {"act": "tanh", "pool": ((2, 2), (2, 2))}),
        (8, 16, 9, (5, 5), (2, 2), (2, 2), {"act": "relu"}),
        (16, 24, 8, (3, 3), (1, 1), (1, 1), {"act": "sigmoid", "pool": ((2, 2), (2, 2)),
                                               "pool_mode": "avg"}),
        (4, 10, 6, (1, 1), (1, 1), (0, 0), {}),
    ],
)  # fmt: skip
def test_layer_direct_equals_gemm_route(monkeypatch, c, k, size, kernel, stride, padding, fused):
    rng = np.random.default_rng(c * k)
    layer = Conv2D(c, k, kernel, stride, padding)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    layer.params["bias"][...] = rng.standard_normal(k)
    x = rng.standard_normal((7, c, size, size)).astype(np.float32)
    direct = layer.forward(x, **fused)
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    assert layer._direct_plan(x, layer._weight_matrix(), 1, 1, 1) is None
    gemm = layer.forward(x, **fused)
    np.testing.assert_allclose(direct, gemm, rtol=1e-5, atol=1e-5)


def test_few_input_channels_on_narrow_maps_take_the_gemm_route_for_the_input_gradient():
    layer = Conv2D(6, 16, (5, 5))  # LeNet's second convolution: 6 channels at 14x14
    assert layer._direct_grad_plan(np.zeros((2, 6, 14, 14), np.float32), 1, 10, 10) is None


def test_pointwise_convolutions_take_the_gemm_route():
    layer = Conv2D(8, 16, (1, 1))
    x = np.zeros((2, 8, 40, 40), np.float32)
    assert layer._direct_plan(x, layer._weight_matrix(), 1, 40, 40) is None
    assert layer._direct_grad_plan(x, 1, 40, 40) is None
    assert layer._direct_weight_plan(x, 1, 40, 40) is None


def test_float64_takes_the_gemm_route():
    layer = Conv2D(2, 3, (3, 3))
    x = np.zeros((1, 2, 5, 5))
    assert layer._direct_plan(x, layer._weight_matrix(), 1, 3, 3) is None


@pytest.mark.parametrize(
    ("c", "k", "size", "kernel", "padding", "batch", "fused"),
    [
        (12, 8, 12, (3, 3), (1, 1), 5, {"act": "tanh", "pool": ((2, 2), (2, 2))}),
        (10, 16, 9, (5, 5), (2, 2), 3, {"act": "relu"}),
        (16, 24, 8, (3, 3), (0, 1), 7, {}),
        (9, 3, 3, (3, 2), (1, 1), 1, {"act": "sigmoid"}),  # fewer pixels than a tile
    ],
)  # fmt: skip
def test_input_gradient_direct_equals_gemm_route(monkeypatch, c, k, size, kernel, padding,
                                                 batch, fused):  # fmt: skip
    rng = np.random.default_rng(c + k)
    layer = Conv2D(c, k, kernel, (1, 1), padding)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    x = rng.standard_normal((batch, c, size, size + 1)).astype(np.float32)

    def grads():
        y = layer.forward(x, record=True, **fused)
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(dy)
        return dx, layer.grads["weight"].copy()

    assert layer._direct_grad_plan(x, 1, 2, 2) is not None
    dx_direct, dw_direct = grads()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    dx_gemm, dw_gemm = grads()
    np.testing.assert_allclose(dx_direct, dx_gemm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw_direct, dw_gemm, rtol=1e-5, atol=1e-4)


def test_strided_one_channel_input_gradient_takes_the_gemm_route():
    layer = Conv2D(1, 3, (3, 3), (2, 2), (1, 1))
    assert layer._direct_grad_plan(np.zeros((1, 1, 8, 8), np.float32), 1, 4, 4) is None


@pytest.mark.parametrize(
    ("c", "k", "hw", "kernel", "stride", "padding"),
    [
        (4, 6, (11, 10), (3, 3), (2, 2), (1, 1)),  # floor rounding: a row never covered
        (3, 5, (9, 12), (5, 5), (2, 2), (2, 2)),
        (6, 20, (13, 9), (3, 2), (3, 2), (1, 0)),
        (2, 3, (10, 10), (2, 2), (3, 3), (0, 0)),  # stride > kernel: positions no tap reaches
        (5, 4, (7, 16), (4, 3), (2, 1), (1, 1)),
        (32, 40, (8, 8), (3, 3), (2, 2), (1, 1)),
    ],
)
@pytest.mark.parametrize("act", [None, "relu"])
def test_strided_input_gradient_by_phases_equals_gemm_route(monkeypatch, c, k, hw, kernel,
                                                            stride, padding, act):  # fmt: skip
    rng = np.random.default_rng(c * k)
    layer = Conv2D(c, k, kernel, stride, padding)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    x = rng.standard_normal((3, c, *hw)).astype(np.float32)
    _, oh, ow = layer.output_shape(x.shape[1:])
    assert layer._direct_grad_plan(x, 1, oh, ow)["kind"] == "phases"

    def grads():
        y = layer.forward(x, record=True, act=act)
        return layer.backward(np.random.default_rng(4).standard_normal(y.shape).astype(np.float32))

    direct = grads()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    np.testing.assert_allclose(direct, grads(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_direct_weight_grad_matches_reference(case):
    n, c, h, w, k, kernel, stride, padding = case
    rng = np.random.default_rng(sum(case[:5]) + 1)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    oh = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    dy = rng.standard_normal((n, k, oh, ow)).astype(np.float32)
    got = direct_conv.weight_grad(x, dy, kernel, stride, padding)
    want = direct_conv.weight_grad_naive(x, dy, kernel, stride, padding)
    assert got.shape == (k, c, *kernel)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(n * oh * ow))


@pytest.mark.parametrize(
    ("k", "kernel", "stride", "hw", "act", "bias"),
    [
        (12, (5, 5), (2, 2), (17, 15), "relu", True),  # strided, odd sizes
        # Whole vectors of filters and pixels: the activation's derivative in the weight
        # gradient's transposing pass, the bias sums from its pixels (nchw_store.to_pixels).
        (32, (3, 3), (1, 1), (16, 16), "relu", True),
        (32, (3, 3), (1, 1), (16, 16), "leaky_relu", False),
        (64, (3, 3), (1, 1), (8, 8), "relu", False),
    ],
)
def test_first_layer_weight_grad_direct_equals_gemm_route(monkeypatch, k, kernel, stride, hw,
                                                          act, bias):  # fmt: skip
    # No input gradient (the layer reads the images): the weight gradient alone.
    rng = np.random.default_rng(3)
    layer = Conv2D(3, k, kernel, stride, (kernel[0] // 2, kernel[1] // 2), bias=bias)
    layer.input_grad = False
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.2
    x = rng.standard_normal((6, 3, *hw)).astype(np.float32)
    slope = 0.1 if act == "leaky_relu" else 0.0

    def grads():
        y = layer.forward(x, record=True, act=act, slope=slope)
        dy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
        assert layer.backward(dy) is None
        return [layer.grads["weight"].copy()] + ([layer.grads["bias"].copy()] if bias else [])

    direct = grads()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    gemm = grads()
    for a, b in zip(direct, gemm, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("channels", [2, 6])  # column patches and row patches
def test_strided_layer_gradients_equal_gemm_route(monkeypatch, channels):
    # Direct weight gradient beside the GEMM route's input gradient (stride 2).
    rng = np.random.default_rng(channels)
    layer = Conv2D(channels, 9, (3, 3), (2, 2), (1, 1))
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.2
    x = rng.standard_normal((5, channels, 11, 10)).astype(np.float32)

    def grads():
        y = layer.forward(x, record=True, act="leaky_relu", slope=0.1)
        dx = layer.backward(np.random.default_rng(2).standard_normal(y.shape).astype(np.float32))
        return dx, layer.grads["weight"].copy()

    direct = grads()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    gemm = grads()
    for a, b in zip(direct, gemm, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


_CACHED_RUN = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from engine.kernels import direct_conv as D
x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((5, 3, 3, 3)).astype(np.float32)
got = D.conv_forward(x, w, (1, 1), (1, 1))
print(float(np.abs(got - D.conv_forward_naive(x, w, (1, 1), (1, 1))).max()))
"""


def test_machine_code_is_cached_on_disk_and_a_bad_file_is_rebuilt(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(direct_conv.__file__).resolve().parents[2])
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run():
        out = subprocess.run([sys.executable, "-c", _CACHED_RUN.format(root=root)], env=env,
                             capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])

    assert run() < 1e-4
    cached = list((tmp_path / "direct_conv").glob("direct_conv-fwd-*.o"))
    assert len(cached) == 1 and cached[0].stat().st_size > 0
    assert run() < 1e-4  # loaded from the file
    good = cached[0].read_bytes()
    for bad in (b"not an object file", good[: len(good) // 2], good[:-9] + b"corrupted"):
        cached[0].write_bytes(bad)
        assert run() < 1e-4  # never loaded (LLVM would crash): rebuilt
        assert cached[0].read_bytes() == good


# Shapes that take the row kernel: rows of two vectors (any filter count, in blocks) and of
# one vector with few filters; odd widths make the last tile of a row overlap.
ROW_CASES = [
    (2, 3, 10, 37, 5, (3, 3), (1, 1)),
    (1, 1, 8, 40, 6, (5, 5), (0, 0)),
    (2, 8, 6, 35, 16, (3, 3), (1, 1)),
    (1, 4, 5, 36, 27, (3, 5), (1, 2)),
    (3, 2, 7, 19, 8, (3, 3), (1, 1)),
    (1, 6, 4, 17, 3, (2, 2), (0, 1)),
]


@pytest.mark.parametrize("case", ROW_CASES)
def test_row_kernel_matches_reference(case):
    from engine.kernels import direct_conv_rows

    n, c, h, w, k, kernel, padding = case
    rng = np.random.default_rng(sum(case[:5]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((k, c, *kernel)).astype(np.float32)
    got = direct_conv_rows.conv_forward(x, weight, padding)
    want = direct_conv.conv_forward_naive(x, weight, (1, 1), padding)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(c * kernel[0] * kernel[1]))


@pytest.mark.parametrize("act", [None, "tanh"])
@pytest.mark.parametrize("case", ROW_CASES)
def test_row_kernel_layer_routes_equal_gemm_route(monkeypatch, case, act):
    n, c, h, w, k, kernel, padding = case
    rng = np.random.default_rng(sum(case[:5]) + 7)
    layer = Conv2D(c, k, kernel, (1, 1), padding)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    layer.params["bias"][...] = rng.standard_normal(k)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    _, oh, ow = layer.output_shape(x.shape[1:])
    assert layer._direct_plan(x, layer._weight_matrix(), 1, oh, ow)["kind"] == "rows"

    def run():
        y = layer.forward(x, record=True, act=act)
        dx = layer.backward(np.random.default_rng(5).standard_normal(y.shape).astype(np.float32))
        return y, dx, layer.grads["weight"].copy(), layer.grads["bias"].copy()

    direct = run()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    gemm = run()
    for a, b in zip(direct, gemm, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("c", "k", "hw", "kernel", "padding"),
    [
        (3, 5, (20, 17), (3, 3), (1, 1)),
        (1, 6, (32, 32), (5, 5), (0, 0)),
        (8, 8, (12, 30), (5, 5), (2, 2)),
        (2, 1, (16, 40), (3, 2), (1, 0)),
        (4, 7, (9, 13), (2, 4), (0, 1)),
        (5, 3, (10, 21), (7, 7), (3, 3)),
    ],
)
def test_row_weight_grad_matches_reference_and_the_gemm_route(monkeypatch, c, k, hw, kernel,
                                                              padding):  # fmt: skip
    from engine.kernels import direct_conv_rows

    rng = np.random.default_rng(c * k + 3)
    x = rng.standard_normal((2, c, *hw)).astype(np.float32)
    layer = Conv2D(c, k, kernel, (1, 1), padding)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    _, oh, ow = layer.output_shape(x.shape[1:])
    dy = rng.standard_normal((2, k, oh, ow)).astype(np.float32)
    want = direct_conv.weight_grad_naive(x, dy, kernel, (1, 1), padding)
    got = direct_conv_rows.weight_grad(x, dy, kernel, padding)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(2 * oh * ow))
    assert layer._direct_weight_plan(x, 1, oh, ow)["kind"] == "rows"

    def grads():
        layer.forward(x, record=True)
        layer.backward(dy)
        return layer.grads["weight"].copy()

    direct = grads()
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    np.testing.assert_allclose(direct, grads(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("lanes", "regs"), [(8, 16), (4, 16), (4, 32)])  # AVX2, SSE, NEON
def test_kernels_built_for_narrower_vectors_give_the_same_results(monkeypatch, tmp_path, lanes,
                                                                  regs):  # fmt: skip
    # The tiles, blocks and vector widths chosen for other CPUs (generic LLVM vectors run on
    # this one too): every route against the GEMM route.
    from engine.kernels import llvm_jit

    host = dict(llvm_jit.host_shape(), lanes=lanes, regs=regs)
    monkeypatch.setattr(llvm_jit, "_host", host)
    monkeypatch.setattr(llvm_jit, "_kernels", {})
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    from engine.kernels import direct_conv as dc

    assert dc.tile(64)[1] == lanes and dc.tile(64)[0] * 2 + 5 <= regs
    rng = np.random.default_rng(lanes + regs)
    for c, k, hw, kernel, stride, padding in [
        (3, 6, (10, 37), (3, 3), (1, 1), (1, 1)),  # row kernel, two vectors
        (12, 20, (9, 9), (3, 3), (1, 1), (1, 1)),  # filter lanes
        (5, 7, (11, 10), (3, 3), (2, 2), (1, 1)),  # phases
    ]:
        layer = Conv2D(c, k, kernel, stride, padding)
        layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
        x = rng.standard_normal((3, c, *hw)).astype(np.float32)

        def run(layer=layer, x=x):
            y = layer.forward(x, record=True, act="relu")
            dx = layer.backward(np.random.default_rng(6).standard_normal(y.shape)
                                .astype(np.float32))  # fmt: skip
            return y, dx, layer.grads["weight"].copy()

        direct = run()
        monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
        gemm = run()
        monkeypatch.delenv("CNN_WORKBENCH_DIRECT_CONV")
        for a, b in zip(direct, gemm, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("c", "k", "size", "stride", "bias", "act"),
    [
        (16, 32, 8, (1, 1), False, None),  # filter-lane forward + weight gradient: copy kept
        (8, 16, 9, (2, 2), True, "relu"),  # strided: kept too, dX by phases
        (4, 6, 20, (1, 1), False, None),  # row kernel writes the maps in place (no epilogue)
        (4, 6, 20, (1, 1), True, "tanh"),
        (4, 6, 20, (1, 1), True, "relu"),  # bias and relu in the row kernel's stores
        (3, 12, 32, (1, 1), False, "leaky_relu"),
        (3, 12, 32, (1, 1), True, "sigmoid"),
        # Row kernels both ways on whole-vector rows: the forward's padded NCHW copy is kept
        # and the weight gradient reads the output gradient's block without a copy.
        (8, 8, 32, (1, 1), True, "relu"),
        (8, 8, 32, (1, 1), False, None),
        (5, 4, 16, (1, 1), True, "tanh"),
    ],
)
def test_kept_padded_copy_and_in_place_rows_equal_gemm_route(monkeypatch, c, k, size, stride,
                                                             bias, act):  # fmt: skip
    rng = np.random.default_rng(c + k + size)
    layer = Conv2D(c, k, (3, 3), stride, (1, 1), bias=bias)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    if bias:
        layer.params["bias"][...] = rng.standard_normal(k)
    x = rng.standard_normal((6, c, size, size)).astype(np.float32)

    slope = 0.1 if act == "leaky_relu" else 0.0

    def run(check_kept):
        y = layer.forward(x, record=True, act=act, slope=slope)
        if check_kept:
            ow = y.shape[3]
            kind = layer._direct_plan(x, layer._weight_matrix(), 1, *y.shape[2:])["kind"]
            lanes_grad = layer._lanes_weight_grad(ow)
            want = (
                "nhwc" if kind == "lanes" and lanes_grad
                else "nchw" if kind == "rows" and not lanes_grad
                and layer._rows_weight_width(x, ow) == size + 2
                else None
            )  # fmt: skip
            kept = layer._saved_padded
            assert (kept and kept[0]) == want
            assert want is not None or (c, k, size) not in ((8, 8, 32), (5, 4, 16))
        # An evaluation pass in between must not disturb what backward reads.
        layer.forward(x[:2] * 3)
        dy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(dy)
        return [y, dx, layer.grads["weight"].copy()] + ([layer.grads["bias"]] if bias else [])

    direct = run(True)
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    gemm = run(False)
    for a, b in zip(direct, gemm, strict=True):  # sums of thousands: float32 order differs
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("act", [None, "relu", "tanh"])
def test_in_place_rows_with_a_folded_batch_norm_equal_gemm_route(monkeypatch, act):
    # Evaluation folds a batch norm into the weights and bias: the stores add that bias.
    rng = np.random.default_rng(11)
    layer = Conv2D(5, 7, (3, 3), (1, 1), (1, 1), bias=False)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape) * 0.3
    x = rng.standard_normal((4, 5, 17, 18)).astype(np.float32)
    affine = (rng.uniform(0.5, 2.0, 7), rng.standard_normal(7))
    direct = layer.forward(x, act=act, affine=affine)
    monkeypatch.setenv("CNN_WORKBENCH_DIRECT_CONV", "0")
    gemm = layer.forward(x, act=act, affine=affine)
    np.testing.assert_allclose(direct, gemm, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("act", "bias"), [(None, True), ("relu", False), ("tanh", True),
                                           ("leaky_relu", True)])  # fmt: skip
@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (2, 3)])
def test_pointwise_route_equals_gemm_route(monkeypatch, dtype, act, bias, stride):
    # 1x1 without padding: matrix products in NCHW (conv2d_pointwise.py).
    rng = np.random.default_rng(21)
    layer = Conv2D(6, 5, (1, 1), stride, (0, 0), bias=bias).astype(dtype)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape)
    if bias:
        layer.params["bias"][...] = rng.standard_normal(5)
    x = rng.standard_normal((7, 6, 5, 9)).astype(dtype)
    _, oh, ow = layer.output_shape(x.shape[1:])
    dy = rng.standard_normal((7, 5, oh, ow)).astype(dtype)
    assert layer._pointwise(None) and not layer._pointwise(((2, 2), (2, 2)))

    def run():
        y = layer.forward(x, record=True, act=act, slope=0.2)
        dx = layer.backward(dy)
        return [y, dx, layer.grads["weight"]] + ([layer.grads["bias"]] if bias else [])

    pointwise = run()
    monkeypatch.setattr(Conv2D, "_pointwise", lambda self, pool: False)
    gemm = run()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(pointwise, gemm, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    want = np.einsum("kc,nchw->nkhw", layer.params["weight"][:, :, 0, 0],
                     x[:, :, :: stride[0], :: stride[1]])  # fmt: skip
    if act is None:
        want = want + (layer.params["bias"][None, :, None, None] if bias else 0)
        np.testing.assert_allclose(pointwise[0], want, rtol=tol, atol=tol)


@pytest.mark.parametrize(("act", "bias"), [(None, True), ("relu", True), ("sigmoid", False)])
def test_pointwise_global_average_pool_equals_gemm_route(monkeypatch, act, bias):
    # The classifier head of all-convolutional nets: 1x1 conv -> (act) -> global average pool.
    rng = np.random.default_rng(23)
    layer = Conv2D(8, 10, (1, 1), (1, 1), (0, 0), bias=bias)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape)
    if bias:
        layer.params["bias"][...] = rng.standard_normal(10)
    x = rng.standard_normal((6, 8, 5, 7)).astype(np.float32)
    fused = {"act": act, "pool": ((5, 7), (1, 1)), "pool_mode": "avg", "squeeze": True}
    assert layer._pointwise_gap(fused["pool"], "avg", (5, 7))
    assert not layer._pointwise_gap(((2, 2), (2, 2)), "avg", (5, 7))
    dy = rng.standard_normal((6, 10)).astype(np.float32)

    def run():
        evaluated = layer.forward(x, **fused)
        y = layer.forward(x, record=True, **fused)
        dx = layer.backward(dy)
        return [evaluated, y, dx, layer.grads["weight"]] + ([layer.grads["bias"]] if bias else [])

    pointwise = run()
    monkeypatch.setattr(Conv2D, "_pointwise_gap", lambda self, pool, mode, hw: False)
    gemm = run()
    for a, b in zip(pointwise, gemm, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_weight_packing_matches_its_reference_with_the_jit_disabled(rerun_without_jit):
    rerun_without_jit(__file__, "-k", "pack_weight_reads or pixel_offsets")
