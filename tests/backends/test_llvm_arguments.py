"""graphc_call reads a call's arguments itself (backends/llvm/pyobjects.py): every object that is not
exactly an input of the program — another type, dtype, rank, size, order, alignment, count — is
refused before anything runs, and whatever fits runs as the NumPy reference says."""
import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import pyobjects, runtime

F32 = np.float32


def _executable(fn, *example):
    executable = gc.function(fn).get_concrete_function(*example).compiled().executable
    assert isinstance(executable, runtime.Executable)
    return executable


def test_the_layout_is_verified_here():
    """Otherwise every other test of this file would pass through the fallback, checking nothing."""
    assert pyobjects.layout_verified()


def _misaligned(shape, dtype) -> np.ndarray:
    raw = np.zeros(int(np.prod(shape)) * np.dtype(dtype).itemsize + 1, np.uint8)
    array = raw[1:].view(dtype).reshape(shape)
    assert not array.flags.aligned
    return array


class _Subclass(np.ndarray):
    pass


def _symbolic_tensor():
    return gc.function(lambda x: x).get_concrete_function(gc.TensorSpec([2, 3], gc.float32)).inputs[0]


MISFITS = [
    ("another dtype", lambda a: a.astype(np.float64)),
    ("an equal dtype in the other byte order", lambda a: a.astype(">f4")),
    ("another shape", lambda a: np.zeros((3, 2), F32)),
    ("another rank", lambda a: a.reshape(6)),
    ("one size more", lambda a: np.zeros((2, 4), F32)),
    ("Fortran order", lambda a: np.asfortranarray(a)),
    ("a strided view", lambda a: np.zeros((2, 6), F32)[:, ::2]),
    ("misaligned", lambda a: _misaligned((2, 3), F32)),
    ("an ndarray subclass", lambda a: a.view(_Subclass)),
    ("a nested list", lambda a: a.tolist()),
    ("None", lambda a: None),
    ("a Python float", lambda a: 1.5),
    ("a NumPy scalar", lambda a: F32(1.5)),
    ("a 0-d array", lambda a: np.array(1.5, F32)),
    ("a symbolic tensor", lambda a: _symbolic_tensor()),
    ("a tensor of another dtype", lambda a: gc.constant(a.astype(np.int32))),
]


@pytest.mark.parametrize("name,make", MISFITS, ids=[m[0] for m in MISFITS])
def test_an_argument_that_does_not_fit_runs_nothing(name, make):
    x, y = np.arange(6, dtype=F32).reshape(2, 3), np.ones((2, 3), F32)
    v = gc.Variable(np.zeros((2, 3), F32))

    def step(a, b):
        v.assign_add(a)
        return a * 2.0 + b

    executable = _executable(step, x, y)
    for arguments in [(make(x), y), (x, make(y))]:
        assert executable.run_if_exact(arguments) is None
    np.testing.assert_array_equal(v.numpy(), np.zeros((2, 3)))  # nothing ran: nothing assigned
    (result,) = executable.run_if_exact((x, y))
    np.testing.assert_array_equal(result, x * 2 + y)
    np.testing.assert_array_equal(v.numpy(), x)


@pytest.mark.parametrize("arguments", [(), ("x",), ("x", "y", "y")], ids=["none", "one", "three"])
def test_another_number_of_arguments_runs_nothing(arguments):
    x, y = np.arange(6, dtype=F32).reshape(2, 3), np.ones((2, 3), F32)
    executable = _executable(lambda a, b: a - b, x, y)
    assert executable.run_if_exact(tuple({"x": x, "y": y}[a] for a in arguments)) is None


def test_a_list_of_the_right_arrays_is_not_taken_for_the_tuple():
    x = np.arange(6, dtype=F32).reshape(2, 3)
    assert _executable(lambda a: a + 1.0, x).run_if_exact([x]) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8, np.float16])
def test_arrays_and_eager_tensors_of_each_dtype_run_as_they_are(dtype):
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    executable = _executable(lambda a, b: gc.where(gc.equal(a, b), a, b), x, x)
    y = np.flipud(x).copy()
    for arguments in [(x, y), (gc.constant(x), y), (x, gc.constant(y)), (gc.constant(x), gc.constant(y))]:
        (result,) = executable.run_if_exact(arguments)
        np.testing.assert_array_equal(result, y)
        assert result.dtype == dtype


def test_zero_dimensional_and_size_one_inputs():
    s, row = np.array(3.0, F32), np.arange(4, dtype=F32).reshape(1, 4)
    executable = _executable(lambda a, b: a * b, s, row)
    (result,) = executable.run_if_exact((s, row))
    np.testing.assert_array_equal(result, 3.0 * row)
    # the start of a wider array's first row: its stride over the axis of size 1 is the wider one's,
    # and NumPy flags it C-contiguous (that stride is never used), so it runs as it is
    first = np.arange(16, dtype=F32).reshape(2, 8)[:1, :4]
    assert first.strides != row.strides and first.flags.c_contiguous
    (result,) = executable.run_if_exact((s, first))
    np.testing.assert_array_equal(result, 3.0 * first)
    # whereas a column of a wider array is strided
    assert executable.run_if_exact((s, np.arange(8, dtype=F32).reshape(4, 2)[:, :1].T)) is None


def test_errors_flagged_by_native_code_are_raised():
    table = np.arange(5, dtype=F32)
    executable = _executable(lambda t, i: gc.gather(t, i), table, np.array([1, 2], np.int32))
    with pytest.raises(gc.errors.InvalidArgumentError, match="index out of range"):
        executable.run_if_exact((table, np.array([1, 7], np.int32)))
    (result,) = executable.run_if_exact((table, np.array([4, 0], np.int32)))
    np.testing.assert_array_equal(result, [4, 0])


def test_without_the_verified_layout_static_graphs_run_through_the_slot_table(monkeypatch):
    monkeypatch.setattr(runtime, "layout_verified", lambda: False)
    x = np.arange(6, dtype=F32).reshape(2, 3)
    f = gc.function(lambda a: a * 3.0 - 1.0)
    executable = f.get_concrete_function(x).compiled().executable
    assert executable.run_if_exact is None
    np.testing.assert_array_equal(f(x).numpy(), x * 3 - 1)
    np.testing.assert_array_equal(f(np.asfortranarray(x)).numpy(), x * 3 - 1)
