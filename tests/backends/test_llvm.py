"""The LLVM backend against the NumPy interpreter (``backend="numpy"``), which is the reference.

1. every op for every dtype it supports: the op reference table of ``tests/ir/test_ops.py`` (one case per
   op and dtype by default, all of it under ``-m slow``) and a table of awkward cases of our own
   (broadcasting mixed with reductions, sizes 0 and 1, 0-d tensors, reductions over each axis, batched
   matmul with broadcast batch axes, negative steps and indices, joins and splits, NaN, inf, -0 and
   out-of-range values), most also compiled with their dimensions unknown (None) where sizes matter;
2. a signature with None dimensions compiles once and serves every size;
3. introspection: LLVM IR, vectorised IR and assembly, per-stage compile times;
4. safety: awkward input layouts are copied, wrong inputs never reach native code, a bad gather index
   raises without touching variables;
5. run-time size mismatches raise errors that name the op and the user's line.

Threads, the disk cache and check modes have files of their own (test_llvm_threads.py,
test_llvm_cache.py, tests/graphc/test_checks.py).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import compiler as llvm_compiler
from graphc.backends.llvm import target
from graphc.backends.llvm.runtime import Executable
from graphc.ir import ops as irops

# a silent fallback to the interpreter would make every comparison below vacuous
pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

F32, F64, I32, I64, BOOL = (np.dtype(n) for n in ("float32", "float64", "int32", "int64", "bool"))
NUMERIC = (F32, F64, I32, I64)
ALL = NUMERIC + (BOOL,)
# (rtol, atol): a few ulp; float16 results of float32 arithmetic a float32 ulp apart may round apart
TOLERANCE = {F32: (1e-6, 1e-6), F64: (1e-12, 1e-12), np.dtype(np.float16): (1e-3, 1e-3)}
_rng = np.random.default_rng(5)


# -- comparing the backends --------------------------------------------------------------------------
def as_arrays(result) -> list[np.ndarray]:
    results = result if isinstance(result, (list, tuple)) else [result]
    return [r.numpy() for r in results]


def assert_same(got: np.ndarray, want: np.ndarray, exact: bool = False, rtol: float | None = None, what="result"):
    """Same dtype, shape and NaN positions; floats equal to a few ulp, or bit for bit (the signs of zeros
    included) when ``exact``; everything else equal."""
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, interpreter {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, interpreter {want.shape}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=what)
        zeros = want == 0
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), err_msg=f"{what}: signs of zeros")
    else:
        default_rtol, atol = TOLERANCE[want.dtype]
        np.testing.assert_allclose(got, want, rtol=max(rtol or 0, default_rtol), atol=atol, equal_nan=True, err_msg=what)


def unknown_sizes(inputs) -> list[gc.TensorSpec]:
    """Specs with every dimension unknown, except those of size 1: that they broadcast must be known
    (see test_broadcasting_through_unknown_sizes_of_one)."""
    return [gc.TensorSpec([1 if d == 1 else None for d in np.shape(x)], np.asarray(x).dtype.name) for x in inputs]


def run_both(fn: Callable, inputs, signature=None) -> tuple[list, list]:
    """``fn`` compiled natively and interpreted; asserts the native build really is native code."""
    native = gc.function(fn, input_signature=signature, backend="llvm")
    reference = gc.function(fn, input_signature=signature, backend="numpy")
    got = as_arrays(native(*inputs))
    assert isinstance(native.concrete_functions[0].compiled().executable, Executable)
    return got, as_arrays(reference(*inputs))


def check(fn, inputs, signature=None, exact=False, rtol=None) -> None:
    got, want = run_both(fn, inputs, signature)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, exact, rtol, what=f"result {i}")


# -- 1a. the op reference table ----------------------------------------------------------------------
def _load_op_table():
    """tests/ir/test_ops.py as a module (its CASES table); registered so its dataclasses resolve."""
    path = Path(__file__).parents[1] / "ir" / "test_ops.py"
    spec = importlib.util.spec_from_file_location("graphc_op_table", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


OP_TABLE = _load_op_table()
_DTYPE_NAMES = re.compile(r"\b(?:u?int(?:8|16|32|64)|float(?:16|32|64)|bool)\b")


def _one_per_op_and_dtypes(cases) -> list:
    """The first case of each op with each combination of dtypes its id names."""
    first = {}
    for c in cases:
        first.setdefault((c.id.split("-")[0], tuple(_DTYPE_NAMES.findall(c.id))), c)
    return list(first.values())


QUICK_CASES = _one_per_op_and_dtypes(OP_TABLE.CASES)
OTHER_CASES = [c for c in OP_TABLE.CASES if c not in QUICK_CASES]
SYMBOLIC_CASES = [c for c in OP_TABLE.SYMBOLIC_CASES if not c.id.startswith(OP_TABLE.NEEDS_STATIC_SIZES)]


def _check_table_case(c, signature=None, **options) -> None:
    # creation ops without inputs would be folded into constants: keep them as ops to lower them
    with gc.config.set_optimizer_options({"constant_folding": bool(c.inputs), **options}):
        check(lambda *tensors: c.op(*tensors), c.inputs, signature, rtol=c.rtol)


@pytest.mark.parametrize("c", QUICK_CASES, ids=[c.id for c in QUICK_CASES])
def test_op_table_matches_the_interpreter(c):
    _check_table_case(c)


EVERY_PASS_OFF = dict.fromkeys(gc.config.get_optimizer_options(), False)


@pytest.mark.parametrize("c", QUICK_CASES, ids=[c.id for c in QUICK_CASES])
def test_op_table_with_every_pass_off_is_native_and_matches_the_interpreter(c):
    """Each op alone in a kernel of its own, as the pipeline leaves it with fusion switched off."""
    _check_table_case(c, **EVERY_PASS_OFF)


@pytest.mark.slow
@pytest.mark.parametrize("c", OTHER_CASES, ids=[c.id for c in OTHER_CASES])
def test_rest_of_the_op_table_matches_the_interpreter(c):
    _check_table_case(c)


@pytest.mark.slow
@pytest.mark.parametrize("c", SYMBOLIC_CASES, ids=[c.id for c in SYMBOLIC_CASES])
def test_op_table_with_unknown_sizes_matches_the_interpreter(c):
    _check_table_case(c, unknown_sizes(c.inputs))


def test_quick_cases_cover_every_op_and_dtype_of_the_table():
    covered = {(c.id.split("-")[0], tuple(_DTYPE_NAMES.findall(c.id))) for c in QUICK_CASES}
    wanted = {(c.id.split("-")[0], tuple(_DTYPE_NAMES.findall(c.id))) for c in OP_TABLE.CASES}
    assert covered == wanted and len(QUICK_CASES) < len(OP_TABLE.CASES) / 3


# -- 1b. awkward cases ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Case:
    id: str
    fn: Callable
    inputs: tuple
    exact: bool  # bit for bit: no rounding can differ (integer-valued floats, exact ops)
    quick: bool  # in the default run (the others: under -m slow)
    dynamic: str  # also compiled with its sizes unknown (those of 1 stay known): "" never, "quick" or "slow"

    def __repr__(self) -> str:
        return self.id


CASES: list[Case] = []


def case(id: str, fn, *inputs, exact=True, quick=True, dynamic=False) -> None:
    """A case; with ``dynamic`` also compiled with unknown sizes (in the default run if it is quick and
    ``dynamic == "quick"``)."""
    dynamic_run = "" if not dynamic else "quick" if quick and dynamic == "quick" else "slow"
    CASES.append(Case(id, fn, tuple(np.asarray(x) for x in inputs), exact, quick, dynamic_run))


def ints(shape, dtype, low=-4, high=4) -> np.ndarray:
    """Small integers (as ``dtype``): sums and products of floats stay exact in any order."""
    dtype = np.dtype(dtype)
    if dtype == BOOL:
        return _rng.random(shape) < 0.5
    return _rng.integers(low, high + 1, shape).astype(dtype)


def reals(shape, dtype, low=-3.0, high=3.0) -> np.ndarray:
    return _rng.uniform(low, high, shape).astype(dtype)


def tag(dtype) -> str:
    return np.dtype(dtype).name


# broadcasting, alone and mixed with reductions in one kernel
BROADCASTS = [((3, 1, 5), (4, 1)), ((1,), (2, 3)), ((), (2, 3)), ((2, 3), ()), ((5, 1), (1, 1)), ((2, 1, 7), (2, 6, 1)),
              ((1, 1025), (3, 1))]


def _broadcast_and_reduce(p, q):
    total, product = p + q, p * q  # each computed once (see test_repeated_subexpression_with_unknown_sizes)
    return [total, product - gc.reduce_max(total, axis=-1, keepdims=True), gc.reduce_sum(p - q, axis=0),
            gc.reduce_min(product, axis=-1) + gc.reduce_sum(q)]


def _broadcast_empty(p, q):
    product = p * q
    return [product + 1, gc.reduce_sum(product, axis=1), gc.reduce_prod(q + p, axis=0)]


for dtype in NUMERIC:
    for i, (a, b) in enumerate(BROADCASTS):
        case(f"broadcast-reduce-{tag(dtype)}-{a}-{b}", _broadcast_and_reduce, ints(a, dtype), ints(b, dtype),
             quick=dtype == F32 or i < 2, dynamic="quick" if dtype == F32 else True)
    case(f"broadcast-empty-{tag(dtype)}", _broadcast_empty, ints((2, 0, 3), dtype), ints((1, 3), dtype),
         quick=dtype in (F32, I64), dynamic="quick")
case("no-fma-contraction-float32", lambda x, y, z: x * y + z, *(reals((1031,), F32) for _ in range(3)))
case("no-fma-contraction-float64", lambda x, y, z: x * y - z, *(reals((1031,), F64) for _ in range(3)))
case("softmax-rows-float32", lambda x: gc.nn.softmax(x, axis=-1), reals((37, 1029), F32), exact=False, dynamic="quick")
case("softmax-columns-float64", lambda x: gc.nn.softmax(x, axis=0), reals((129, 7), F64), exact=False, dynamic="quick")

# sizes 0 and 1, 0-d tensors
SMALL_SHAPES = [(), (0,), (1,), (1, 1), (0, 3), (3, 0, 1), (1, 0), (1, 1, 1, 1)]
for dtype in NUMERIC:
    for shape in SMALL_SHAPES:
        case(f"small-{tag(dtype)}-{shape}",
             lambda t: [t * t + t, gc.reduce_sum(t), gc.reduce_sum(t, axis=-1) if t.ndim else -t, gc.abs(-t), t > 0],
             ints(shape, dtype), quick=dtype in (F32, I32), dynamic="quick" if dtype == F32 else True)
for shape in SMALL_SHAPES:
    case(f"small-bool-{shape}", lambda t: [gc.logical_not(t), t & ~t, gc.cast(t, gc.int32) + 1, gc.where(t, 1.0, 2.0)],
         ints(shape, BOOL), dynamic=True)

# reductions over each axis, with and without keepdims
REDUCE_AXES = [0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2), None, ()]
REDUCERS = (gc.reduce_sum, gc.reduce_prod, gc.reduce_max, gc.reduce_min, gc.reduce_mean)


def _reductions(axis):
    return lambda t: [r(t, axis=axis, keepdims=k) for r in REDUCERS for k in (False, True)]


for dtype in NUMERIC:
    for axis in REDUCE_AXES:
        case(f"reduce-{tag(dtype)}-axis={axis}", _reductions(axis), ints((3, 4, 5), dtype, -2, 2),
             quick=dtype == F32 or axis in (1, (0, 2), None), dynamic="quick" if dtype == F32 else True)
    case(f"reduce-long-rows-{tag(dtype)}", lambda t: [gc.reduce_sum(t, axis=1), gc.reduce_max(t, axis=0), gc.reduce_sum(t)],
         ints((3, 4099), dtype), dynamic="quick")

# matmul: broadcast batch axes, empty and size-1 axes, transposes, a fused epilogue
MATMULS = [((2, 1, 3, 4), (5, 4, 2), {}), ((1, 3, 4), (6, 1, 4, 2), {}), ((0, 2, 3), (3, 4), {}), ((3, 2, 0), (0, 5), {}),
           ((7, 1, 33, 17), (3, 17, 9), {}), ((1, 1), (1, 1), {}),
           ((4, 3, 2), (4, 5, 3), {"transpose_a": True, "transpose_b": True}), ((2, 65, 70), (70, 129), {})]


def _matmul_and_epilogue(flags):
    return lambda x, y: [gc.matmul(x, y, **flags), gc.nn.relu(gc.matmul(x, y, **flags) + 1)]


for dtype in NUMERIC:
    for i, (a, b, flags) in enumerate(MATMULS):
        case(f"matmul-{tag(dtype)}-{a}-{b}-{sorted(flags)}", _matmul_and_epilogue(flags), ints(a, dtype), ints(b, dtype),
             quick=dtype == F32 or i in (0, 1, 4), dynamic="quick" if dtype in (F32, I64) else True)

# basic indexing with negative steps and indices
INDEXES = [(slice(None, None, -1),), (slice(None, None, -2), slice(4, 0, -3)), (Ellipsis, slice(-1, -7, -2)),
           (slice(3, None, -1), 1, slice(None, None, -1)), (-1, slice(None, None, -1), None),
           (slice(1, -1), slice(None, None, 3)), (slice(-2, None, -1), -2)]


def _getitem(index):
    return lambda t: [t[index], t[index] * 2 if t.dtype != gc.bool else ~t[index]]


for dtype in (F32, I64, BOOL):
    for i, index in enumerate(INDEXES):
        case(f"getitem-{tag(dtype)}-{index}", _getitem(index), ints((4, 5, 6), dtype), quick=dtype == F32 or i < 2,
             dynamic="quick" if dtype == F32 else True)

# a slice replaced (``scatter_slice``, getitem's adjoint): by a number, a row, a slice of the tensor itself, with
# slice lengths unknown until the call when the sizes are (the update is broadcast like the slice then)
SCATTERS = [((slice(1, None),), lambda t: t[1:] * 3), ((slice(0, 1),), lambda t: 5),
            ((slice(None), 2), lambda t: t[0, 2]), ((slice(None, None, -2), slice(1, -1)), lambda t: t[0, 1:-1] + 1),
            ((Ellipsis, slice(-2, None)), lambda t: t[..., :1])]


def _scatter_slice(index, update):
    return lambda t: [irops.scatter_slice(t, update(t), index) * 2]


for dtype in (F32, I64):
    for index, update in SCATTERS:
        case(f"scatter_slice-{tag(dtype)}-{index}", _scatter_slice(index, update), ints((5, 4), dtype), dynamic="quick")



def _gather(axis):
    return lambda p, i: gc.gather(p, i, axis=axis)


# gather with negative indices, every axis, both index dtypes
for axis in (0, 1, -1):
    for idx_dtype in (I32, I64):
        n = (4, 5, 6)[axis]
        case(f"gather-axis={axis}-{tag(idx_dtype)}", _gather(axis),
             reals((4, 5, 6), F32), np.array([-1, -n, 0, n - 1, -2], idx_dtype), dynamic="quick")
for dtype in (F64, I32, BOOL):
    case(f"gather-2d-indices-{tag(dtype)}", _gather(1), ints((3, 4), dtype), np.array([[-1, 0], [2, -4]]),
         dynamic="quick")

# joins and splits
for dtype in ALL:
    x, y = ints((4, 5, 6), dtype), ints((4, 5, 6), dtype)
    quick, dynamic = dtype in (F32, I32, BOOL), "quick" if dtype == F32 else True
    case(f"concat-{tag(dtype)}", lambda a, b: [gc.concat([a, b, a], axis) for axis in (0, 1, 2, -1)], x, y, quick=quick,
         dynamic=dynamic)
    case(f"stack-{tag(dtype)}", lambda a, b: [gc.stack([a, b], axis=axis) for axis in (0, 1, 3, -1)], x, y, quick=quick,
         dynamic=dynamic)
    case(f"split-{tag(dtype)}", lambda a: [*gc.split(a, [1, 0, 3], axis=0), *gc.split(a, [2, 4], axis=-1)], x, quick=quick,
         dynamic=dynamic)
    case(f"split-even-unstack-{tag(dtype)}", lambda a: [*gc.split(a, 5, axis=1), *gc.unstack(a, axis=2)], x, quick=quick)
    case(f"concat-empty-{tag(dtype)}", lambda a, b: gc.concat([a, b], axis=1), ints((2, 0), dtype), ints((2, 3), dtype),
         quick=quick, dynamic=dynamic)

# NaN, inf, -0: every pair of special values through the ops whose NumPy semantics are subtle
SPECIAL = np.array([-np.inf, -7.5, -2.0, -1.0, -0.0, 0.0, 1.0, 2.0, 7.5, np.inf, np.nan])
PAIRWISE = [gc.floordiv, gc.mod, gc.maximum, gc.minimum, gc.divide, gc.pow]
for dtype in (F32, F64):
    lhs, rhs = np.repeat(SPECIAL, SPECIAL.size).astype(dtype), np.tile(SPECIAL, SPECIAL.size).astype(dtype)
    for op in PAIRWISE:  # pow is a transcendental: a few ulp apart, its special values exact
        case(f"{op.__name__}-special-{tag(dtype)}", op, lhs, rhs, exact=op is not gc.pow)
    case(f"relu-clip-special-{tag(dtype)}", lambda x: [gc.nn.relu(x), gc.clip_by_value(x, -1.0, 1.0), gc.sign(x), gc.abs(x)],
         SPECIAL.astype(dtype))
for dtype in (I32, I64):
    info = np.iinfo(dtype)
    values = np.array([info.min, info.min + 1, -7, -2, -1, 0, 1, 2, 7, info.max], dtype)
    for op in (gc.floordiv, gc.mod, gc.maximum, gc.minimum):
        case(f"{op.__name__}-edges-{tag(dtype)}", op, np.repeat(values, values.size), np.tile(values, values.size))

# float -> int casts out of range (and NaN, inf); float -> bool
OUT_OF_RANGE = np.array([np.nan, np.inf, -np.inf, 1e10, -1e10, 2.0**31, -(2.0**31), -(2.0**31) - 1, 2.0**63, -(2.0**63),
                         3e19, 2.5, -2.5, -0.0, 0.0])


def _cast_to(dtype):
    return lambda x: gc.cast(x, dtype.name)


for src in (F32, F64):
    for dst in (I32, I64, BOOL):
        case(f"cast-out-of-range-{tag(src)}-to-{tag(dst)}", _cast_to(dst), OUT_OF_RANGE.astype(src))

# argmax/argmin and max/min reductions with NaN: the first NaN wins
NAN_MATRIX = np.array([[1, np.nan, 3, 3], [np.nan, 2, np.nan, -np.inf], [5, 4, -np.inf, 5]])
for dtype in (F32, F64):
    case(f"arg-and-reduce-nan-{tag(dtype)}",
         lambda t: [f(t, axis=a) for f in (gc.argmax, gc.argmin, gc.reduce_max, gc.reduce_min) for a in (0, 1)],
         NAN_MATRIX.astype(dtype), dynamic="quick")

# transcendentals over their whole float range (accuracy itself: test_llvm_math.py)
MAGNITUDES = np.geomspace(1e-30, 1e30, 61)
WIDE = np.concatenate([[0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40], MAGNITUDES, -MAGNITUDES])
for dtype in (F32, F64):
    case(f"transcendentals-{tag(dtype)}",
         lambda x: [gc.exp(x), gc.log(x), gc.tanh(x), gc.sigmoid(x), gc.log1p(x), gc.expm1(x), gc.sqrt(x), irops.erf(x),
                    gc.sin(x), gc.cos(x), gc.nn.gelu(x), gc.pow(gc.abs(x), 0.75)],
         WIDE.astype(dtype), exact=False)

# shape and layout ops (tf-shape): the remap kernels (pad, tile, repeat, roll) and their adjoint, slicing, shapes
PAD_WIDTHS = [[1, 2], [0, 3], [2, 2]]


def _pads(t):
    return [gc.pad(t, PAD_WIDTHS, mode, constant_values=np.ones((), t.dtype.numpy)) for mode in ("CONSTANT", "REFLECT", "SYMMETRIC")]


def _layouts(t):
    return [gc.tile(t, [2, 1, 3]), gc.repeat(t, 2, axis=-1), gc.repeat(t, 3), gc.roll(t, [7, -3, 1], [0, 2, 2]),
            gc.reverse(t, [0, 2]), gc.slice(t, [1, 0, 2], [2, -1, 2]), gc.strided_slice(t, [2, 0], [0, 4], [-1, 3], end_mask=1)]


def _layout_gradients(t):
    def loss(y):
        padded = [gc.pad(y, PAD_WIDTHS, mode) for mode in ("CONSTANT", "REFLECT", "SYMMETRIC")]
        moved = [gc.tile(y, [1, 2, 2]), gc.repeat(y, 2, axis=1), gc.roll(y, [5, -1], [0, 1])]
        return sum(gc.reduce_sum(p * p) for p in padded + moved)

    return gc.grad(loss)(t)


for dtype in (F32, I64, BOOL):
    case(f"pad-modes-{tag(dtype)}", _pads, ints((3, 4, 5), dtype), quick=dtype != I64, dynamic="quick")
    case(f"layouts-{tag(dtype)}", _layouts, ints((3, 4, 5), dtype), quick=dtype != I64, dynamic="quick")
case("layouts-empty", lambda t: [gc.pad(t, [[1, 1], [2, 0]], constant_values=5), gc.tile(t, [2, 3]), gc.roll(t, 3, 1),
                                 gc.repeat(t, 2, axis=0)], ints((0, 3), F64), dynamic="quick")
case("layout-gradients-float64", _layout_gradients, ints((3, 4, 5), F64), dynamic="quick")
case("shape-size-rank", lambda t: [gc.shape(t), gc.shape(t, gc.int64), gc.size(t), gc.size(t, gc.int64), gc.rank(t)],
     ints((3, 1, 5), F32), dynamic="quick")
case("meshgrid", lambda a, b, c: gc.meshgrid(a, b, c) + gc.meshgrid(a, b, indexing="ij"), ints((3,), I32), ints((4,), I32),
     ints((2,), I32), dynamic="quick")
case("linspace", lambda a, b: [gc.linspace(a, b, 7, axis=-1), gc.linspace(a, b, 1)], reals((4,), F32), reals((4,), F32),
     exact=False, dynamic="quick")

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def _runs(cases, slow: bool) -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if slow else []) for c in cases]


STATIC_RUNS = _runs([c for c in CASES if c.quick], False) + _runs([c for c in CASES if not c.quick], True)
DYNAMIC_RUNS = (_runs([c for c in CASES if c.dynamic == "quick"], False)
                + _runs([c for c in CASES if c.dynamic == "slow"], True))


@pytest.mark.parametrize("c", STATIC_RUNS)
def test_awkward_cases_match_the_interpreter(c: Case):
    with np.errstate(all="ignore"):
        check(c.fn, c.inputs, exact=c.exact)


@pytest.mark.parametrize("c", DYNAMIC_RUNS)
def test_awkward_cases_with_unknown_sizes_match_the_interpreter(c: Case):
    with np.errstate(all="ignore"):
        check(c.fn, c.inputs, unknown_sizes(c.inputs), exact=c.exact)


@pytest.mark.parametrize("c", STATIC_RUNS)
def test_awkward_cases_without_fusion_match_the_interpreter(c: Case):
    with np.errstate(all="ignore"), gc.config.set_optimizer_options(fusion=False):
        check(c.fn, c.inputs, exact=c.exact)


U1, U2, U3 = ([None] * n for n in (1, 2, 3))
BROADCAST_THROUGH_UNKNOWN_ONES = [
    # name, function, signature dims, input shapes: a dimension unknown to the graph is 1 at run time
    ("add-lhs", lambda x, y: x + y, [U1, U1], [(1,), (3,)]),
    ("add-rhs", lambda x, y: x + y, [U1, U1], [(3,), (1,)]),
    ("add-outer", lambda x, y: x * y + 1.0, [U2, U2], [(4, 1), (1, 5)]),
    ("where", lambda x, y: gc.where(x > 0, x, y), [U2, U2], [(2, 3), (2, 1)]),
    ("matmul-batch", gc.matmul, [U3, U3], [(1, 2, 3), (4, 3, 2)]),
    ("broadcast_to", lambda x, y: gc.broadcast_to(x, [3, 4]) + y, [U1, U2], [(1,), (3, 4)]),
]


@pytest.mark.parametrize("name,fn,dims,shapes", BROADCAST_THROUGH_UNKNOWN_ONES,
                         ids=[b[0] for b in BROADCAST_THROUGH_UNKNOWN_ONES])
def test_broadcasting_through_unknown_sizes_of_one(name, fn, dims, shapes):
    signature = [gc.TensorSpec(d, "float32") for d in dims]
    check(fn, [nan_padded(ints(shape, F32)) for shape in shapes], signature, exact=True)


def nan_padded(array: np.ndarray) -> np.ndarray:
    """``array`` as the start of a longer buffer of NaN: reading past its end shows."""
    buffer = np.full(4 * array.size + 64, np.nan, array.dtype)
    buffer[: array.size] = array.ravel()
    return buffer[: array.size].reshape(array.shape)


def test_repeated_subexpression_with_unknown_sizes():
    m = gc.TensorSpec([None, None], "float32")
    x = ints((2, 3), F32)
    check(lambda p, q: [p * q, gc.reduce_sum(p * q, axis=0)], [x, x], [m, m], exact=True)


# -- 2. unknown sizes: one native compilation serves every size ---------------------------------------
def _row_stats(x, bias):
    centred = x - gc.reduce_mean(x, axis=1, keepdims=True)
    return [gc.nn.softmax(centred + bias, axis=-1), gc.reduce_sum(gc.abs(centred), axis=0), x[::-1, 1:]]


def test_unknown_sizes_compile_once_for_every_size(monkeypatch):
    builds = []
    real = llvm_compiler.compile_graph
    def counting(graph, *args, **kwargs):
        builds.append(graph.name)
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(llvm_compiler, "compile_graph", counting)
    signature = [gc.TensorSpec([None, None], "float64"), gc.TensorSpec([None], "float64")]
    native = gc.function(_row_stats, input_signature=signature)
    reference = gc.function(_row_stats, input_signature=signature, backend="numpy")
    for rows, cols in [(3, 5), (1, 1), (0, 4), (4, 1), (7, 1025), (70, 1100), (2, 3)]:
        x, bias = reals((rows, cols), F64), reals((cols,), F64)
        for got, want in zip(as_arrays(native(x, bias)), as_arrays(reference(x, bias))):
            assert_same(got, want)
    assert native.trace_count == 1
    assert builds == ["_row_stats"], "one native compilation for every size"


# -- 3. introspection ------------------------------------------------------------------------------------
def test_llvm_ir_assembly_and_compile_stages(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")  # compiled here, not loaded: every stage runs
    x = reals((4096,), F32)
    cf = gc.function(lambda a, b: a * b + 1.0).get_concrete_function(x, x)
    assert re.search(r'^define void @"?graphc_entry"?\(', cf.llvm_ir(), re.MULTILINE)
    vectors = re.findall(r"<(\d+) x float>", cf.llvm_ir(optimized=True))
    assert vectors and max(map(int, vectors)) >= 8, "the elementwise kernel is vectorised"
    registers = set(re.findall(r"%([xyz]mm)\d+", cf.asm()))
    features = target.host()[2]
    # 256-bit registers or wider with AVX: LLVM keeps to ymm on AVX-512 Intel cores tuned "prefer-256-bit"
    assert registers & ({"ymm", "zmm"} if "+avx" in features else {"xmm"})
    llvm_stats = {s.name: s.seconds for s in cf.pass_stats if s.stage == "llvm"}
    assert {"codegen", "llvm_compile", "load"} <= set(llvm_stats)
    assert all(seconds > 0 for seconds in llvm_stats.values())
    assert "llvm_compile" in cf.compiled().pass_table()


# -- 4. safety -------------------------------------------------------------------------------------------
def misaligned(array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` whose data starts one byte into a byte buffer (aligned to nothing)."""
    raw = np.zeros(array.nbytes + 1, np.uint8)
    view = raw[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    assert not view.flags.aligned
    return view


def read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


BASE = np.arange(6 * 10, dtype=F32).reshape(6, 10) - 17  # integers: sums exact in any order
LAYOUTS = [
    # name, a (6, 10) float32 array laid out awkwardly
    ("transposed", lambda b: np.ascontiguousarray(b.T).T),
    ("step-slice", lambda b: np.repeat(np.repeat(b, 2, 0), 3, 1)[::2, ::3]),
    ("negative-steps", lambda b: b[::-1, ::-1].copy()[::-1, ::-1]),
    ("fortran-order", np.asfortranarray),
    ("broadcast-view", lambda b: np.broadcast_to(b[:1], b.shape)),
    ("misaligned", misaligned),
    ("read-only", read_only),
    ("big-endian", lambda b: b.astype(">f4")),
]


def _layout_fn(x, y):
    return [x * 2.0 + y, gc.reduce_sum(x, axis=0), gc.transpose(x)[::2], x]


LAYOUT_FUNCTIONS = {
    "static": (gc.function(_layout_fn), gc.function(_layout_fn, backend="numpy")),
    "unknown-sizes": (gc.function(_layout_fn, input_signature=unknown_sizes([BASE, BASE])),
                      gc.function(_layout_fn, input_signature=unknown_sizes([BASE, BASE]), backend="numpy")),
}


@pytest.mark.parametrize("sizes", LAYOUT_FUNCTIONS)
@pytest.mark.parametrize("name,make", LAYOUTS, ids=[name for name, _ in LAYOUTS])
def test_awkward_input_layouts_are_read_correctly(name, make, sizes):
    native, reference = LAYOUT_FUNCTIONS[sizes]
    x, y = make(BASE), make(BASE + 1)
    got, want = as_arrays(native(x, y)), as_arrays(reference(np.array(x, F32), np.array(y, F32)))
    for g, w in zip(got, want):
        assert_same(g, w, exact=True)
    assert np.shares_memory(got[-1], x) is False, "a returned input is a copy"


@pytest.mark.parametrize("dtype", [F64, I32, I64], ids=tag)
def test_misaligned_inputs_of_every_dtype(dtype):
    x = ints((5, 7), dtype)
    check(lambda t: [t[::-1], gc.reduce_max(gc.cast(t, gc.int64), axis=1)], [misaligned(x)], exact=True)
    check(lambda t: [t[::-1], gc.reduce_max(gc.cast(t, gc.int64), axis=1)], [misaligned(x)], unknown_sizes([x]), exact=True)


WRONG_INPUTS = [
    # name, an argument for a function compiled for float32[2, 3], the error class
    ("shape", np.ones((2, 4), F32), gc.errors.InvalidArgumentError),
    ("rank", np.ones((6,), F32), gc.errors.InvalidArgumentError),
    ("dtype", np.ones((2, 3), F64), gc.errors.DTypeError),
    ("integer-dtype", np.ones((2, 3), I32), gc.errors.DTypeError),
]


@pytest.mark.parametrize("sizes", [[2, 3], [None, 3]], ids=["static", "unknown-rows"])
@pytest.mark.parametrize("name,arg,error", WRONG_INPUTS, ids=[w[0] for w in WRONG_INPUTS])
def test_wrong_inputs_are_rejected_before_native_code(name, arg, error, sizes, monkeypatch):
    f = gc.function(lambda x: x * 2.0, input_signature=[gc.TensorSpec(sizes, "float32")])
    f(np.ones((2, 3), F32))
    calls = []
    monkeypatch.setattr(Executable, "run", lambda self, arrays: calls.append(arrays))
    with pytest.raises(error, match="expected"):
        f(arg)
    assert calls == []


@pytest.mark.parametrize("sizes", [[2, 3], [None, 3]], ids=["static", "unknown-rows"])
@pytest.mark.parametrize("name,arg,error", WRONG_INPUTS, ids=[w[0] for w in WRONG_INPUTS])
def test_executables_reject_arrays_of_another_type(name, arg, error, sizes):
    """The executable checks too: its callers inside graphc (check mode) pass arrays directly."""
    f = gc.function(lambda x: x * 2.0, input_signature=[gc.TensorSpec(sizes, "float32")])
    executable = f.get_concrete_function().compiled().executable
    with pytest.raises(gc.errors.InvalidArgumentError, match="expected"):
        executable.run([arg])


def _gather_rows(v, table, idx):
    v.assign_add(gc.ones_like(v))
    return gc.gather(table, idx, axis=0) * 2.0  # the line the error names


GATHER_LINE = _gather_rows.__code__.co_firstlineno + 2


@pytest.mark.parametrize("bad_index", [4, -5, 2**40], ids=str)
@pytest.mark.parametrize("sizes", ["static", "unknown"])
def test_gather_out_of_range_raises_and_leaves_variables_alone(bad_index, sizes):
    v = gc.Variable(np.zeros(3, F32), name="counter")
    table, good = reals((4, 2), F32), np.array([0, -4, 3], I64)
    signature = None if sizes == "static" else unknown_sizes([table, good])
    f = gc.function(lambda t, i: _gather_rows(v, t, i), input_signature=signature)
    np.testing.assert_array_equal(f(table, good).numpy(), table[good] * 2)
    np.testing.assert_array_equal(v.numpy(), np.ones(3, F32))
    with pytest.raises(gc.errors.InvalidArgumentError) as info:
        f(table, np.array([1, bad_index, 0], I64))
    assert info.value.op == "gather" and f"{__file__}:{GATHER_LINE}" in str(info.value)
    np.testing.assert_array_equal(v.numpy(), np.ones(3, F32))


def test_integer_index_out_of_range_at_run_time_raises():
    f = gc.function(lambda x: x[:, 5] * 2.0, input_signature=[gc.TensorSpec([None, None], "float32")])
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of bounds"):
        f(np.ones((2, 3), F32))


# -- 5. run-time size mismatches with unknown dimensions --------------------------------------------
V, M = gc.TensorSpec([None], "float32"), gc.TensorSpec([None, None], "float32")
MISMATCHES = [
    # name, function (one line: its line is the one reported), signature, arrays, the op named
    ("add", lambda a, b: a * 2.0 + b, [V, V], [(3,), (4,)], "add"),
    ("where", lambda a, b: gc.where(a > 0, a, b), [V, V], [(3,), (4,)], "where"),
    ("matmul", lambda a, b: gc.nn.relu(gc.matmul(a, b)), [M, M], [(2, 3), (4, 5)], "matmul"),
    ("concat", lambda a, b: gc.concat([a, b], axis=0), [M, M], [(2, 3), (2, 4)], "concat"),
    ("reshape", lambda a, b: gc.reshape(a, [2, -1]) + 1.0, [V, V], [(5,), (5,)], "reshape"),
    ("broadcast_to", lambda a, b: gc.broadcast_to(a, [3, 4]), [V, V], [(5,), (5,)], "broadcast_to"),
    ("scatter_slice", lambda a, b: irops.scatter_slice(a, b, (slice(1, None),)), [V, V], [(3,), (5,)], "broadcast_like"),
    ("after-reduction", lambda a, b: gc.reduce_sum(a, axis=0) - b, [M, V], [(2, 3), (4,)], "subtract"),
    # shape and layout ops (tf-shape)
    ("pad-reflect", lambda a, b: gc.pad(a, [[0, 2]], "REFLECT") * b, [V, V], [(2,), (4,)], "pad"),
    ("pad-symmetric", lambda a, b: gc.pad(a, [[0, 1], [3, 0]], "SYMMETRIC"), [M, V], [(2, 2), (4,)], "pad"),
]


@pytest.mark.parametrize("name,fn,signature,shapes,op", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_size_mismatch_at_run_time_names_the_op_and_line(name, fn, signature, shapes, op):
    f = gc.function(fn, input_signature=signature)
    with pytest.raises(gc.errors.ShapeError) as info:
        f(*(np.ones(s, F32) for s in shapes))
    assert info.value.op == op
    assert f"{__file__}:{fn.__code__.co_firstlineno}" in str(info.value)
