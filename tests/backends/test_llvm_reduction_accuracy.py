"""Float sums compiled by the LLVM backend stay accurate at any length: full and axis reductions
(long rows, short rows, outer axes), means, variances, and sums fused with other work (softmax,
elementwise expressions), float32 and float64, on one thread and on several.

The reference is the exact sum of the same data, computed in higher precision (float64 for float32
data, long double for float64 data) with the reduced axes made contiguous, so NumPy sums them pairwise.

Bounds. With ``TOL`` = 1e-6 (float32) or 1e-13 (float64), every sum satisfies
``|got - exact| <= TOL * sum(|x|)``. For data of one sign that is a relative error ``<= TOL``; when terms
cancel (alternating signs) the relative error may grow by the condition number ``sum(|x|) / |sum(x)|``,
which no summation order in the data's own precision avoids, so the bound is stated that way. Before
blocked, compensated summation, float32 sums of 2**24 copies of 0.1 were off by 2.5e-3.
"""
import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import runtime

TOL = {np.float32: 1e-6, np.float64: 1e-13}
# the largest inputs: 2**24 stays in the fast suite (each sum takes milliseconds), 2**25 is slow
LARGEST = {np.float32: 1 << 24, np.float64: 1 << 22}
SIZES = (1, 3, 511, 512, 513, 4097, 100_003, 10**7)
KINDS = ("constant 0.1", "uniform", "alternating signs", "large offset")


def data(kind: str, shape, dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if kind == "constant 0.1":
        x = np.full(n, 0.1)
    elif kind == "uniform":
        x = rng.random(n)
    elif kind == "alternating signs":
        x = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * (1.0 + rng.random(n))
    else:
        x = 1e4 + rng.random(n)
    return x.astype(dtype).reshape(shape)


def _axes(x: np.ndarray, axis) -> tuple:
    return tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % x.ndim)


def exact_sum(x: np.ndarray, axis=None) -> np.ndarray:
    """The sum of ``x`` over ``axis``, to about 1e-16 (float32 data) or, with x87 long double, 1e-19 (float64)."""
    axes = _axes(x, axis)
    kept = [a for a in range(x.ndim) if a not in axes]
    rows = np.transpose(x, kept + list(axes)).reshape([x.shape[a] for a in kept] + [-1])
    wide = np.float64 if x.dtype == np.float32 else np.longdouble
    return np.ascontiguousarray(rows, dtype=wide).sum(axis=-1)


def assert_sum_accurate(got, x: np.ndarray, axis=None, scale: float = 1.0, tol: float | None = None, err=""):
    """``got`` is ``scale`` times the sum of ``x`` over ``axis``, within ``tol * sum(|x|)`` (times ``scale``);
    ``tol`` defaults to ``TOL`` of ``x``'s dtype."""
    exact = exact_sum(x, axis) * scale
    magnitude = np.abs(x).astype(np.float64).sum(axis=axis) * scale
    error = np.abs(np.asarray(got, dtype=exact.dtype) - exact).astype(np.float64)
    bound = (tol or TOL[x.dtype.type]) * magnitude
    worst = np.argmax(error - bound)
    assert np.all(error <= bound), (
        f"{err}: error {error.flat[worst]:.3g} > bound {bound.flat[worst]:.3g} "
        f"(relative to sum(|x|): {error.flat[worst] / magnitude.flat[worst]:.3g})"
    )


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def threads(request, monkeypatch):
    """The runtime's worker count for functions compiled in the test (a fresh pool of that size)."""
    monkeypatch.setattr(runtime, "_THREADS", request.param)
    monkeypatch.setattr(runtime, "_pool", None)
    yield request.param
    if runtime._pool is not None:
        runtime._pool.shutdown()


def compile_for(fn, *arrays, threads: int | None = None):
    """``fn`` compiled for these arrays; with ``threads`` (the ``threads`` fixture's count), checks
    that it shares out its work on several (the runtime does for calls touching at least
    ``PARALLEL_THRESHOLD`` elements)."""
    f = gc.function(fn)
    if threads is not None:
        assert f.get_concrete_function(*arrays).compiled().executable._parallel == (threads > 1)
    return f


def _sizes(dtype):
    return [n for n in SIZES if n < LARGEST[dtype]] + [LARGEST[dtype]]


SUM_SIZES = [(dtype, n) for dtype in (np.float32, np.float64) for n in _sizes(dtype)]


# -- full sums ---------------------------------------------------------------------------------------
_full_sums = {dtype: gc.function(lambda x: gc.reduce_sum(x)) for dtype in (np.float32, np.float64)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype,n", SUM_SIZES, ids=[f"{d.__name__}-{n}" for d, n in SUM_SIZES])
def test_full_sums_are_accurate_at_every_length(dtype, n, kind):
    x = data(kind, (n,), dtype)
    assert_sum_accurate(_full_sums[dtype](x).numpy(), x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_float32_sums_of_2_to_the_25_are_accurate(kind):
    x = data(kind, (1 << 25,), np.float32)
    assert_sum_accurate(_full_sums[np.float32](x).numpy(), x)


def test_the_reported_sum_of_ten_million_tenths():
    x = np.full(10**7, 0.1, np.float32)
    got = float(_full_sums[np.float32](x).numpy())
    assert abs(got - 1e6) / 1e6 <= 3e-7  # was 998501.4 (NumPy's pairwise sum: 1000000.1)


@pytest.mark.parametrize("n", [1000, 100_003])
def test_sums_of_unknown_length_are_accurate(n):
    f = gc.function(lambda v: gc.reduce_sum(v), input_signature=[gc.TensorSpec([None], "float32")])
    for kind in KINDS:
        x = data(kind, (n,), np.float32)
        assert_sum_accurate(f(x).numpy(), x, err=kind)


# -- axis sums ---------------------------------------------------------------------------------------
def case(shape: tuple, axis, slow: bool = False):
    return pytest.param(shape, axis, id=f"{shape}-axis{axis}", marks=[pytest.mark.slow] if slow else [])


AXIS_CASES = [
    case((4, 1 << 20), 1),  # a few long contiguous rows
    case((1 << 20, 4), 0),  # the outer axis: strided, long
    case((2048, 2048), 0),
    case((2048, 2048), 1),
    case((1000, 513), -1),  # rows one element longer than a block
    case((256, 16, 256), (0, 2)),  # two reduced axes that do not merge
    case((4, 1 << 23), 1, slow=True),
    case((1 << 23, 4), 0, slow=True),
    case((1024, 16, 1024), (0, 2), slow=True),
]
# results of 2**16 elements or more: the runtime shares the rows among its threads
SHARED = [((1 << 16, 24), 1), ((24, 1 << 16), 0)]
SHARED_CASES = [case(shape, axis) for shape, axis in SHARED]


@pytest.mark.parametrize("shape,axis", AXIS_CASES)
def test_axis_sums_are_accurate(shape, axis):
    f = compile_for(lambda v: gc.reduce_sum(v, axis), data("uniform", shape, np.float32))
    for kind in KINDS:
        x = data(kind, shape, np.float32)
        assert_sum_accurate(f(x).numpy(), x, axis, err=kind)


@pytest.mark.parametrize("shape,axis", SHARED_CASES)
def test_axis_sums_are_accurate_on_one_thread_and_several(shape, axis, threads):
    x = data("constant 0.1", shape, np.float32)
    f = compile_for(lambda v: gc.reduce_sum(v, axis), x, threads=threads)
    for kind in KINDS:
        x = data(kind, shape, np.float32)
        assert_sum_accurate(f(x).numpy(), x, axis, err=kind)


@pytest.mark.parametrize("shape,axis", [((1 << 18, 4), 0), ((4, 1 << 18), 1), ((512, 700), None)])
def test_float64_axis_sums_are_accurate(shape, axis):
    f = compile_for(lambda v: gc.reduce_sum(v, axis), data("uniform", shape, np.float64))
    for kind in KINDS:
        x = data(kind, shape, np.float64)
        assert_sum_accurate(f(x).numpy(), x, axis, err=kind)


# -- means and variances -----------------------------------------------------------------------------
MEAN_CASES = [case((1 << 22,), None), case((16, 1 << 18), 1), case((1 << 18, 16), 0), case((1000, 1000), None),
              case((1 << 24,), None, slow=True), case((16, 1 << 20), 1, slow=True), *SHARED_CASES]


def _count(shape, axis) -> int:
    return int(np.prod([shape[a] for a in _axes(np.empty(shape, bool), axis)]))


@pytest.mark.parametrize("shape,axis", MEAN_CASES)
def test_means_are_accurate(shape, axis, threads):
    f = compile_for(lambda v: gc.reduce_mean(v, axis), data("uniform", shape, np.float32), threads=threads)
    for kind in KINDS:
        x = data(kind, shape, np.float32)
        assert_sum_accurate(f(x).numpy(), x, axis, scale=1 / _count(shape, axis), err=kind)


@pytest.mark.parametrize("shape,axis", MEAN_CASES)
def test_variances_are_accurate(shape, axis, threads):
    """Two passes: the mean, then the mean of squared deviations. Besides the second sum's own error
    (``TOL`` relative: its terms are positive), the float32 mean is off by up to ``TOL * |mean|``,
    which adds its square to the variance: ``|got - var| <= TOL * var + 2 * (TOL * mean)**2``."""
    f = compile_for(lambda v: gc.reduce_variance(v, axis), data("uniform", shape, np.float32), threads=threads)
    for kind in KINDS:
        x = data(kind, shape, np.float32)
        mean = exact_sum(x, axis) / _count(shape, axis)
        deviations = x.astype(np.float64) - (mean if axis is None else np.expand_dims(mean, _axes(x, axis)))
        variance = exact_sum(deviations**2, axis) / _count(shape, axis)
        error = np.abs(f(x).numpy() - variance)
        assert np.all(error <= TOL[np.float32] * variance + 2 * (TOL[np.float32] * mean) ** 2), kind


# -- sums fused with other work ----------------------------------------------------------------------
SOFTMAX_CASES = [case((1 << 20,), 0), case((4, 1 << 20), 1), case((1 << 16, 16), 0), case((256, 1024), 1)]


@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
def test_softmax_normalises_by_an_accurate_sum(shape, axis, threads):
    """Each output is exp(x - max) / sum. From the float32 shift x - max on (graphc rounds it as NumPy
    does), the error is a few ulp from exp and the division besides the sum's TOL."""
    f = compile_for(lambda v: gc.softmax(v, axis), data("uniform", shape, np.float32), threads=threads)
    for kind in ("uniform", "alternating signs", "large offset"):
        x = data(kind, shape, np.float32) * np.float32(4)
        e = np.exp((x - x.max(axis=axis, keepdims=True)).astype(np.float64))
        want = e / e.sum(axis=axis, keepdims=True)
        error = np.abs(f(x).numpy() - want) / want
        assert np.all(error <= TOL[np.float32] + 4 * 2.0**-24), f"{kind}: {error.max():.3g}"


FUSED_TERMS = {
    "x * y": (lambda x, y: x * y, lambda x, y: x * y),
    "(x - 0.5)**2 + y": (lambda x, y: gc.square(x - 0.5) + y, lambda x, y: (x - 0.5) ** 2 + y),
    "x / (1 + y)": (lambda x, y: x / (1.0 + y), lambda x, y: x / (1.0 + y)),
}


@pytest.mark.parametrize("terms", FUSED_TERMS)
@pytest.mark.parametrize("shape,axis", [((1 << 21,), None), ((8, 1 << 18), 1), ((1 << 18, 8), 0)])
def test_sums_of_elementwise_expressions_are_accurate(terms, shape, axis):
    """Each term is rounded to float32 (by ~6e-8 of its magnitude) before it is summed: within TOL."""
    compiled_terms, exact_terms = FUSED_TERMS[terms]
    x, y = data("uniform", shape, np.float32, seed=1), data("uniform", shape, np.float32, seed=2)
    got = gc.function(lambda a, b: gc.reduce_sum(compiled_terms(a, b), axis))(x, y).numpy()
    exact = exact_terms(x.astype(np.float64), y.astype(np.float64))
    assert_sum_accurate(got, exact, axis, tol=TOL[np.float32])


# -- special values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [100, 10**5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinities_nans_and_zeros_in_long_sums_match_numpy(n, dtype):
    """A block whose sum is infinite or NaN keeps the total so (no NaN from the compensation)."""
    cases = {"inf": {3: np.inf}, "inf last": {n - 1: np.inf}, "-inf": {n // 2: -np.inf},
             "inf - inf": {3: np.inf, n - 2: -np.inf}, "nan": {n // 3: np.nan}}
    for name, values in cases.items():
        x = np.ones(n, dtype)
        for i, v in values.items():
            x[i] = v
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(_full_sums[dtype](x).numpy(), np.sum(x), err_msg=name)
    assert np.isposinf(_full_sums[dtype](np.full(n, np.finfo(dtype).max, dtype)).numpy())
    zero = _full_sums[dtype](np.full(n, -0.0, dtype)).numpy()
    assert zero == 0 and not np.signbit(zero)  # as NumPy: the sum starts from +0.0


# -- check mode --------------------------------------------------------------------------------------
CHECKED = {
    "full sum": (lambda v: gc.reduce_sum(v), (10**7,)),
    "column sums": (lambda v: gc.reduce_sum(v, 0), (1 << 20, 4)),
    "row means": (lambda v: gc.reduce_mean(v, 1), (4, 1 << 20)),
    "variance": (lambda v: gc.reduce_variance(v), (1 << 22,)),
    "softmax": (lambda v: gc.softmax(v), (2, 1 << 20)),
}


@pytest.mark.parametrize("program", CHECKED)
def test_check_mode_accepts_long_sums(program):
    """Check mode compares with the NumPy interpreter (rtol 1e-5): neither may drift on long sums."""
    fn, shape = CHECKED[program]
    f = gc.function(fn)
    with gc.config.set_check_mode(True):
        for kind in KINDS:
            f(data(kind, shape, np.float32))
