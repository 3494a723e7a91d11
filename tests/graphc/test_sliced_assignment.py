"""Sliced assignment of variables, as TensorFlow's ``v[1, 2].assign(9)``: every kind of basic index
against NumPy, eagerly and compiled (both backends), the slice as a plain tensor too, gradients
through slice reads, bad values, and threads racing on slices of one variable."""
import threading

import numpy as np
import pytest

import graphc as gc

START = np.arange(24, dtype=np.float32).reshape(4, 6)
# index, value, the method
CASES = [
    ((1, 2), 9.0, "assign"),
    ((slice(None), 0), np.array([1, 2, 3, 4], np.float32), "assign_add"),
    ((0,), 1.0, "assign_sub"),
    ((slice(None, None, -2), slice(1, 3)), np.array([[5, 6]], np.float32), "assign"),
    ((Ellipsis, -1), np.float32(-0.0), "assign"),
    ((slice(10, 20),), 3.0, "assign"),  # an empty slice: nothing changes
    ((None, 2, slice(None, None, 3)), np.array([[7, 8]], np.float32), "assign_add"),
]


def numpy_update(array, index, value, method):
    array = array.copy()
    if method == "assign":
        array[index] = value
    elif method == "assign_add":
        array[index] = array[index] + value
    else:
        array[index] = array[index] - value
    return array


@pytest.mark.parametrize("index,value,method", CASES, ids=[f"{c[2]}-{c[0]!r}" for c in CASES])
@pytest.mark.parametrize("mode", ["eager", "llvm", "numpy"])
def test_slices_are_assigned_as_numpy_assigns_them(index, value, method, mode):
    v = gc.Variable(START)

    def update():
        return getattr(v[index], method)(value)

    returned = update() if mode == "eager" else gc.function(update, backend=mode)()
    want = numpy_update(START, index, value, method)
    np.testing.assert_array_equal(v.numpy(), want)
    np.testing.assert_array_equal(np.signbit(v.numpy()), np.signbit(want))
    if mode == "eager":
        assert returned is v


def test_a_slice_is_a_tensor_of_the_current_value():
    v = gc.Variable(START)
    s = v[1:3, ::2]
    assert s.shape == (2, 3) and s.dtype == gc.float32
    np.testing.assert_array_equal((s * 2).numpy(), START[1:3, ::2] * 2)
    v.assign(np.zeros_like(START))
    np.testing.assert_array_equal(s.numpy(), START[1:3, ::2])  # a value, not a view


def test_a_compiled_slice_assignment_with_a_tensor_argument_traces_once_and_persists():
    v = gc.Variable(np.zeros((3, 4), np.float32))

    @gc.function
    def step(row):
        v[1].assign_add(row)
        return v[1]

    for k in range(3):
        np.testing.assert_array_equal(step(np.full(4, k, np.float32)).numpy(), np.full(4, k * (k + 1) / 2))
    assert step.trace_count == 1
    np.testing.assert_array_equal(v.numpy()[[0, 2]], 0.0)


def test_gradients_flow_through_slice_reads_to_the_variable():
    v = gc.Variable(START)
    with gc.GradientTape() as tape:
        loss = gc.reduce_sum(v[1:3, 2] * 3.0)
    want = np.zeros_like(START)
    want[1:3, 2] = 3.0
    np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), want)


def test_bad_values_raise_and_leave_the_variable_as_it_was():
    v = gc.Variable(START)
    ints = gc.Variable(np.zeros(3, np.int32))
    with pytest.raises(gc.errors.ShapeError, match=r"broadcast.*\[3\] and \[6\]"):
        v[0].assign(np.ones(3, np.float32))
    with pytest.raises(gc.errors.DTypeError, match="cannot assign float of dtype float64 to variable"):
        ints[0].assign(1.5)
    with pytest.raises(gc.errors.DTypeError, match="update has dtype float64, base has float32"):
        v[0].assign(gc.constant(np.ones(6)))
    with pytest.raises(gc.errors.InvalidArgumentError, match="index 4 is out of bounds for axis 0 with size 4"):
        v[4].assign(0.0)
    np.testing.assert_array_equal(v.numpy(), START)
    np.testing.assert_array_equal(ints.numpy(), 0)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_threads_adding_to_slices_of_one_variable_lose_no_update(compiled):
    v = gc.Variable(np.zeros((2, 3), np.float32))
    adds = [lambda: v[0, 1].assign_add(1.0), lambda: v[:, 1:].assign_add(1.0)]
    if compiled:
        adds = [gc.function(a) for a in adds]
    rounds = 200

    def worker(add):
        for _ in range(rounds):
            add()

    threads = [threading.Thread(target=worker, args=(adds[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = np.zeros((2, 3), np.float32)
    want[0, 1] += 2 * rounds
    want[:, 1:] += 2 * rounds
    np.testing.assert_array_equal(v.numpy(), want)
