"""The LLVM backend's vector math library: accuracy, special values, vectorisation, IR contract.

Accuracy uses the harness's quick sample (a few hundred thousand inputs per function and dtype, all
special values and edge regions included); ``python -m graphc.backends.llvm.math_accuracy`` runs the
full sweep.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from llvmlite import ir

from graphc.backends.llvm import target
from graphc.backends.llvm.math_accuracy import BOUNDS, DTYPES, CompiledMath, measure
from graphc.backends.llvm.mathlib import FUNCTIONS, math_function

inf, nan = math.inf, math.nan
F32_TINY, F64_TINY = float(np.finfo(np.float32).smallest_subnormal), 5e-324
CASES = [(name, dtype) for dtype in DTYPES for name in FUNCTIONS]


@pytest.fixture(scope="module")
def math_loops() -> CompiledMath:
    return CompiledMath()


@pytest.mark.parametrize("name,dtype", CASES)
def test_accuracy_within_bound(math_loops, name, dtype):
    m = measure(name, dtype, quick=True, math=math_loops)
    assert m.samples > 100_000
    assert m.max_ulp <= BOUNDS[name, dtype], f"{m.max_ulp:.3f} ulp at {m.where}"


# The functions that scale by 2^n (``FloatArithmetic.scale``): llvm.ldexp on AVX-512 hosts, powers of
# two built from the bits elsewhere. Both forms are checked on every host.
SCALING = ("exp", "sigmoid", "tanh", "erf", "pow")


@pytest.fixture(scope="module")
def math_loops_without_ldexp() -> CompiledMath:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(target, "has_avx512", lambda: False)
        return CompiledMath(names=SCALING)


@pytest.mark.parametrize("name", SCALING)
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_accuracy_within_bound_when_scaling_by_the_bits(math_loops_without_ldexp, name, dtype):
    m = measure(name, dtype, quick=True, math=math_loops_without_ldexp)
    assert m.max_ulp <= BOUNDS[name, dtype], f"{m.max_ulp:.3f} ulp at {m.where}"
    assert math_loops_without_ldexp.calls(name, DTYPES[dtype]) == []


def test_scaling_uses_ldexp_only_on_avx512_hosts():
    module = ir.Module("m")
    math_function(module, "exp", ir.FloatType())
    assert ("llvm.ldexp" in str(module)) == target.has_avx512()


@pytest.mark.parametrize("name", ["sqrt", "rsqrt"])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_sqrt_and_rsqrt_match_numpy_bit_for_bit(math_loops, name, dtype):
    assert measure(name, dtype, quick=True, math=math_loops).max_ulp_numpy == 0


# (function, arguments, expected) for both dtypes unless the dtype is given; compared bit for bit
# (NaN with NaN, and the sign of zeros).
SPECIAL = [
    ("exp", (inf,), inf), ("exp", (-inf,), 0.0), ("exp", (nan,), nan), ("exp", (-0.0,), 1.0),
    ("exp", (1000.0,), inf), ("exp", (-1000.0,), 0.0),
    ("exp", (-745.1332191019411,), F64_TINY, "float64"), ("exp", (-745.2,), 0.0, "float64"),
    ("exp", (-103.97,), F32_TINY, "float32"), ("exp", (-104.0,), 0.0, "float32"),
    ("exp", (709.79,), inf, "float64"), ("exp", (88.73,), inf, "float32"),
    ("log", (0.0,), -inf), ("log", (-0.0,), -inf), ("log", (-1.0,), nan), ("log", (-inf,), nan),
    ("log", (inf,), inf), ("log", (nan,), nan), ("log", (1.0,), 0.0),
    ("log", (F64_TINY,), -744.4400719213812, "float64"), ("log", (F32_TINY,), -103.27893, "float32"),
    ("log1p", (-1.0,), -inf), ("log1p", (-2.0,), nan), ("log1p", (-0.0,), -0.0), ("log1p", (0.0,), 0.0),
    ("log1p", (inf,), inf), ("log1p", (-inf,), nan), ("log1p", (nan,), nan),
    ("log1p", (-F64_TINY,), -F64_TINY, "float64"), ("log1p", (F32_TINY,), F32_TINY, "float32"),
    ("expm1", (-0.0,), -0.0), ("expm1", (inf,), inf), ("expm1", (-inf,), -1.0), ("expm1", (nan,), nan),
    ("expm1", (1000.0,), inf), ("expm1", (-1000.0,), -1.0),
    ("expm1", (-F64_TINY,), -F64_TINY, "float64"), ("expm1", (F32_TINY,), F32_TINY, "float32"),
    ("tanh", (-0.0,), -0.0), ("tanh", (inf,), 1.0), ("tanh", (-inf,), -1.0), ("tanh", (nan,), nan),
    ("tanh", (-30.0,), -1.0), ("tanh", (-F64_TINY,), -F64_TINY, "float64"),
    ("tanh", (F32_TINY,), F32_TINY, "float32"),
    ("sigmoid", (0.0,), 0.5), ("sigmoid", (-0.0,), 0.5), ("sigmoid", (inf,), 1.0),
    ("sigmoid", (-inf,), 0.0), ("sigmoid", (nan,), nan), ("sigmoid", (-1000.0,), 0.0),
    ("sigmoid", (50.0,), 1.0), ("sigmoid", (-745.1332191019411,), F64_TINY, "float64"),
    ("sin", (-0.0,), -0.0), ("sin", (0.0,), 0.0), ("sin", (inf,), nan), ("sin", (-inf,), nan),
    ("sin", (nan,), nan), ("sin", (-F64_TINY,), -F64_TINY, "float64"),
    ("sin", (F32_TINY,), F32_TINY, "float32"),
    ("sin", (1e22,), -0.8522008497671888, "float64"), ("sin", (-1e300,), 0.8178819121159085, "float64"),
    ("cos", (0.0,), 1.0), ("cos", (-0.0,), 1.0), ("cos", (inf,), nan), ("cos", (nan,), nan),
    ("cos", (1e22,), 0.523214785395139, "float64"), ("cos", (1e300,), -0.5753861119575491, "float64"),
    ("erf", (-0.0,), -0.0), ("erf", (inf,), 1.0), ("erf", (-inf,), -1.0), ("erf", (nan,), nan),
    ("erf", (-10.0,), -1.0),
    ("sqrt", (-0.0,), -0.0), ("sqrt", (-1.0,), nan), ("sqrt", (inf,), inf), ("sqrt", (4.0,), 2.0),
    ("rsqrt", (0.0,), inf), ("rsqrt", (-0.0,), -inf), ("rsqrt", (inf,), 0.0), ("rsqrt", (-1.0,), nan),
    ("rsqrt", (4.0,), 0.5),
    # pow: C99 Annex F, as np.power
    ("pow", (nan, 0.0), 1.0), ("pow", (inf, -0.0), 1.0), ("pow", (1.0, nan), 1.0), ("pow", (1.0, -inf), 1.0),
    ("pow", (-1.0, inf), 1.0), ("pow", (-1.0, -inf), 1.0),
    ("pow", (-0.0, -3.0), -inf), ("pow", (0.0, -3.0), inf), ("pow", (-0.0, -2.0), inf),
    ("pow", (-0.0, -0.5), inf), ("pow", (-0.0, -inf), inf), ("pow", (-0.0, 3.0), -0.0),
    ("pow", (-0.0, 2.0), 0.0), ("pow", (-0.0, 0.5), 0.0), ("pow", (0.0, inf), 0.0),
    ("pow", (0.5, inf), 0.0), ("pow", (2.0, inf), inf), ("pow", (0.5, -inf), inf), ("pow", (2.0, -inf), 0.0),
    ("pow", (-0.5, inf), 0.0), ("pow", (-2.0, inf), inf),
    ("pow", (-inf, -3.0), -0.0), ("pow", (-inf, -2.0), 0.0), ("pow", (-inf, 3.0), -inf),
    ("pow", (-inf, 2.0), inf), ("pow", (-inf, 0.5), inf), ("pow", (-inf, -0.5), 0.0),
    ("pow", (inf, -1.0), 0.0), ("pow", (inf, 0.5), inf), ("pow", (inf, -inf), 0.0), ("pow", (inf, inf), inf),
    ("pow", (-2.0, 0.5), nan), ("pow", (-2.0, 3.0), -8.0), ("pow", (-2.0, -1.0), -0.5), ("pow", (-2.0, 2.0), 4.0),
    ("pow", (nan, 1.0), nan), ("pow", (2.0, nan), nan), ("pow", (-8.0, 1 / 3), nan), ("pow", (3.0, 4.0), 81.0),
    ("pow", (2.0, 1024.0), inf, "float64"), ("pow", (2.0, -1074.0), F64_TINY, "float64"),
    ("pow", (2.0, -1075.0), 0.0, "float64"), ("pow", (-2.0, -1075.0), -0.0, "float64"),
    ("pow", (2.0, 128.0), inf, "float32"), ("pow", (2.0, -149.0), F32_TINY, "float32"),
    ("pow", (2.0, -150.0), 0.0, "float32"), ("pow", (-2.0, 127.0), -2.0 ** 127, "float32"),
    # exact results, and an exact tie rounded to even
    ("pow", (10.0, 22.0), 1e22, "float64"), ("pow", (-3.0, 33.0), -5559060566555523.0, "float64"),
    ("pow", (4097.0, 2.0), 16785408.0, "float32"), ("pow", (-3.0, 15.0), -14348907.0, "float32"),
    # math ops (tf-math): C99 Annex F, as NumPy
    ("atan", (-0.0,), -0.0), ("atan", (inf,), math.pi / 2), ("atan", (-inf,), -math.pi / 2), ("atan", (nan,), nan),
    ("atan", (1.0,), math.pi / 4), ("atan", (-F64_TINY,), -F64_TINY, "float64"),
    ("atan2", (0.0, 0.0), 0.0), ("atan2", (-0.0, 0.0), -0.0), ("atan2", (0.0, -0.0), math.pi),
    ("atan2", (-0.0, -0.0), -math.pi), ("atan2", (0.0, -1.0), math.pi), ("atan2", (-0.0, -1.0), -math.pi),
    ("atan2", (1.0, 0.0), math.pi / 2), ("atan2", (-1.0, -0.0), -math.pi / 2), ("atan2", (inf, inf), math.pi / 4),
    ("atan2", (-inf, -inf), -3 * math.pi / 4), ("atan2", (1.0, inf), 0.0), ("atan2", (-1.0, -inf), -math.pi),
    ("atan2", (inf, 1.0), math.pi / 2), ("atan2", (nan, 1.0), nan), ("atan2", (1.0, nan), nan),
    ("atan2", (1e-300, 1e300), 0.0, "float64"), ("atan2", (1e300, 1e300), math.pi / 4, "float64"),
    ("asin", (-0.0,), -0.0), ("asin", (1.0,), math.pi / 2), ("asin", (-1.0,), -math.pi / 2),
    ("asin", (1.5,), nan), ("asin", (-inf,), nan), ("asin", (nan,), nan),
    ("acos", (1.0,), 0.0), ("acos", (-1.0,), math.pi), ("acos", (0.0,), math.pi / 2), ("acos", (-0.0,), math.pi / 2),
    ("acos", (1.0000001,), nan), ("acos", (inf,), nan), ("acos", (nan,), nan),
    ("asinh", (-0.0,), -0.0), ("asinh", (inf,), inf), ("asinh", (-inf,), -inf), ("asinh", (nan,), nan),
    ("asinh", (-F64_TINY,), -F64_TINY, "float64"), ("asinh", (1.7e308,), 710.4199840737882, "float64"),
    ("acosh", (1.0,), 0.0), ("acosh", (inf,), inf), ("acosh", (0.5,), nan), ("acosh", (-inf,), nan),
    ("acosh", (nan,), nan), ("acosh", (1.7e308,), 710.4199840737882, "float64"),
    ("atanh", (-0.0,), -0.0), ("atanh", (1.0,), inf), ("atanh", (-1.0,), -inf), ("atanh", (1.5,), nan),
    ("atanh", (nan,), nan), ("atanh", (-F64_TINY,), -F64_TINY, "float64"),
]
SPECIAL_CASES = [(case[0], dtype, case[1], case[2]) for case in SPECIAL for dtype in DTYPES
                 if len(case) == 3 or case[3] == dtype]


def _same(a, b) -> bool:
    return (np.isnan(a) and np.isnan(b)) or (a == b and np.signbit(a) == np.signbit(b))


def test_special_values(math_loops, math_loops_without_ldexp):
    wrong = []
    for name, dtype, args, expected in SPECIAL_CASES:
        arrays = [np.array([a], DTYPES[dtype]) for a in args]
        got = math_loops(name, *arrays)[0]
        if name in SCALING:
            bits = math_loops_without_ldexp(name, *arrays)[0]
            if not _same(bits, got):
                wrong.append(f"{name}{args} {dtype}: {bits!r} scaling by the bits, {got!r} otherwise")
        if not _same(got, DTYPES[dtype](expected)):
            wrong.append(f"{name}{args} {dtype}: {got!r}, expected {expected!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name,dtype", CASES)
def test_loop_is_vectorised(math_loops, name, dtype):
    dt = DTYPES[dtype]
    assert math_loops.calls(name, dt) == []                   # everything inlined, no libm
    assert math_loops.vector_instructions(name, dt) > 0
    if "+avx" in target.host()[2]:  # 256-bit or wider: LLVM prefers ymm over zmm on many AVX-512 Intel cores
        assert re.search(r"%[yz]mm", math_loops.loop_assembly(name, dt))


_finite64 = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(x=st.lists(_finite64, min_size=1, max_size=64), dtype=st.sampled_from(list(DTYPES)))
def test_symmetries_hold_exactly(math_loops, x, dtype):
    """sin, tanh, erf are odd and cos is even, bit for bit (the sign is handled apart)."""
    with np.errstate(over="ignore"):
        x = np.array(x, DTYPES[dtype])
    for name, sign in (("sin", -1), ("tanh", -1), ("erf", -1), ("cos", 1)):
        np.testing.assert_array_equal(math_loops(name, -x), sign * math_loops(name, x))


@settings(max_examples=300, deadline=None)
@given(x=_finite64, n=st.integers(-400, 400), dtype=st.sampled_from(list(DTYPES)))
def test_pow_of_negative_base_takes_the_sign_of_odd_powers(math_loops, x, n, dtype):
    with np.errstate(over="ignore"):
        base = np.array([abs(x)], DTYPES[dtype])
    exponent = np.array([n], DTYPES[dtype])
    positive = math_loops("pow", base, exponent)
    negative = math_loops("pow", -base, exponent)
    np.testing.assert_array_equal(negative, positive if n % 2 == 0 else -positive)


@pytest.mark.parametrize("ty", [ir.FloatType(), ir.DoubleType()])
def test_math_function_is_created_once_per_module(ty):
    module = ir.Module("m")
    suffix = "f32" if isinstance(ty, ir.FloatType) else "f64"
    for name, arity in FUNCTIONS.items():
        fn = math_function(module, name, ty)
        assert fn is math_function(module, name, ty)
        assert fn.name == f"graphc.{name}.{suffix}" and fn.linkage == "internal"
        assert "alwaysinline" in fn.attributes
        assert [a.type for a in fn.args] == [ty] * arity and fn.function_type.return_type == ty
    callees = set(re.findall(r'call \w+ @"?([\w.]+)', str(module)))
    assert callees and all(c.startswith("llvm.") for c in callees), callees   # only intrinsics


@pytest.mark.parametrize("name,ty,error", [
    ("gamma", ir.DoubleType(), ValueError), ("exp", ir.IntType(32), TypeError), ("exp", ir.HalfType(), TypeError),
])
def test_math_function_rejects_unknown_requests(name, ty, error):
    with pytest.raises(error):
        math_function(ir.Module("m"), name, ty)
