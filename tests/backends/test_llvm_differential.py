"""Differential fuzzing: what the LLVM backend computes, the NumPy interpreter computes too (the same
values, or the same error naming the same op).

1. random graphs: chains of ops (every op kind, broadcasting, every dtype, awkward sizes, integer powers
   whose refusal must match, two views of one value meeting in one kernel);
2. edge values: each op family (elementwise, integer powers, reductions and the softmax family) on
   INT_MIN/INT_MAX, division and modulo by 0 and -1, NaN, -0.0, inf and float extremes, with every
   size known only at run time, and sizes of 1 that broadcast only at run time (those calls run on
   the interpreter: the fallback must be right too). Graphs are compiled once per structure and reused
   across examples, which keeps an example cheap.

CI runs 1,000 examples: ``GRAPHC_FUZZ_EXAMPLES`` (500 by default) scales the counts, 4/5 of it random
graphs (each compiled anew: the costly examples) and 6/5 of it edge cases; ``make fuzz`` runs many more.
"""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backends.llvm.compiler import compile_graph
from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.ops import run_op
from graphc.ir import dispatch, environment
from graphc.ir import ops as irops
from graphc.ir.graph import Graph
from graphc.ir.passes import compile_stages
from graphc.ir.registry import get_op
from graphc.ir.types import TensorType, as_dtype

EXAMPLES = environment.value("GRAPHC_FUZZ_EXAMPLES")
RANDOM_GRAPH_EXAMPLES, EDGE_EXAMPLES = EXAMPLES * 4 // 5, EXAMPLES * 6 // 5
SIZES = (0, 1, 2, 7, 1023, 1025)
SMALL_DTYPES = ("float16", "int8", "int16", "uint8", "uint16")  # met only by their own dtype
DTYPES = ("float32", "float64", "int32", "int64", "bool") + SMALL_DTYPES


def _unary_ops_taking(*dtypes: str) -> tuple[str, ...]:
    """The unary ops of the elementwise tables that take exactly these of float32 and int32 (a new
    op of the table is fuzzed with no edit here)."""

    def takes(opdef, dtype):
        try:
            opdef.infer([TensorType((), as_dtype(dtype))])
        except (TypeError, ValueError):  # a dtype it refuses, or a binary op
            return False
        return True

    return tuple(name for name, fn in irops.TABLED_OPS.items()
                 if {d for d in ("float32", "int32") if takes(get_op(fn.__name__), d)} == set(dtypes))


UNARY_FLOAT = _unary_ops_taking("float32")
UNARY_NUMERIC = _unary_ops_taking("float32", "int32")
BINARY_NUMERIC = ("add", "subtract", "multiply", "maximum", "minimum", "floordiv", "mod", "power")
COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
REDUCE = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")


def _edge_values(dtype: str) -> tuple:
    if np.dtype(dtype).kind == "u":
        info = np.iinfo(dtype)
        return (0, 1, 2, info.max // 2, info.max // 2 + 1, info.max - 1, info.max)
    if np.dtype(dtype).kind == "i":
        info = np.iinfo(dtype)
        return (info.min, info.min + 1, -2, -1, 0, 1, 2, info.max - 1, info.max)
    info = np.finfo(dtype)
    return (np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0, -1.0, 0.5, -2.5, info.tiny, info.smallest_subnormal, info.max, -info.max)


EDGE_VALUES = {dtype: _edge_values(dtype) for dtype in DTYPES if dtype != "bool"}


@st.composite
def shapes(draw, max_size=4096):
    rank = draw(st.integers(0, 3))
    while True:
        shape = tuple(draw(st.sampled_from(SIZES)) for _ in range(rank))
        if int(np.prod(shape, dtype=np.int64)) <= max_size:
            return shape


def _broadcastable(draw, shape):
    """A shape that broadcasts to ``shape``: some leading axes dropped, some axes set to 1."""
    drop = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) and d != 0 else d for d in shape[drop:])


@st.composite
def programs(draw):
    shape = draw(shapes())
    n_inputs = draw(st.integers(1, 3))
    inputs = [(draw(st.sampled_from(DTYPES)), _broadcastable(draw, shape) if i else shape) for i in range(n_inputs)]
    steps = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=8))
    return inputs, steps


def _apply_step(values, step):
    """Applies one randomly chosen op to randomly chosen values (dtypes adapted with casts)."""
    choice, a_index, b_index = step
    x = values[a_index % len(values)]
    y = values[b_index % len(values)]
    if x.dtype != y.dtype and {x.dtype.name, y.dtype.name} & set(SMALL_DTYPES):
        y = gc.cast(y, x.dtype)  # no implicit promotion to or from the small dtypes
    kind = choice % 10
    r = choice // 10
    if kind == 0:
        name = UNARY_FLOAT[r % len(UNARY_FLOAT)]
        return getattr(irops, name)(x if x.dtype.is_floating else gc.cast(x, gc.float32))
    if kind == 1:
        xv = x if not x.dtype.is_bool else gc.cast(x, gc.int32)
        return getattr(irops, UNARY_NUMERIC[r % len(UNARY_NUMERIC)])(xv)
    if kind == 2:
        try:
            xv, yv = (v if not v.dtype.is_bool else gc.cast(v, gc.int32) for v in (x, y))
            return getattr(irops, BINARY_NUMERIC[r % len(BINARY_NUMERIC)])(xv, yv)
        except gc.errors.ShapeError:
            return None
    if kind == 3:
        try:
            return getattr(irops, COMPARE[r % len(COMPARE)])(x, y)
        except gc.errors.GraphcError:
            return None
    if kind == 4:
        try:
            return gc.where(gc.cast(x, gc.bool), y, gc.cast(x, y.dtype))
        except gc.errors.GraphcError:
            return None
    if kind == 5:
        return gc.cast(x, as_dtype(DTYPES[r % len(DTYPES)]))
    if kind == 6 and x.ndim:
        xv = x if not x.dtype.is_bool else gc.cast(x, gc.int32)
        axis = r % x.ndim
        if x.type.shape[axis] == 0 and REDUCE[r % 4] in ("reduce_max", "reduce_min"):
            return None
        return getattr(irops, REDUCE[r % 4])(xv, axis=axis, keepdims=bool(r & 8))
    if kind == 7 and x.ndim:
        return gc.transpose(x) if r % 2 else x[..., ::-1]
    if kind == 8 and x.ndim >= 1 and x.dtype.is_floating:
        k = x.type.shape[-1]
        # weights below 1/k keep the products O(1): summation order (BLAS vs NumPy) changes a few
        # ulp, which a later exp would amplify by the product's size
        w = gc.cast(gc.reshape(gc.range(0, k * 3, 1), [k, 3]), x.dtype) * (1.0 / max(1, 3 * k * k))
        return gc.matmul(x if x.ndim >= 2 else gc.expand_dims(x, 0), w)
    if kind == 9 and 1 <= x.ndim <= 2 and x.type.shape[0] <= 64 and int(np.prod(x.type.shape)) <= 512:
        # two views of one value in one kernel (x[:, None] against x[None, :]): each with its own strides
        xv = x if not x.dtype.is_bool else gc.cast(x, gc.int32)
        ops = BINARY_NUMERIC + COMPARE
        return getattr(irops, ops[r % len(ops)])(gc.expand_dims(xv, 1), gc.expand_dims(xv, 0))
    return None


def _inputs(inputs, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for dtype, shape in inputs:
        if dtype == "bool":
            arrays.append(rng.random(shape) < 0.5)
        elif np.dtype(dtype).kind in "iu":
            a = rng.integers(-5, 6, shape).astype(dtype)  # unsigned: negative values wrap around
            if a.size and rng.random() < 0.2:
                a.reshape(-1)[rng.integers(0, a.size, 2)] = rng.choice(EDGE_VALUES[dtype], 2)
            arrays.append(a)
        else:
            a = rng.uniform(-3, 3, shape).astype(dtype)
            if a.size and rng.random() < 0.3:
                flat = a.reshape(-1)
                flat[rng.integers(0, a.size, 3)] = rng.choice([np.inf, -np.inf, np.nan, 0.0, -0.0], 3)
            arrays.append(a)
    return arrays


def _build(inputs, steps) -> Graph:
    graph = Graph("fuzz")
    from graphc.tracing import TraceHandler
    from graphc.tensor import Tensor

    handler = TraceHandler(graph)
    values = [Tensor(value=graph.add_input(TensorType(shape, as_dtype(dtype)), f"x{i}"), graph=graph)
              for i, (dtype, shape) in enumerate(inputs)]
    with dispatch.handler(handler):
        for step in steps:
            result = _apply_step(values, step)
            if result is not None:
                values.append(result)
    graph.outputs = [v._value for v in values[len(inputs):]] or [values[0]._value]
    return graph


def _outcome(run, arrays):
    """``run(arrays)``'s results, or its InvalidArgumentError as (class, op, message)."""
    try:
        return run(arrays)
    except gc.errors.InvalidArgumentError as error:
        return type(error), error.op, error.message


def assert_same_outcome(native, reference, least_precise: np.dtype | None = None, sensitive=None):
    """The same results (see ``assert_close``), or the same error. Float results of a graph that
    computes in float32 or float16 anywhere (``least_precise``, its least precise float dtype) carry
    that dtype's error, whatever their own. ``sensitive`` (one mask per result, see
    ``ill_conditioned``) leaves out elements that amplify rounding."""
    if isinstance(reference, tuple):
        assert native == reference
        return
    assert not isinstance(native, tuple), f"native code raised {native}, the interpreter did not"
    for i, (n, r) in enumerate(zip(native, reference)):
        keep = None if sensitive is None else ~sensitive[i]
        assert_close(n, r, _compared_as(r.dtype, least_precise), keep)


def _compared_as(dtype: np.dtype, least_precise: np.dtype | None) -> np.dtype:
    """The dtype whose error a result of ``dtype`` may carry: a float result, the least precise float
    dtype the graph computes in."""
    if dtype.kind != "f" or least_precise is None:
        return dtype
    return min(dtype, least_precise, key=lambda d: d.itemsize)


def _tolerance(dtype) -> float:
    # float16: float32 results a float32 ulp apart may round to float16 values one ulp apart
    return {2: 2e-3, 4: 4e-6}.get(dtype.itemsize, 1e-13)


def assert_close(native, reference, dtype, keep=None):
    """Equal shapes and dtypes, and equal values (floats within a few ulp) where ``keep`` is True."""
    assert native.shape == reference.shape and native.dtype == reference.dtype
    if keep is not None:
        native, reference = native[keep], reference[keep]
    if dtype.kind == "f":
        tol = _tolerance(dtype)
        np.testing.assert_allclose(native, reference, rtol=tol, atol=tol * 10, equal_nan=True)
    else:
        np.testing.assert_array_equal(native, reference)


def ill_conditioned(run, arrays, reference, least_precise: np.dtype | None):
    """Per result, the elements that the interpreter itself moves beyond the comparison's tolerance
    when every float input is nudged by a few ulp (a relative 2**-8 in float16, 2**-20 in float32,
    2**-46 in float64):
    there a rounding difference inside a chain is amplified (log1p of an atan near -1 turns 1 ulp
    into 2e-5), so the two backends may differ without either being wrong. None when the nudged run
    fails differently (nothing is left out then)."""
    nudge = {np.dtype(np.float16): 2.0**-8, np.dtype(np.float32): 2.0**-20, np.dtype(np.float64): 2.0**-46}
    nudged = _outcome(run, [a * a.dtype.type(1 + nudge[a.dtype]) if a.dtype.kind == "f" else a for a in arrays])
    if isinstance(nudged, tuple) or isinstance(reference, tuple):
        return None
    masks = []
    for r, p in zip(reference, nudged):
        if r.dtype.kind == "f":
            tol = _tolerance(_compared_as(r.dtype, least_precise))
            with np.errstate(invalid="ignore", over="ignore"):
                masks.append(~np.isclose(r, p, rtol=tol, atol=tol * 10, equal_nan=True))
        else:
            masks.append(r != p)
    return masks


@settings(max_examples=RANDOM_GRAPH_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(programs(), st.integers(0, 2**16))
def test_llvm_matches_the_interpreter_on_random_graphs(program, seed):
    inputs, steps = program
    graph = _build(inputs, steps)
    stages, _ = compile_stages(graph, run_op)
    arrays = _inputs(inputs, seed)
    interpreter = Interpreter(stages["traced"]).run
    reference = _outcome(interpreter, arrays)
    floats = [v.dtype.numpy for v in graph.values() if v.dtype.is_floating]
    least_precise = min(floats, key=lambda d: d.itemsize) if floats else None
    sensitive = ill_conditioned(interpreter, arrays, reference, least_precise)
    assert_same_outcome(_outcome(compile_graph(stages["fused"]).run, arrays), reference, least_precise, sensitive)


# -- 2. edge values, sizes known only at run time ---------------------------------------------------------
NUMERIC = ("float32", "float64", "int32", "int64") + SMALL_DTYPES
EDGE_BINARY = ("add", "subtract", "multiply", "divide", "floordiv", "mod", "maximum", "minimum") + COMPARE
EDGE_REDUCE = REDUCE + ("reduce_mean", "argmax", "argmin")
SOFTMAX_FAMILY = ("softmax", "log_softmax", "reduce_logsumexp")
RUN_TIME_SIZES = (0, 1, 2, 3, 7)


def _edge_results(family: str, dtype: str, x, y, axis, keepdims) -> list:
    """The ops of one family applied to ``x`` (and ``y``): compiled together, one graph per structure."""
    floating = dtype.startswith("float")
    if family == "pow":
        return [x ** y]
    if family == "binary":
        return [getattr(irops, op)(x, y) for op in EDGE_BINARY]
    if family == "unary":
        unary = UNARY_NUMERIC + (UNARY_FLOAT if floating else ())
        return [getattr(irops, op)(x) for op in unary] + [gc.cast(x, as_dtype(d)) for d in DTYPES]
    # the mean of integers is a float sum of them: INT_MAX + INT_MIN + ... cancels differently in each
    # summation order (float sums have accuracy tests of their own)
    reductions = [getattr(irops, op)(x, axis, keepdims) for op in REDUCE + (("reduce_mean",) if floating else ())]
    if x.ndim:
        reductions += [irops.argmax(x, axis), irops.argmin(x, axis)]
        reductions += [getattr(irops, op)(x, axis) for op in SOFTMAX_FAMILY if floating]
    return reductions


@functools.lru_cache(maxsize=None)
def _edge_program(family: str, dtype: str, x_rank: int, y_rank: int, axis, keepdims):
    """(the interpreter of the traced graph, the compiled fused graph) with every size symbolic; ``y``'s
    sizes are symbols of their own, so they may broadcast against ``x``'s at run time."""
    from graphc.tensor import Tensor
    from graphc.tracing import TraceHandler

    graph = Graph(f"edge_{family}")
    types = [TensorType(tuple(f"x{i}" for i in range(x_rank)), as_dtype(dtype))]
    if family in ("binary", "pow"):
        types.append(TensorType(tuple(f"y{i}" for i in range(y_rank)), as_dtype(dtype)))
    tensors = [Tensor(value=graph.add_input(t, f"v{i}"), graph=graph) for i, t in enumerate(types)]
    with dispatch.handler(TraceHandler(graph)):
        results = _edge_results(family, dtype, *tensors, *([None] * (2 - len(tensors))), axis, keepdims)
    graph.outputs = [r._value for r in results]
    stages, _ = compile_stages(graph, run_op)
    return Interpreter(stages["traced"]), compile_graph(stages["fused"])


@st.composite
def edge_cases(draw):
    """(family, dtype, x's shape, y's shape, axis, keepdims): y's sizes equal x's or are 1 (either side
    broadcasts, only at run time); a reduced axis is never empty (tests/backends/test_empty_reductions.py)."""
    family = draw(st.sampled_from(("binary", "pow", "unary", "reduce")))
    dtype = draw(st.sampled_from(("int32", "int64", "int8", "uint16") if family == "pow" else NUMERIC))
    x_shape = tuple(draw(st.lists(st.sampled_from(RUN_TIME_SIZES), max_size=2)))
    axis, keepdims, y_shape = None, False, ()
    if family == "reduce" and x_shape:
        axis = draw(st.integers(0, len(x_shape) - 1))
        keepdims = draw(st.booleans())
        x_shape = x_shape[:axis] + (max(1, x_shape[axis]),) + x_shape[axis + 1:]
    if family in ("binary", "pow"):
        aligned = x_shape[len(x_shape) - draw(st.integers(0, len(x_shape))):]
        y_shape = tuple(draw(st.sampled_from((d, 1) if d != 1 else (1, 3))) for d in aligned)
        if draw(st.booleans()):  # x broadcasts against y instead
            x_shape, y_shape = y_shape, x_shape
    return family, dtype, x_shape, y_shape, axis, keepdims


def _edge_inputs(family: str, dtype: str, shapes, seed: int) -> list[np.ndarray]:
    """Arrays of ``shapes`` whose elements are mostly edge values, the rest small numbers.

    Float reductions get no finite extremes: whether max + max - inf overflows to inf before it meets
    -inf (or tiny * tiny underflows to 0 before it meets inf) depends on the summation order, which
    vectorised code and NumPy's pairwise sums choose differently (accuracy has tests of its own)."""
    rng = np.random.default_rng(seed)
    edges = np.array(EDGE_VALUES[dtype], dtype)
    if family == "reduce" and dtype.startswith("float"):
        info = np.finfo(dtype)
        edges = edges[~np.isin(np.abs(edges), [info.max, info.tiny, info.smallest_subnormal])]
    arrays = []
    for shape in shapes:
        ordinary = rng.integers(-4, 5, shape).astype(dtype)
        arrays.append(np.where(rng.random(shape) < 0.6, edges[rng.integers(0, len(edges), shape)], ordinary))
    return arrays


@settings(max_examples=EDGE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(edge_cases(), st.integers(0, 2**16))
def test_llvm_matches_the_interpreter_on_edge_values_with_run_time_sizes(case, seed):
    family, dtype, x_shape, y_shape, axis, keepdims = case
    shapes = [x_shape, y_shape] if family in ("binary", "pow") else [x_shape]
    interpreter, native = _edge_program(family, dtype, len(x_shape), len(y_shape), axis, keepdims)
    arrays = _edge_inputs(family, dtype, shapes, seed)
    assert_same_outcome(_outcome(native.run, arrays), _outcome(interpreter.run, arrays))


# -- huge sums -----------------------------------------------------------------------------------------
HUGE_SUM_TOL = {np.float32: 1e-6, np.float64: 1e-13}


@st.composite
def huge_sums(draw):
    """(dtype, shape, axis, data recipe): up to 2**22 elements, rows long and short, any axis."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    length = draw(st.sampled_from([513, 4099, 65_537, 1 << 20, 1 << 22]))
    rows = draw(st.sampled_from([1, 3, 16]))
    shape = (length,) if rows == 1 else draw(st.sampled_from([(rows, length // rows), (length // rows, rows)]))
    axis = draw(st.sampled_from([None, *range(len(shape))]))
    recipe = draw(st.tuples(st.sampled_from(["constant", "uniform", "signed"]), st.integers(-20, 20),
                            st.sampled_from([0.0, 1.0, 1e4]), st.integers(0, 2**16)))
    return dtype, shape, axis, recipe


@settings(max_examples=max(10, EXAMPLES // 50), deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(huge_sums(), st.sampled_from(["reduce_sum", "reduce_mean"]))
def test_huge_sums_match_a_float64_reference(case, op):
    """Sums and means of up to 2**22 elements are within 1e-6 (float32) or 1e-13 (float64) of the exact
    result, relative to the sum of the magnitudes (the relative error, for data of one sign)."""
    dtype, shape, axis, (kind, exponent, offset, seed) = case
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    values = {"constant": np.full(n, 0.1), "uniform": rng.random(n), "signed": rng.uniform(-1, 1, n)}[kind]
    x = ((values + offset) * 2.0**exponent).astype(dtype).reshape(shape)
    got = gc.function(lambda v: getattr(gc, op)(v, axis))(x).numpy()
    count = n if axis is None else shape[axis]
    scale = 1 / count if op == "reduce_mean" else 1
    wide = np.longdouble if dtype == np.float64 else np.float64
    rows = x.reshape(-1) if axis is None else np.moveaxis(x, axis, -1)
    exact = np.ascontiguousarray(rows, dtype=wide).sum(axis=-1) * scale  # contiguous: summed pairwise
    bound = HUGE_SUM_TOL[dtype] * np.abs(rows).astype(wide).sum(axis=-1) * scale
    assert np.all(np.abs(got.astype(wide) - exact) <= bound)


def test_the_oracle_leaves_out_only_elements_that_amplify_rounding():
    graph = Graph("oracle")
    x = graph.add_input(TensorType((3,), as_dtype("float32")), "x")
    from graphc.tensor import Tensor
    from graphc.tracing import TraceHandler

    with dispatch.handler(TraceHandler(graph)):
        out = irops.log1p(irops.atan(Tensor(value=x, graph=graph)))
    graph.outputs = [out._value]
    run = Interpreter(graph).run
    arrays = [np.array([np.tan(np.float32(-0.99995)), 0.3, 2.0], np.float32)]  # atan near -1: log1p amplifies
    reference = run(arrays)
    sensitive = ill_conditioned(run, arrays, reference, np.dtype(np.float32))
    assert sensitive[0].tolist() == [True, False, False]
    wrong = [reference[0].copy()]
    wrong[0][1] += 1e-3
    with pytest.raises(AssertionError):
        assert_same_outcome(wrong, reference, np.dtype(np.float32), sensitive)
    wrong = [reference[0].copy()]
    wrong[0][0] += 1e-3  # only where rounding is amplified: left out
    assert_same_outcome(wrong, reference, np.dtype(np.float32), sensitive)
