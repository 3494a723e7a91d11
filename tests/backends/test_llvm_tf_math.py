"""The math ops of the TensorFlow surface on the LLVM backend, against the interpreter: rounding and
the float predicates bit for bit (the signs of zeros included), the inverse trigonometric and
hyperbolic functions and atan2 at their special values, cumsum and cumprod bit for bit over axes,
directions, dtypes and sizes known only at run time, fused with elementwise ops, and differentiated.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm.runtime import Executable

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

F32, F64, I32, I64 = (np.dtype(n) for n in ("float32", "float64", "int32", "int64"))
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 1 - 2.0 ** -20,
                     -(1 + 2.0 ** -20), 1e-300, -1e-30, 1e30, 1.7e308, 5e-324, 0.41421356, 2.41421356, 3.0, -7.25])
_rng = np.random.default_rng(7)


def run_both(fn, inputs, signature=None):
    native = gc.function(fn, input_signature=signature, backend="llvm")
    reference = gc.function(fn, input_signature=signature, backend="numpy")
    got = native(*inputs)
    assert isinstance(native.concrete_functions[0].compiled().executable, Executable)
    return got.numpy(), reference(*inputs).numpy()


def assert_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if want.dtype.kind == "f":
        numbers = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name", ["round", "floor", "ceil", "is_nan", "is_inf", "is_finite"])
def test_rounding_and_predicates_are_bit_exact(name, dtype):
    with np.errstate(over="ignore"):
        x = SPECIALS.astype(dtype)
    got, want = run_both(getattr(gc.math, name), [x])
    assert_bits(got, want)


def test_round_halves_to_even_natively():
    got, _ = run_both(gc.round, [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.4], F32)])
    assert_bits(got, np.array([-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0, -0.0], F32))


def test_round_of_integers_is_the_identity():
    x = np.array([-3, 0, 7, 2**31 - 1], I32)
    got, want = run_both(gc.round, [x])
    assert_bits(got, x)


NUMPY_NAMES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
               "atanh": "arctanh", "atan2": "arctan2"}


def exact(name, *arrays):
    """NumPy's function in higher precision (float64 for float32, long double for float64), rounded."""
    dtype = arrays[0].dtype
    wide = np.float64 if dtype == F32 else np.longdouble
    with np.errstate(all="ignore"):
        return getattr(np, NUMPY_NAMES[name])(*(a.astype(wide) for a in arrays)).astype(dtype)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name", ["asin", "acos", "atan", "asinh", "acosh", "atanh"])
def test_inverse_functions_at_special_values(name, dtype):
    """Within 1 ulp of the exact results (NaN, inf and the signs of zeros equal) on the special values,
    compiled; the interpreter (NumPy) agrees on NaN."""
    with np.errstate(over="ignore"):
        x = SPECIALS.astype(dtype)
    got, interpreted = run_both(getattr(gc.math, name), [x])
    want = exact(name, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(interpreted))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_array_max_ulp(got[finite], want[finite], maxulp=1)
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("dtype", [F32, F64])
def test_atan2_of_every_pair_of_special_values(dtype):
    with np.errstate(over="ignore"):
        y, x = (a.ravel().astype(dtype) for a in np.meshgrid(SPECIALS, SPECIALS))
    got, _ = run_both(gc.math.atan2, [y, x])
    want = exact("atan2", y, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_max_ulp(got[ok], want[ok], maxulp=1)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))


SCANS = [((7,), 0), ((3, 5, 4), 1), ((3, 5, 4), 0), ((3, 5, 4), -1), ((2, 0, 3), 1), ((0, 4), 1), ((1, 1), 0),
         ((4, 1030), 1)]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("shape,axis", SCANS, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans_are_bit_exact(name, shape, axis, exclusive, reverse):
    op = getattr(gc.math, name)
    for dtype in (F32, F64, I32, I64) if shape == (3, 5, 4) else (F32,):
        x = _rng.uniform(-1.9, 1.9, shape).astype(dtype)
        if dtype.kind == "f" and x.size > 2:
            x.flat[:3] = [-0.0, np.nan, np.inf] if name == "cumsum" else [-0.0, 1.5, -2.0]
        fn = lambda t: op(t, axis=axis, exclusive=exclusive, reverse=reverse)  # noqa: E731
        got, want = run_both(fn, [x])
        assert_bits(got, want)
        spec = [gc.TensorSpec([None] * len(shape), dtype.name)]
        got, want = run_both(fn, [x], spec)
        assert_bits(got, want)


def test_scan_between_fused_elementwise_ops():
    x = _rng.uniform(-2, 2, (6, 33))    # float64: NumPy's float32 sin is 1.5 ulp off, which the sums amplify
    fn = lambda t: gc.exp(gc.math.cumsum(gc.sin(t) * 2.0, axis=1, reverse=True)) + gc.math.cumprod(t, axis=0)  # noqa: E731
    got, want = run_both(fn, [x])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cumprod_gradient_with_zeros_compiles_natively():
    x = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 3.0, 0.0, 2.0], [1.0, 2.0, 3.0, 4.0]])

    def grad(t):
        with gc.GradientTape() as tape:
            tape.watch(t)
            y = gc.reduce_sum(gc.math.cumprod(t, axis=1, exclusive=True) * gc.range(1.0, 5.0, dtype=gc.float64))
        return tape.gradient(y, t)

    got, want = run_both(grad, [x])
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert np.isfinite(got).all()
