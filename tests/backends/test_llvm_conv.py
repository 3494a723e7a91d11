"""Convolution, pooling and the reductions of their gradients on the LLVM backend, against the NumPy
interpreter (the reference) and against finite differences.

1. random geometry (kernel sizes 1..4, strides 1..3, "valid" and "same" padding, odd image sizes,
   channels 1..17, float32 and float64): conv2d, max_pool2d and avg_pool2d forward, and the gradients
   a training step takes (of the input, the filters and a bias), compiled and interpreted;
2. reductions that keep the innermost axis (bias gradients, pooling windows), which run in column
   mode: every reduction kind, tiles cut at odd sizes, sizes known only at run time, NaN and -0.0;
3. the compiled gradients of conv2d and the poolings in float64 against central finite differences;
4. long, thin products (a convolution's filter gradient over many positions), which call gemm once
   per slice of the inner dimension: exact on integer values, every transpose, batches, epilogues;
5. shallow products (a first layer's forward product, ``[N*OH*OW, 9] @ [9, F]``), which run as loops
   of their own: likewise, and NaN and infinities as NumPy;
6. narrow products (at most ``NARROW_COLUMNS`` columns: a last layer's ten classes, its weights'
   gradient ``h^T @ g``, a convolution of few filters), also loops of their own: likewise, with
   rows known only at run time, and each row's bits independent of the rows and batches beside it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backends.llvm.kernels import COLUMN_TILE
from graphc.backends.llvm.blas import NARROW_COLUMNS, NARROW_DEPTH, SHALLOW_COLUMNS, SHALLOW_DEPTH, calls_gemm, is_narrow, is_shallow
from graphc.backends.llvm.matmul import DEPTH_CHUNK, NARROW_BLOCK, depth_chunk
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


# -- 4. long, thin products, sliced along the inner dimension ---------------------------------------
DEEP = 4 * DEPTH_CHUNK + 37  # sliced, the last slice short


@pytest.mark.parametrize("m, n, k, sliced", [
    (9, 32, 43264, True), (1, 1, 4 * DEPTH_CHUNK, True), (9, 32, 4 * DEPTH_CHUNK - 1, False),
    (288, 64, 7744, False), (100, 2, 6399, False), (100, 2, 6400, True), ("n", 3, 10**6, False),
])
def test_only_static_products_much_deeper_than_wide_are_sliced(m, n, k, sliced):
    assert (depth_chunk(m, n, k) == DEPTH_CHUNK) is sliced
    assert depth_chunk(m, n, k) in (None, DEPTH_CHUNK)


def _check_exact_on_integers(a_shape, b_shape, flags, dtype) -> None:
    """The product (and a fused epilogue) of integer values in [-3, 3], whose partial sums are all
    exact in float32, equal to NumPy's in int64: an element read at the wrong offset, lost or counted
    twice changes the result."""
    rng = np.random.default_rng(len(a_shape) + len(flags) + a_shape[-1])
    a, b = (rng.integers(-3, 4, s).astype(dtype) for s in (a_shape, b_shape))
    want_a = np.swapaxes(a, -1, -2) if flags.get("transpose_a") else a
    want_b = np.swapaxes(b, -1, -2) if flags.get("transpose_b") else b
    want = np.matmul(want_a.astype(np.int64), want_b.astype(np.int64))
    product, epilogue = gc.function(lambda a, b: [gc.matmul(a, b, **flags), gc.nn.relu(gc.matmul(a, b, **flags) + 0.5)],
                                    backend="llvm")(a, b)
    np.testing.assert_array_equal(product.numpy(), want.astype(dtype))
    np.testing.assert_array_equal(epilogue.numpy(), np.maximum(want + 0.5, 0).astype(dtype))


def _check_rows_alone(batch, m, k, n, trans_a, trans_b, dtype, seed) -> None:
    """A batch of ``m``-row products, bit for bit each batch entry's product and each of its rows'."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, k, m) if trans_a else (batch, m, k)).astype(dtype)
    b = rng.standard_normal((batch, n, k) if trans_b else (batch, k, n)).astype(dtype)
    matmul = gc.function(lambda a, b: gc.matmul(a, b, transpose_a=trans_a, transpose_b=trans_b), backend="llvm")
    whole = matmul(a, b).numpy()
    for i in range(batch):
        assert whole[i].tobytes() == matmul(a[i:i + 1], b[i:i + 1]).numpy()[0].tobytes()
    rows = [matmul(a[:, :, r:r + 1] if trans_a else a[:, r:r + 1], b).numpy() for r in range(m)]
    assert whole.tobytes() == np.concatenate(rows, axis=1).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape, flags", [
    ((DEEP, 9), (DEEP, 32), {"transpose_a": True}),  # a filter gradient: patches^T @ output gradient
    ((3, DEEP), (5, DEEP), {"transpose_b": True}),
    ((DEEP, 2), (7, DEEP), {"transpose_a": True, "transpose_b": True}),
    ((4, 4 * DEPTH_CHUNK), (4 * DEPTH_CHUNK, 6), {}),  # whole slices only
    ((2, 3, DEEP), (DEEP, 4), {}),  # a batch of products, each sliced
    ((2, 1, 3, DEEP), (5, DEEP, 2), {}),  # broadcast batch axes
])
def test_sliced_products_are_exact_on_integers(a_shape, b_shape, flags, dtype):
    _check_exact_on_integers(a_shape, b_shape, flags, dtype)


def test_a_sliced_product_of_reals_matches_numpy():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((DEEP, 9)), rng.standard_normal((DEEP, 32))
    got = gc.function(lambda a, b: gc.matmul(a, b, transpose_a=True), backend="llvm")(a, b).numpy()
    np.testing.assert_allclose(got, a.T @ b, rtol=1e-12, atol=1e-12 * np.sqrt(DEEP))
    got32 = gc.function(lambda a, b: gc.matmul(a, b, transpose_a=True), backend="llvm")(
        a.astype(np.float32), b.astype(np.float32)).numpy()
    np.testing.assert_allclose(got32, a.T @ b, rtol=1e-4, atol=1e-5 * np.sqrt(DEEP))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_first_layer_conv_whose_filter_gradient_is_sliced_matches_the_interpreter(dtype):
    """1 input channel, 3x3 filters, 4x34x34 images: 4,096 positions, so the filter gradient
    ([9, 4096] @ [4096, 5]) is sliced; batch 1 with 66x66 images likewise."""
    rng = np.random.default_rng(4)
    for shape in ((4, 34, 34, 1), (1, 66, 66, 1)):
        assert depth_chunk(9, 5, shape[0] * (shape[1] - 2) * (shape[2] - 2)) == DEPTH_CHUNK
        x = rng.standard_normal(shape).astype(dtype)
        k, bias = rng.standard_normal((3, 3, 1, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
        weights = rng.standard_normal(_output_shape(shape, (3, 3), (1, 1), "valid", 5)).astype(dtype)
        check(_conv_step((3, 3), (1, 1), "valid"), [x, k, bias, weights], rtol=1e-4 if dtype == "float32" else 1e-11)


def test_a_sliced_filter_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 34, 34, 1))
    k = rng.standard_normal((3, 3, 1, 5))
    conv = gc.function(lambda x, k: gc.nn.conv2d(x, k) * 1.5, backend="llvm")
    check_grads(conv, [x, k], order=1, modes=("rev",))


# -- 5. shallow products, as loops of their own ------------------------------------------------------
@pytest.mark.parametrize("k, n, shallow", [
    (9, 32, True), (1, 1, True), (SHALLOW_DEPTH, SHALLOW_COLUMNS, True), (SHALLOW_DEPTH + 1, 32, False),
    (9, SHALLOW_COLUMNS + 1, False), (0, 32, False), ("k", 32, False), (9, "n", False),
])
def test_only_static_products_of_few_terms_and_columns_are_shallow(k, n, shallow):
    assert is_shallow(k, n) is shallow


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape, flags", [
    ((1000, 9), (9, 32), {}),  # a first layer's forward product
    ((5, 1), (1, 7), {}),
    ((33, SHALLOW_DEPTH), (SHALLOW_DEPTH, SHALLOW_COLUMNS), {}),
    ((9, 37), (9, 5), {"transpose_a": True}),
    ((37, 3), (5, 3), {"transpose_b": True}),
    ((4, 37), (6, 4), {"transpose_a": True, "transpose_b": True}),
    ((3, 50, 5), (5, 7), {}),  # a batch
    ((2, 1, 4, 3), (5, 3, 6), {}),  # broadcast batch axes
    ((0, 9), (9, 4), {}), ((4, 9), (9, 0), {}),  # empty results
])
def test_shallow_products_are_exact_on_integers(a_shape, b_shape, flags, dtype):
    assert is_shallow(a_shape[-2] if flags.get("transpose_a") else a_shape[-1], b_shape[-2] if flags.get("transpose_b") else b_shape[-1])
    _check_exact_on_integers(a_shape, b_shape, flags, dtype)


def test_shallow_products_of_reals_match_numpy_nan_and_infinities_included():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((300, 9)), rng.standard_normal((9, 20))
    a[3, 4], a[5, 0], b[2, 7], b[6, 1] = np.inf, np.nan, -np.inf, 0.0
    a[7, 6] = np.inf  # times b[6, 1] = 0: NaN
    matmul = gc.function(lambda a, b: gc.matmul(a, b), backend="llvm")
    with np.errstate(invalid="ignore"):
        want = a @ b
    np.testing.assert_allclose(matmul(a, b).numpy(), want, rtol=1e-13, atol=1e-13, equal_nan=True)
    got32 = matmul(a.astype(np.float32), b.astype(np.float32)).numpy()
    np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert np.isnan(want[7, 1]) and np.isnan(got32[7, 1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(1, 12), m=st.integers(1, 9), k=st.integers(1, SHALLOW_DEPTH), n=st.integers(1, 12),
       trans_a=st.booleans(), trans_b=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**31 - 1))
def test_a_shallow_products_rows_do_not_depend_on_how_many_rows_or_batches_it_has(
        batch, m, k, n, trans_a, trans_b, dtype, seed):
    """Every element is its k products summed in order, the same in vectorised and scalar code: a
    batch's products are, bit for bit, each batch entry's, and each of its rows' (op determinism
    adds group sums made so, and relies on it; LLVM's own contraction once fused other pairs)."""
    _check_rows_alone(batch, m, k, n, trans_a, trans_b, dtype, seed)


# -- 6. narrow products, as loops of their own -------------------------------------------------------
@pytest.mark.parametrize("k, n, narrow, gemm", [
    (784, 10, True, False), ("k", 1, False, True), (0, NARROW_COLUMNS, True, False), (9, 10, True, False),
    (NARROW_DEPTH - 1, 10, True, False), (NARROW_DEPTH, 10, False, True),  # a deep one: a filter gradient
    (784, NARROW_COLUMNS + 1, False, True), (784, "n", False, True), (784, 0, False, True),
])
def test_only_static_products_of_few_columns_not_too_deep_are_narrow(k, n, narrow, gemm):
    assert is_narrow(k, n) is narrow
    assert calls_gemm("float32", k, n) is gemm and calls_gemm("float64", k, n) is gemm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape, flags", [
    ((256, 512), (512, 10), {}),  # a last layer's forward product
    ((256, 512), (256, 10), {"transpose_a": True}),  # its weights' gradient, h^T @ g
    ((37, 300), (10, 300), {"transpose_b": True}),
    ((300, 45), (16, 300), {"transpose_a": True, "transpose_b": True}),
    ((NARROW_BLOCK * 3 + 5, 17), (17, 1), {}),  # whole blocks and rows left over
    ((200, 53), (200, NARROW_COLUMNS), {"transpose_a": True}),  # 53: vectors of rows and rows left over
    ((1, 2000), (2000, 3), {}), ((2000, 1), (2000, 7), {"transpose_a": True}),  # one row
    ((3, 40, 33), (33, 5), {}),  # a batch
    ((2, 1, 19, 30), (4, 30, 9), {}),  # broadcast batch axes
    ((0, 30), (30, 4), {}), ((30, 0), (30, 4), {"transpose_a": True}), ((5, 0), (0, 6), {}),  # empty
])
def test_narrow_products_are_exact_on_integers(a_shape, b_shape, flags, dtype):
    n = b_shape[-2] if flags.get("transpose_b") else b_shape[-1]
    k = a_shape[-2] if flags.get("transpose_a") else a_shape[-1]
    assert is_narrow(k, n) and not is_shallow(k, n)
    _check_exact_on_integers(a_shape, b_shape, flags, dtype)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("k", [1, 17, 300])
def test_narrow_products_with_rows_known_at_run_time_match_numpy(transpose_a, k):
    a_spec = gc.TensorSpec([k, None] if transpose_a else [None, k], "float64")
    matmul = gc.function(lambda a, b: gc.nn.relu(gc.matmul(a, b, transpose_a=transpose_a)) - 1.0,
                         input_signature=[a_spec, gc.TensorSpec([k, 10], "float64")], backend="llvm")
    rng = np.random.default_rng(7)
    for m in (1, 7, 29, 64, 0):
        a, b = rng.standard_normal((k, m) if transpose_a else (m, k)), rng.standard_normal((k, 10))
        want = np.maximum((a.T if transpose_a else a) @ b, 0) - 1.0
        np.testing.assert_allclose(matmul(a, b).numpy(), want, rtol=1e-12, atol=1e-12)


def test_narrow_products_of_reals_match_numpy_nan_and_infinities_included():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((300, 40)), rng.standard_normal((40, 10))
    a[3, 4], a[5, 0], b[2, 7], b[6, 1] = np.inf, np.nan, -np.inf, 0.0
    a[7, 6] = np.inf  # times b[6, 1] = 0: NaN
    for transpose_a in (False, True):
        matmul = gc.function(lambda a, b: gc.matmul(a, b, transpose_a=transpose_a), backend="llvm")
        operand = np.ascontiguousarray(a.T) if transpose_a else a
        with np.errstate(invalid="ignore"):
            want = a @ b
        np.testing.assert_allclose(matmul(operand, b).numpy(), want, rtol=1e-13, atol=1e-13, equal_nan=True)
        got32 = matmul(operand.astype(np.float32), b.astype(np.float32)).numpy()
        np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-5, equal_nan=True)
        assert np.isnan(want[7, 1]) and np.isnan(got32[7, 1]) and np.isnan(got32[5]).all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(1, 4), m=st.integers(1, 40), k=st.integers(SHALLOW_DEPTH + 1, 300),
       n=st.integers(1, NARROW_COLUMNS), trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31 - 1))
def test_a_narrow_products_rows_do_not_depend_on_how_many_rows_or_batches_it_has(
        batch, m, k, n, trans_a, trans_b, dtype, seed):
    """Every element is its k products summed in order from zero, whether its row is computed in a
    block of rows or alone: a batch's products are, bit for bit, each batch entry's, and each of its
    rows'."""
    _check_rows_alone(batch, m, k, n, trans_a, trans_b, dtype, seed)
