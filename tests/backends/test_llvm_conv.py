"""Convolution, pooling and the reductions of their gradients on the LLVM backend, against the NumPy
interpreter (the reference) and against finite differences.

1. random geometry (kernel sizes 1..4, strides 1..3, "valid" and "same" padding, odd image sizes,
   channels 1..17, float32 and float64): conv2d, max_pool2d and avg_pool2d forward, and the gradients
   a training step takes (of the input, the filters and a bias), compiled and interpreted;
2. reductions that keep the innermost axis (bias gradients, pooling windows), which run in column
   mode: every reduction kind, tiles cut at odd sizes, sizes known only at run time, NaN and -0.0;
3. the compiled gradients of conv2d and the poolings in float64 against central finite differences.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backends.llvm.kernels import COLUMN_TILE
from graphc.test_util import check_grads

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")
RTOL = {"float32": 2e-5, "float64": 1e-12}


def check(fn, inputs, signature=None, rtol=None) -> None:
    """``fn`` compiled and interpreted give the same dtypes, shapes and NaN positions, and values
    equal to ``rtol`` (integers exactly)."""
    got = gc.function(fn, input_signature=signature, backend="llvm")(*inputs)
    want = gc.function(fn, input_signature=signature, backend="numpy")(*inputs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = g.numpy(), w.numpy()
        assert (g.dtype, g.shape) == (w.dtype, w.shape), f"result {i}"
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=f"result {i}")
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"result {i}: NaN positions")
        atol = 1e-5 if w.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g, w, rtol=rtol or RTOL[w.dtype.name], atol=atol * max(1.0, np.nanmax(np.abs(w), initial=0)),
                                   equal_nan=True, err_msg=f"result {i}")


@st.composite
def geometries(draw):
    """(image shape [N, H, W, C], window (kh, kw), strides, padding, filters F, dtype)."""
    window = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = window if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low[0], 11)), draw(st.integers(low[1], 11))
    shape = (draw(st.integers(1, 3)), h, w, draw(st.integers(1, 17)))
    return shape, window, strides, padding, draw(st.integers(1, 17)), draw(st.sampled_from(["float32", "float64"]))


def _conv_step(window, strides, padding):
    """What a training step computes of a conv layer: the output and the gradients of a weighted sum
    of relu(conv + bias) with respect to the input, the filters and the bias."""

    def step(x, k, bias, weights):
        with gc.GradientTape() as tape:
            tape.watch([x, k, bias])
            y = gc.nn.relu(gc.nn.conv2d(x, k, strides, padding) + bias)
            loss = gc.reduce_sum(y * weights)
        return [y, *tape.gradient(loss, [x, k, bias])]

    return step


def _pool_step(pool, window, strides, padding):
    def step(x, weights):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = pool(x, window, strides, padding)
            loss = gc.reduce_sum(y * weights)
        return [y, tape.gradient(loss, x)]

    return step


def _output_shape(shape, window, strides, padding, channels):
    n, h, w, _ = shape
    if padding == "same":
        return (n, -(-h // strides[0]), -(-w // strides[1]), channels)
    return (n, (h - window[0]) // strides[0] + 1, (w - window[1]) // strides[1] + 1, channels)


SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(geometries(), st.integers(0, 2**31 - 1))
def test_conv2d_and_its_gradients_match_the_interpreter(geometry, seed):
    shape, window, strides, padding, filters, dtype = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    k = rng.standard_normal((*window, shape[3], filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    weights = rng.standard_normal(_output_shape(shape, window, strides, padding, filters)).astype(dtype)
    check(_conv_step(window, strides, padding), [x, k, bias, weights], rtol=RTOL[dtype])


@SETTINGS
@given(geometries(), st.sampled_from(["max", "avg"]), st.integers(0, 2**31 - 1))
def test_pooling_and_its_gradient_match_the_interpreter(geometry, kind, seed):
    shape, window, strides, padding, _, dtype = geometry
    rng = np.random.default_rng(seed)
    # a few repeated values make ties, whose gradient max-pooling shares
    x = rng.integers(-4, 5, shape).astype(dtype) if seed % 2 else rng.standard_normal(shape).astype(dtype)
    weights = rng.standard_normal(_output_shape(shape, window, strides, padding, shape[3])).astype(dtype)
    pool = gc.nn.max_pool2d if kind == "max" else gc.nn.avg_pool2d
    check(_pool_step(pool, window, strides, padding), [x, weights], rtol=RTOL[dtype])


# -- 2. reductions that keep the innermost axis -----------------------------------------------------
COLUMNS = (1, 2, 7, 17, COLUMN_TILE - 1, COLUMN_TILE + 3)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("columns", COLUMNS)
def test_reductions_keeping_the_innermost_axis_match_the_interpreter(columns, dtype):
    rng = np.random.default_rng(columns)
    x = (rng.standard_normal((3, 37, columns)) * 100).astype(dtype)
    if dtype != "int32":
        x[1, 5, 0], x[2, 7, columns // 2] = np.nan, -0.0

    def reductions(x):
        return [gc.reduce_sum(x, axis=(0, 1)), gc.reduce_max(x, axis=0), gc.reduce_min(x, axis=(0, 1), keepdims=True),
                gc.reduce_prod(x[:, :3] / 50 if dtype != "int32" else x[:, :3] % 3, axis=1),
                # a row value after the reduction, and an output that needs it (a second pass)
                x - gc.reduce_max(x, axis=1, keepdims=True), gc.reduce_sum(x, axis=(0, 1)) * 2 + 1]

    check(reductions, [x])
    check(reductions, [x], [gc.TensorSpec([None, None, None], dtype)])


def test_a_long_column_sum_is_as_accurate_as_a_row_sum():
    """Column mode sums each column in blocks joined with compensation, as rows are summed: both
    within an ulp of the exact sum, where adding 20,000 terms one by one loses far more."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((20_000, 3)) + 1000).astype(np.float32)
    exact = x.astype(np.float64).sum(axis=0)
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    columns = gc.function(lambda x: gc.reduce_sum(x, axis=0))(x).numpy()
    rows = gc.function(lambda x: gc.reduce_sum(x, axis=1))(np.ascontiguousarray(x.T)).numpy()
    naive = np.cumsum(x, axis=0, dtype=np.float32)[-1]
    assert np.all(np.abs(columns - exact) <= ulp) and np.all(np.abs(rows - exact) <= ulp)
    assert np.any(np.abs(naive - exact) > 4 * ulp)


# -- 3. gradients against finite differences --------------------------------------------------------
@pytest.mark.parametrize("window, strides, padding, shape", [
    ((3, 3), (1, 1), "valid", (2, 7, 6, 3)),
    ((2, 3), (2, 1), "same", (1, 5, 7, 17)),
    ((4, 1), (3, 2), "same", (2, 9, 4, 2)),
])
def test_compiled_conv_and_pool_gradients_match_finite_differences(window, strides, padding, shape):
    rng = np.random.default_rng(1)
    x = rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)  # distinct values: no ties in max
    k = rng.standard_normal((*window, shape[3], 4))
    conv = gc.function(lambda x, k: gc.nn.relu(gc.nn.conv2d(x, k, strides, padding)) * 1.5, backend="llvm")
    check_grads(conv, [x, k], order=1, modes=("rev",))
    for pool in (gc.nn.max_pool2d, gc.nn.avg_pool2d):
        pooled = gc.function(lambda x, pool=pool: pool(x, window, strides, padding) ** 2, backend="llvm")
        check_grads(pooled, [x], order=1, modes=("rev",))
