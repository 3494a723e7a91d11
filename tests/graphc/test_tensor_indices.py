"""Scalar integer tensors as indices (``t[gc.constant(1)]``, ``t[i]`` with an int traced from an
argument or a loop counter), mixed with basic indexing: against NumPy with the same ints, eagerly
and compiled on both backends, gradients, and errors at trace and run time."""
import numpy as np
import pytest

import graphc as gc

X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
# index with tensors as ints (tensor positions marked by T(value)), the equivalent NumPy index
T = np.int32
INDEXES = [
    ((T(1),), (1,)),
    ((T(-1),), (-1,)),
    ((1, T(2)), (1, 2)),
    ((T(2), slice(None, None, -1), T(0)), (2, slice(None, None, -1), 0)),
    ((Ellipsis, T(3)), (Ellipsis, 3)),
    ((None, T(1), None, slice(1, 3)), (None, 1, None, slice(1, 3))),
    ((slice(1, None), T(-2), Ellipsis), (slice(1, None), -2, Ellipsis)),
]


def as_graphc_index(index, tensors):
    it = iter(tensors)
    return tuple(next(it) if isinstance(item, np.integer) else item for item in index)


@pytest.mark.parametrize("index,numpy_index", INDEXES, ids=[repr(i[1]) for i in INDEXES])
@pytest.mark.parametrize("mode", ["eager", "llvm", "numpy"])
def test_scalar_int_tensors_index_as_their_values_do(index, numpy_index, mode):
    ints = [item for item in index if isinstance(item, np.integer)]

    def fn(x, *tensors):
        return gc.convert_to_tensor(x)[as_graphc_index(index, tensors)]

    args = [gc.constant(i) for i in ints] if mode == "eager" else ints
    run = fn if mode == "eager" else gc.function(fn, backend=mode)
    np.testing.assert_array_equal(run(X, *args).numpy(), X[numpy_index])


def test_a_traced_index_serves_every_value_with_one_trace_and_has_gradients():
    f = gc.function(lambda x, i: x[i, 1:, i])
    for i in range(-3, 3):
        np.testing.assert_array_equal(f(X, np.int32(i)).numpy(), X[i, 1:, i])
    assert f.trace_count == 1
    x = gc.constant(X)
    with gc.GradientTape() as tape:
        tape.watch(x)
        y = gc.reduce_sum(x[gc.constant(2), gc.constant(1)] * 3.0)
    want = np.zeros_like(X)
    want[2, 1] = 3.0
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), want)


def test_a_loop_counter_indexes_inside_a_compiled_loop():
    @gc.function
    def row_sums(x):
        total = gc.zeros([5])
        for i in gc.range(3):
            total += gc.reduce_sum(x[i], axis=0)
        return total

    np.testing.assert_allclose(row_sums(X).numpy(), X.sum(axis=(0, 1)))


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_out_of_range_tensor_indices_are_errors(backend):
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of"):
        gc.constant(X)[gc.constant(3)]
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of"):
        gc.function(lambda x, i: x[0, i], backend=backend)(X, np.int32(-5))


@pytest.mark.parametrize("bad,message", [(np.array([0, 1], np.int32), r"an index tensor must be a scalar integer, got i32\[2\]"),
                                         (np.float32(1.0), r"an index tensor must be a scalar integer, got f32\[\]")],
                         ids=["vector", "float"])
def test_an_index_tensor_must_be_a_scalar_integer(bad, message):
    with pytest.raises(gc.errors.InvalidArgumentError, match=message):
        gc.constant(X)[gc.constant(bad)]
