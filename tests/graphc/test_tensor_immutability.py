"""Tensors are immutable values: every op returns a gc.Tensor, and no result shares memory that the caller
can write (the arrays it was made from, the arrays .numpy() hands out)."""
import numpy as np
import pytest

import graphc as gc

# every op that may return its input unchanged or a view of it, each on a [2, 3] float32 input
VIEW_OPS = {
    "identity": gc.identity,
    "reshape same shape": lambda a: gc.reshape(a, [2, 3]),
    "reshape": lambda a: gc.reshape(a, [6]),
    "transpose": gc.transpose,
    "transpose identity perm": lambda a: gc.transpose(a, [0, 1]),
    "squeeze nothing": gc.squeeze,
    "squeeze": lambda a: gc.squeeze(gc.expand_dims(a, 0), 0),
    "expand_dims": lambda a: gc.expand_dims(a, 0),
    "stop_gradient": gc.stop_gradient,
    "cast same dtype": lambda a: gc.cast(a, gc.float32),
    "broadcast_to same shape": lambda a: gc.broadcast_to(a, [2, 3]),
    "broadcast_to": lambda a: gc.broadcast_to(a, [4, 2, 3]),
    "getitem slice": lambda a: a[:, 1:] if isinstance(a, gc.Tensor) else gc.convert_to_tensor(a)[:, 1:],
    "convert_to_tensor": gc.convert_to_tensor,
    "split": lambda a: gc.split(a, 3, axis=1)[0],
    "unstack": lambda a: gc.unstack(a)[0],
}


def eager(op):
    return op


def compiled(op):
    return gc.function(op)


def compiled_twice(op):  # the second call takes the all-arrays fast path
    f = gc.function(op)

    def call(a):
        f(np.array(a) if isinstance(a, np.ndarray) else a)
        return f(a)

    return call


def eager_function(op):
    return gc.function(op, eager=True)


MODES = {"eager": eager, "compiled": compiled, "compiled twice": compiled_twice, "eager function": eager_function}


def fresh():
    return np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", VIEW_OPS)
def test_a_result_does_not_change_when_the_caller_writes_into_its_numpy_input(name, mode):
    a = fresh()
    result = MODES[mode](VIEW_OPS[name])(a)
    assert isinstance(result, gc.Tensor)
    expected = result.numpy()
    a[...] = -1  # the caller reuses its array
    np.testing.assert_array_equal(result.numpy(), expected)
    np.testing.assert_array_equal(expected.ravel()[:2], VIEW_OPS[name](fresh()).numpy().ravel()[:2])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", VIEW_OPS)
def test_a_result_of_a_tensor_input_cannot_be_changed_through_either(name, mode):
    t = gc.constant(fresh())
    result = MODES[mode](VIEW_OPS[name])(t)
    expected = result.numpy()
    for tensor in (t, result):
        tensor.numpy()[...] = -1  # numpy() is a copy
        with pytest.raises(ValueError, match="read-only"):
            np.asarray(tensor)[...] = -1  # and np.asarray a read-only view
    np.testing.assert_array_equal(result.numpy(), expected)
    np.testing.assert_array_equal(t.numpy(), fresh())


@pytest.mark.parametrize("name", ["transpose", "squeeze nothing", "cast same dtype", "broadcast_to same shape"])
@pytest.mark.parametrize("value", [np.ones(3, np.float32), [1.0, 2.0, 3.0], 2.0], ids=["array", "list", "scalar"])
def test_ops_that_change_nothing_still_return_a_tensor(name, value):
    op = {"transpose": gc.transpose, "squeeze nothing": gc.squeeze, "cast same dtype": lambda a: gc.cast(a, gc.float32),
          "broadcast_to same shape": lambda a: gc.broadcast_to(a, np.shape(a))}[name]
    result = op(value)
    assert isinstance(result, gc.Tensor)
    np.testing.assert_array_equal(result.numpy(), value)


def test_ops_on_a_variable_that_change_nothing_return_its_value_not_the_variable():
    v = gc.Variable(np.ones(3, np.float32))
    for op in (gc.transpose, gc.squeeze, lambda x: gc.cast(x, gc.float32), lambda x: gc.broadcast_to(x, [3])):
        result = op(v)
        assert isinstance(result, gc.Tensor)
        v.assign([5.0, 5.0, 5.0])
        np.testing.assert_array_equal(result.numpy(), np.ones(3))
        v.assign(np.ones(3, np.float32))


@pytest.mark.parametrize("make", [gc.constant, gc.convert_to_tensor, gc.Variable], ids=lambda f: f.__name__)
def test_constants_and_variables_copy_the_array_they_are_made_from(make):
    a = fresh()
    value = make(a)
    a[...] = -1
    np.testing.assert_array_equal(value.numpy(), fresh())


def test_an_array_captured_by_a_traced_function_keeps_its_traced_value():
    table = np.ones(3, np.float32)
    f = gc.function(lambda x: x + table)
    np.testing.assert_array_equal(f(np.zeros(3, np.float32)).numpy(), np.ones(3))
    table[...] = 7
    np.testing.assert_array_equal(f(np.zeros(3, np.float32)).numpy(), np.ones(3))


def test_a_dataset_keeps_the_values_it_was_made_from():
    x = np.arange(4, dtype=np.float32)
    ds = gc.data.Dataset.from_tensor_slices(x)
    first = next(iter(ds))
    x[...] = -1
    assert float(first) == 0.0
    np.testing.assert_array_equal([float(e) for e in ds], [0, 1, 2, 3])


def test_compiled_results_are_not_overwritten_by_later_calls():
    f = gc.function(lambda x: x * 2)
    a = np.ones(3, np.float32)
    first = f(a)
    f(a * 5)
    np.testing.assert_array_equal(first.numpy(), [2, 2, 2])
