"""Differential fuzzing: random graphs (every op, broadcasting, every dtype, awkward sizes) compiled by
the LLVM backend give the NumPy interpreter's results.

CI runs ``GRAPHC_FUZZ_EXAMPLES`` examples (500 by default); ``make fuzz`` runs many more.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backends.llvm.compiler import compile_graph
from graphc.backends.numpy import Interpreter
from graphc.backends.numpy.kernels import run_kernel
from graphc.ir import dispatch, environment
from graphc.ir import ops as irops
from graphc.ir.graph import Graph
from graphc.ir.passes import compile_stages
from graphc.ir.types import TensorType, as_dtype

EXAMPLES = environment.value("GRAPHC_FUZZ_EXAMPLES")
SIZES = (0, 1, 2, 7, 1023, 1025)
DTYPES = ("float32", "float64", "int32", "int64", "bool")
UNARY_FLOAT = ("exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "erf")
UNARY_NUMERIC = ("negative", "abs", "sign", "square", "relu")
BINARY_NUMERIC = ("add", "subtract", "multiply", "maximum", "minimum", "floordiv", "mod")
COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
REDUCE = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")


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
    kind = choice % 9
    r = choice // 9
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
        w = gc.cast(gc.reshape(gc.range(0, k * 3, 1), [k, 3]), x.dtype) * 0.01
        return gc.matmul(x if x.ndim >= 2 else gc.expand_dims(x, 0), w)
    return None


def _inputs(inputs, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for dtype, shape in inputs:
        if dtype == "bool":
            arrays.append(rng.random(shape) < 0.5)
        elif dtype.startswith("int"):
            arrays.append(rng.integers(-5, 6, shape).astype(dtype))
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


def assert_close(native, reference, dtype):
    assert native.shape == reference.shape and native.dtype == reference.dtype
    if dtype.kind == "f":
        tol = 4e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(native, reference, rtol=tol, atol=tol * 10, equal_nan=True)
    else:
        np.testing.assert_array_equal(native, reference)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(programs(), st.integers(0, 2**16))
def test_llvm_matches_the_interpreter_on_random_graphs(program, seed):
    inputs, steps = program
    graph = _build(inputs, steps)
    stages, _ = compile_stages(graph, run_kernel)
    arrays = _inputs(inputs, seed)
    try:
        reference = Interpreter(stages["traced"]).run(arrays)
    except gc.errors.InvalidArgumentError:
        return  # e.g. an integer to a negative power: the interpreter refuses; covered elsewhere
    native = compile_graph(stages["fused"]).run(arrays)
    for n, r in zip(native, reference):
        assert_close(n, r, r.dtype)


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
