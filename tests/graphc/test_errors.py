"""Errors name what went wrong, what to do instead, and the user's source line, never graphc's."""
import inspect
import os

import numpy as np
import pytest

import graphc as gc

F32 = np.float32
HERE = os.path.abspath(__file__)


def _line_of(marker: str) -> int:
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


# -- a symbolic tensor where Python needs a value -------------------------------------------------------
def _if(x):
    if x > 0:  # if on x
        return x
    return -x


def _while(x):
    while x < 10:  # while on x
        x = x * 2
    return x


def _and(x):
    return (x > 0) and x  # and on x


def _int(x):
    return gc.ones([int(x[0])])  # int of x


def _float(x):
    return float(x[0])  # float of x


def _index(x):
    return [1, 2, 3][gc.cast(x[0], gc.int32)]  # index with x


def _numpy(x):
    return x.numpy()  # numpy of x


def _asarray(x):
    return np.asarray(x) + 1  # asarray of x


def _len(x):
    return len(x)  # len of x


NOT_ALLOWED = [
    # (function, marker on the offending line, what the message says, what it suggests)
    (_if, "# if on x", "as a Python bool", "gc.where"),
    (_while, "# while on x", "as a Python bool", "gc.where"),
    (_and, "# and on x", "as a Python bool", "gc.where"),
    (_int, "# int of x", "int() needs a concrete value", "gc.cast"),
    (_float, "# float of x", "float() needs a concrete value", "gc.cast"),
    (_index, "# index with x", "as a Python index", "gc.gather"),
    (_numpy, "# numpy of x", "numpy() needs a concrete value", "return the tensor from the function"),
    (_asarray, "# asarray of x", "np.asarray() needs a concrete value", "return the tensor from the function"),
    (_len, "# len of x", "len() of a tensor of type f32[d", "give the dimension a size in the input_signature"),
]


@pytest.mark.parametrize("fn, marker, what, instead", NOT_ALLOWED, ids=[c[0].__name__ for c in NOT_ALLOWED])
def test_a_symbolic_tensor_used_as_a_python_value(fn, marker, what, instead):
    f = gc.function(fn, input_signature=[gc.TensorSpec([None])])
    with pytest.raises(gc.errors.OperatorNotAllowedInGraphError) as info:
        f(np.ones(3, F32))  # the call
    message = str(info.value)
    assert what in message and instead in message
    assert f"at {HERE}:{_line_of(marker)}" in message
    assert f"while tracing {fn.__name__}, called from {HERE}:{_line_of('# the call')}" in message
    assert isinstance(info.value, TypeError) and f.concrete_functions == []
    if fn is not _len:
        assert "run_functions_eagerly" in message
        with gc.config.run_functions_eagerly(True):
            f(np.ones(1, F32))  # eagerly the same code runs


# -- bad arguments ----------------------------------------------------------------------------------------
@gc.function(input_signature=[gc.TensorSpec([None, 3]), {"k": gc.TensorSpec([2], gc.int32)}])
def _typed(x, table):
    return x


@gc.function
def _untyped(x, option=None):
    return x


GOOD_X, GOOD_TABLE = np.ones((2, 3), F32), {"k": np.ones(2, np.int32)}

BAD_ARGUMENTS = [
    # (name, function, args, error type, message fragments)
    ("shape", _typed, (np.ones((2, 4), F32), GOOD_TABLE), gc.errors.InvalidArgumentError,
     ["argument 'x': expected shape f32[None,3], got f32[2,4] (dimension 1: expected 3, got 4)"]),
    ("rank", _typed, (np.ones(3, F32), GOOD_TABLE), gc.errors.InvalidArgumentError,
     ["argument 'x'", "(rank 1, expected rank 2)"]),
    ("dtype", _typed, (np.ones((2, 3)), GOOD_TABLE), gc.errors.DTypeError,
     ["argument 'x': expected dtype float32, got float64"]),
    ("tensor dtype", _typed, (gc.ones([2, 3], gc.int32), GOOD_TABLE), gc.errors.DTypeError,
     ["expected dtype float32, got int32"]),
    ("nested shape", _typed, (GOOD_X, {"k": np.ones(3, np.int32)}), gc.errors.InvalidArgumentError,
     ["argument \"table['k']\": expected shape i32[2], got i32[3]"]),
    ("structure", _typed, (GOOD_X, [np.ones(2, np.int32)]), gc.errors.InvalidArgumentError,
     ["argument 'table': expected a dict with keys ['k'], got a list of 1 items"]),
    ("unconvertible", _typed, ("abc", GOOD_TABLE), gc.errors.InvalidArgumentError,
     ["argument 'x': expected a tensor f32[None,3], got str 'abc'"]),
    ("lossy python value", _typed, (GOOD_X, {"k": [1.5, 2.5]}), gc.errors.InvalidArgumentError,
     ["expected a tensor i32[2], got list [1.5, 2.5]"]),
    ("missing argument", _typed, (GOOD_X,), gc.errors.InvalidArgumentError,
     ["_typed(): missing a required argument: 'table'"]),
    ("extra argument", _untyped, (GOOD_X, 1, 2), gc.errors.InvalidArgumentError, ["_untyped(): too many"]),
    ("unhashable", _untyped, (GOOD_X, {1, 2}), gc.errors.InvalidArgumentError,
     ["argument 'option': expected a tensor or a hashable Python value, got unhashable set"]),
    ("unsupported dtype", _untyped, (np.ones(2, np.complex64),), gc.errors.DTypeError,
     ["argument 'x': unsupported dtype", "complex64"]),
    ("strings", _untyped, (np.array(["a", "b"]),), gc.errors.DTypeError, ["argument 'x': unsupported dtype"]),
]


@pytest.mark.parametrize("name, fn, args, error, fragments", BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_arguments_are_named_with_expected_and_got_and_the_callers_line(name, fn, args, error, fragments):
    traces = fn.trace_count
    with pytest.raises(error) as info:
        fn(*args)  # the bad call
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert message.startswith(f"{fn.__name__}(): ")
    assert info.value.location == f"{HERE}:{_line_of('# the bad call')}"
    assert fn.trace_count == traces
    fn(GOOD_X, GOOD_TABLE) if fn is _typed else fn(GOOD_X)  # the function still works


def test_a_run_time_error_names_the_op_its_line_and_the_callers_line():
    @gc.function(input_signature=[gc.TensorSpec([None]), gc.TensorSpec([None])])
    def f(x, y):
        return x * y  # mismatched sizes fail here

    with pytest.raises(gc.errors.InvalidArgumentError) as info:
        f(np.ones(2, F32), np.ones(3, F32))  # the failing call
    error = info.value
    assert error.op == "multiply" and error.location == f"{HERE}:{_line_of('# mismatched sizes')}"
    assert f"called from {HERE}:{_line_of('# the failing call')}" in str(error)
    np.testing.assert_array_equal(f(np.ones(2, F32), np.ones(2, F32)).numpy(), [1, 1])


def test_errors_and_nodes_point_at_user_code_never_at_graphc():
    import graphc.backends
    import graphc.ir

    package_dirs = [os.path.dirname(os.path.abspath(m.__file__)) for m in (graphc, graphc.ir, graphc.backends)]

    @gc.function
    def f(x):
        return gc.nn.softmax(x) + gc.reduce_logsumexp(x)  # composite ops

    graph = f.get_concrete_function(np.ones(3, F32)).graph
    assert graph.nodes and all(n.loc.file == HERE and n.loc.line == _line_of("# composite ops") for n in graph.nodes)
    with pytest.raises(gc.errors.ShapeError) as info:
        gc.function(lambda x: gc.nn.softmax(x) + np.ones(4, F32))(np.ones(3, F32))
    assert info.value.location.startswith(HERE + ":")
    assert not any(info.value.location.startswith(d) for d in package_dirs)


@pytest.mark.parametrize("shape", [None, 3, [2, -1], [1.5], ["a"], [True]])
def test_tensor_spec_shapes_are_lists_of_sizes_and_none(shape):
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"TensorSpec: shape(\[0\]|\[1\])? must be"):
        gc.TensorSpec(shape)
    assert gc.TensorSpec((None, np.int64(2)), "int64").shape == (None, 2)
