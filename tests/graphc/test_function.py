"""@gc.function: decorator forms, argument kinds, the trace cache, retracing, concrete functions."""
import gc as garbage_collector
import inspect
import logging
import warnings

import numpy as np
import pytest

import graphc as gc

F32 = np.float32


def _line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (to check reported source lines)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


# -- decorator forms and argument kinds -------------------------------------------------------------
def _affine(x, w, b):
    return gc.matmul(x, w) + b


DECORATED = [
    ("plain", gc.function(_affine)),
    ("parens", gc.function()(_affine)),
    ("numpy backend", gc.function(backend="numpy")(_affine)),
    ("signature", gc.function(input_signature=[
        gc.TensorSpec([None, 3]), gc.TensorSpec([3, 2]), gc.TensorSpec([2])], backend="numpy")(_affine)),
]


@pytest.mark.parametrize("name, fn", DECORATED, ids=[d[0] for d in DECORATED])
def test_every_decorator_form_computes_the_function(name, fn):
    x = np.arange(6, dtype=F32).reshape(2, 3)
    w = np.ones((3, 2), F32)
    b = np.array([1, -1], F32)
    for args in [(x, w, b), (gc.constant(x), gc.constant(w), gc.constant(b))]:
        result = fn(*args)
        assert isinstance(result, gc.Tensor) and not result.is_symbolic
        np.testing.assert_allclose(result.numpy(), x @ w + b)
    assert fn.trace_count == 1
    assert fn.__name__ == "_affine" and fn.python_function is _affine


def test_nested_arguments_and_results():
    @gc.function
    def f(pair, table, scale=2.0):
        a, b = pair
        return {"sum": a + b, "scaled": [table["x"] * scale, (table["y"], "python value")]}

    a, b = np.ones(3, F32), np.arange(3, dtype=F32)
    table = {"x": gc.constant([1.0, 2.0]), "y": np.float32(5)}
    result = f((a, b), table)
    assert set(result) == {"sum", "scaled"}
    np.testing.assert_array_equal(result["sum"].numpy(), a + b)
    np.testing.assert_array_equal(result["scaled"][0].numpy(), [2.0, 4.0])
    assert isinstance(result["scaled"][1], tuple)
    assert result["scaled"][1][0].numpy() == 5 and result["scaled"][1][1] == "python value"
    graph = f.get_concrete_function((a, b), table).graph
    assert [v.name for v in graph.inputs] == ["pair[0]", "pair[1]", "table['x']", "table['y']"]


def test_python_scalars_are_values_and_arrays_are_tensors():
    @gc.function
    def f(x, n):
        return x * n

    np.testing.assert_array_equal(f(np.ones(2, F32), 3).numpy(), [3, 3])
    assert f(np.ones(2, F32), 3).dtype == gc.float32  # a Python scalar is weakly typed
    assert f(gc.constant(2.0), 3).numpy() == 6.0 and f(np.float64(2.0), 3).dtype == gc.float64
    assert f(2.0, 3) == 6.0  # only Python values: the traced result is a Python value
    graph = f.get_concrete_function(np.ones(2, F32), 3).graph
    assert len(graph.inputs) == 1  # n is baked into the graph


# -- the trace cache -------------------------------------------------------------------------------
def _vec(n, dtype=F32):
    return np.ones(n, dtype)


CACHE_CASES = [
    # (name, calls as (args, kwargs), traces after each call)
    ("same shape", [((_vec(3),), {}), ((_vec(3) * 2,), {}), ((gc.constant(_vec(3)),), {})], [1, 1, 1]),
    ("new shape", [((_vec(3),), {}), ((_vec(4),), {}), ((_vec(3),), {})], [1, 2, 2]),
    ("new dtype", [((_vec(3),), {}), ((_vec(3, np.float64),), {}), ((_vec(3, np.int32),), {})], [1, 2, 3]),
    ("python value", [((_vec(3), 1), {}), ((_vec(3), 1), {}), ((_vec(3), 2), {}), ((_vec(3), 1.0), {})],
     [1, 1, 2, 3]),
    ("keyword = positional", [((_vec(3), 5), {}), ((_vec(3),), {"n": 5}), ((), {"x": _vec(3), "n": 5})], [1, 1, 1]),
    ("default", [((_vec(3),), {}), ((_vec(3), 0), {})], [1, 1]),
    ("nesting", [(([_vec(1), _vec(1)],), {}), (((_vec(1), _vec(1)),), {}), (([_vec(1)],), {})], [1, 2, 3]),
]


@pytest.mark.parametrize("name, calls, traces", CACHE_CASES, ids=[c[0] for c in CACHE_CASES])
def test_each_new_input_signature_traces_once(name, calls, traces):
    bodies_run = []

    @gc.function
    def f(x, n=0):
        bodies_run.append(1)  # a Python side effect: runs only while tracing
        return nest_sum(x) + n

    for (args, kwargs), expected in zip(calls, traces):
        f(*args, **kwargs)
        assert f.trace_count == len(bodies_run) == expected
    assert len(f.concrete_functions) == traces[-1]


def nest_sum(x):
    return sum(gc.reduce_sum(t) for t in x) if isinstance(x, (list, tuple)) else gc.reduce_sum(x)


def test_tracing_functions_cache_per_instance_on_methods():
    class Model:
        def __init__(self, scale):
            self.w = gc.Variable(np.full(2, scale, F32), name="w")

        @gc.function
        def __call__(self, x):
            return x * self.w

    first, second = Model(2.0), Model(3.0)
    x = np.ones(2, F32)
    for _ in range(2):
        np.testing.assert_array_equal(first(x).numpy(), [2, 2])
        np.testing.assert_array_equal(second(x).numpy(), [3, 3])
    assert first.__call__ is first.__call__ and first.__call__ is not second.__call__
    assert first.__call__.trace_count == second.__call__.trace_count == 1
    bound_functions = Model.__call__._instances
    assert len(bound_functions) == 2
    del first
    garbage_collector.collect()
    assert len(bound_functions) == 1  # a bound function does not keep its instance alive
    np.testing.assert_array_equal(Model.__call__(second, x).numpy(), [3, 3])  # the unbound form works too


def test_method_with_input_signature_skips_self():
    class Scaler:
        factor = 3.0

        @gc.function(input_signature=[gc.TensorSpec([None])])
        def scale(self, x):
            return x * self.factor

    s = Scaler()
    for n in (1, 4, 7):
        np.testing.assert_array_equal(s.scale(np.ones(n, F32)).numpy(), np.full(n, 3.0))
    assert s.scale.trace_count == 1
    np.testing.assert_array_equal(Scaler.scale(s, [1.0, 2.0]).numpy(), [3, 6])  # unbound: self, then x


def test_none_dimensions_trace_once_for_every_size():
    @gc.function(input_signature=[gc.TensorSpec([None, 2]), gc.TensorSpec([None, 2])])
    def f(x, y):
        return gc.reduce_sum(x * y, axis=1)

    for n in (1, 3, 8):
        x, y = np.arange(2 * n, dtype=F32).reshape(n, 2), np.ones((n, 2), F32)
        np.testing.assert_array_equal(f(x, y).numpy(), (x * y).sum(1))
    assert f.trace_count == 1
    text = str(f.get_concrete_function().graph)
    assert "graph f(%0:f32[d0,2] x, %1:f32[d1,2] y)" in text  # symbolic sizes, printed stably


def test_reduce_retracing_generalises_a_changing_dimension():
    @gc.function(reduce_retracing=True)
    def f(x):
        return x * 2

    shapes = [(2, 3), (5, 3), (7, 3), (1, 3), (2, 3)]
    for shape in shapes:
        np.testing.assert_array_equal(f(np.ones(shape, F32)).numpy(), np.full(shape, 2.0))
    assert f.trace_count == 2  # the exact first shape, then one graph for [None, 3]
    general = f.concrete_functions[1]
    assert general.structured_input_signature == [("x", gc.TensorSpec([None, 3]))]
    assert str(general.graph).startswith("graph f(%0:f32[d0,3] x)")
    f(np.ones((2, 4), F32))  # a new second dimension is generalised too
    assert f.trace_count == 3 and f.concrete_functions[2].structured_input_signature[0][1].shape == (None, None)


# -- retracing: the log and the warning ---------------------------------------------------------------
RETRACE_CASES = [
    # (name, first call, second call, fragments the retrace log message must hold)
    ("shape", (np.ones(2, F32), 1), (np.ones(3, F32), 1), ["argument 'x' changed from f32[2] to f32[3]"]),
    ("dtype", (np.ones(2, F32), 1), (np.ones(2, np.int32), 1), ["argument 'x' changed from f32[2] to i32[2]"]),
    ("python", (np.ones(2, F32), 1), (np.ones(2, F32), 2), ["Python argument 'n' changed from 1 to 2"]),
    ("both", (np.ones(2, F32), 1), (np.ones(4, F32), "a"),
     ["argument 'x' changed from f32[2] to f32[4]", "argument 'n' changed from n=1 to n='a'"]),
    ("nesting", ([np.ones(1, F32)], 1), ((np.ones(1, F32),), 1), ["nesting changed"]),
]


@pytest.mark.parametrize("name, first, second, fragments", RETRACE_CASES, ids=[c[0] for c in RETRACE_CASES])
def test_every_retrace_is_logged_with_the_reason_and_the_callers_line(caplog, name, first, second, fragments):
    @gc.function
    def f(x, n):
        return x

    with caplog.at_level(logging.INFO, logger="graphc.trace"):
        f(*first)  # first call
        f(*first)
        f(*second)  # retrace here
    records = [r for r in caplog.records if r.name == "graphc.trace"]
    assert [r.levelno for r in records] == [logging.INFO] * 2
    assert records[0].getMessage().startswith("tracing f(")
    assert f"{__file__}:{_line_of('# first call')}" in records[0].getMessage()
    message = records[1].getMessage()
    assert message.startswith("retracing f (trace 2): ")
    assert f"called from {__file__}:{_line_of('# retrace here')}" in message
    for fragment in fragments:
        assert fragment in message


def test_a_function_that_keeps_retracing_warns_from_the_fifth_trace():
    @gc.function
    def f(x):
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 7):
            f(np.ones(n, F32))  # keeps retracing
            assert len([w for w in caught if w.category is gc.RetracingWarning]) == max(0, n - 4)
    warning = caught[0]
    assert warning.filename == __file__ and warning.lineno == _line_of("# keeps retracing")
    assert "traced 5 times" in str(warning.message) and "argument 'x' changed from f32[4] to f32[5]" in str(
        warning.message)
    assert "reduce_retracing" in str(warning.message)


# -- concrete functions --------------------------------------------------------------------------------
CONCRETE_ARGS = [
    ("array", np.ones((2, 3), F32), (2, 3)),
    ("tensor", gc.constant(np.ones((2, 3), F32)), (2, 3)),
    ("spec", gc.TensorSpec([2, 3]), (2, 3)),
    ("spec with None", gc.TensorSpec([None, 3]), ("d0", 3)),
]


@pytest.mark.parametrize("name, arg, shape", CONCRETE_ARGS, ids=[c[0] for c in CONCRETE_ARGS])
def test_get_concrete_function(name, arg, shape):
    @gc.function
    def f(x):
        return gc.reduce_sum(x, axis=1), x * 2

    cf = f.get_concrete_function(arg)
    assert isinstance(cf, gc.ConcreteFunction) and f.trace_count == 1
    assert f.get_concrete_function(arg) is cf
    assert [t.is_symbolic for t in cf.inputs + cf.outputs] == [True] * 3
    assert cf.inputs[0].type.ndim == 2 and cf.inputs[0].shape[1] == 3
    assert [o.shape for o in cf.outputs] == [cf.inputs[0].shape[:1], cf.inputs[0].shape]
    assert cf.graph.inputs == [t._value for t in cf.inputs] and cf.graph.outputs == [t._value for t in cf.outputs]
    assert str(cf.graph).splitlines()[0] == f"graph f(%0:f32[{','.join(map(str, shape))}] x)"
    total, doubled = cf(np.ones((2, 3), F32))
    np.testing.assert_array_equal(total.numpy(), [3, 3])
    np.testing.assert_array_equal(doubled.numpy(), np.full((2, 3), 2.0))
    f(np.ones((2, 3), F32))
    assert f.trace_count == 1  # the call reuses the concrete function
    mismatch = r"traced for \(x: f32\[(2|None),3\]\); got \(x: f32\[2,4\]\)"
    with pytest.raises(gc.errors.InvalidArgumentError, match=mismatch):
        cf(np.ones((2, 4), F32))


def test_get_concrete_function_without_arguments_uses_the_input_signature():
    @gc.function(input_signature=[gc.TensorSpec([None], gc.int32)])
    def f(x):
        return x + 1

    cf = f.get_concrete_function()
    assert cf is f.get_concrete_function(np.arange(4, dtype=np.int32))
    assert cf.structured_input_signature == [("x", gc.TensorSpec([None], gc.int32))]
    np.testing.assert_array_equal(cf(np.arange(3, dtype=np.int32)).numpy(), [1, 2, 3])


def test_tensor_specs_are_only_for_get_concrete_function():
    f = gc.function(lambda x: x)
    with pytest.raises(gc.errors.InvalidArgumentError, match="TensorSpec arguments are for get_concrete_function"):
        f(gc.TensorSpec([2]))


# -- Python side effects ------------------------------------------------------------------------------
def test_python_side_effects_run_at_trace_time_only():
    log = []

    @gc.function
    def f(x):
        log.append(("traced", x.shape))
        print("tracing f")
        return x + 1

    for _ in range(3):
        f(np.ones(2, F32))
    f(np.ones(3, F32))
    assert log == [("traced", (2,)), ("traced", (3,))]
    assert "side effects" in gc.function.__doc__ and "tracing only" in gc.function.__doc__


def test_a_failed_trace_leaves_no_cache_entry(caplog):
    fail = [True]

    @gc.function
    def f(x):
        if fail[0]:
            raise RuntimeError("user error while tracing")
        return x * 2

    with pytest.raises(RuntimeError, match="user error while tracing"):
        f(np.ones(2, F32))
    assert f.trace_count == 0 and f.concrete_functions == []
    fail[0] = False
    np.testing.assert_array_equal(f(np.ones(2, F32)).numpy(), [2, 2])
    assert f.trace_count == 1


def test_gc_functions_called_inside_a_trace_are_inlined():
    inner = gc.function(lambda x: x * 2)

    @gc.function
    def outer(x):
        return inner(x) + inner(np.ones(2, F32))

    np.testing.assert_array_equal(outer(np.ones(2, F32)).numpy(), [4, 4])
    assert inner.trace_count == 0 and outer.trace_count == 1
    assert [n.op for n in outer.concrete_functions[0].graph.nodes].count("multiply") == 2


def test_results_never_alias_the_arguments():
    f = gc.function(lambda x: x)
    x = np.ones(2, F32)
    result = f(x)
    x[0] = 5
    np.testing.assert_array_equal(result.numpy(), [1, 1])


def test_unknown_backend_is_rejected_at_decoration():
    with pytest.raises(gc.errors.InvalidArgumentError, match="unknown backend 'tpu'"):
        gc.function(lambda x: x, backend="tpu")


def test_a_call_with_a_cached_signature_stays_on_the_short_path():
    """W4 (per-call overhead) lives on this path: a context manager added there once cost 1.7 us of
    5.7 unnoticed. 10 Python-level calls today: Function.__call__, dispatch.idle, the fast path, the
    executable's run, the thread's scratch (getattr), np.empty, id twice, gc.Tensor, and
    sys.setprofile itself; the arguments are checked in native code (backends/llvm/pyobjects.py)."""
    import sys

    f = gc.function(lambda x: x * 2 + 1)
    x = np.ones(4, np.float32)
    f(x)
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(event) if event in ("call", "c_call") else None)
    try:
        f(x)
    finally:
        sys.setprofile(None)
    assert len(calls) <= 10, f"{len(calls)} Python-level calls per call of a compiled function"
