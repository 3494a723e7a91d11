"""gc.TensorArray: written and read eagerly, as a loop variable of gc.while_loop and of an AutoGraph
gc.range loop on both backends, stacked, gathered, unstacked, with gradients through the writes,
and bad uses."""
import numpy as np
import pytest

import graphc as gc

X = np.arange(8, dtype=np.float32).reshape(4, 2)


def doubled_rows(x):
    ta = gc.TensorArray(gc.float32, size=4, element_shape=[2])
    for i in gc.range(4):
        ta = ta.write(i, x[i] * 2.0)
    return ta.stack()


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_autograph_loop_writes_every_row(backend):
    np.testing.assert_array_equal(gc.function(doubled_rows, backend=backend)(X).numpy(), X * 2)
    np.testing.assert_array_equal(doubled_rows(X).numpy(), X * 2)


def test_while_loop_variable_and_reads():
    def fn(x):
        _, ta = gc.while_loop(lambda i, ta: i < 4, lambda i, ta: (i + 1, ta.write(i, x[3 - i])),
                              [0, gc.TensorArray(gc.float32, 4, element_shape=[2])])
        return ta.stack(), ta.read(0), ta.gather([1, 3]), ta.size()

    for run in (fn, gc.function(fn)):
        stacked, first, some, size = run(X)
        np.testing.assert_array_equal(stacked.numpy(), X[::-1])
        np.testing.assert_array_equal(first.numpy(), X[3])
        np.testing.assert_array_equal(some.numpy(), X[::-1][[1, 3]])
        assert size.numpy() == 4


def test_unstack_concat_and_first_write_sets_the_shape():
    ta = gc.TensorArray(gc.float32, size=2).unstack(np.ones((2, 3, 2), np.float32))
    assert ta.concat().shape == (6, 2)
    lazy = gc.TensorArray(gc.float32, size=2).write(1, [5.0, 6.0])
    np.testing.assert_array_equal(lazy.stack().numpy(), [[0.0, 0.0], [5.0, 6.0]])


def test_gradients_flow_through_writes():
    x = gc.constant(X)
    with gc.GradientTape() as tape:
        tape.watch(x)
        y = gc.reduce_sum(doubled_rows(x) * 3.0)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.full(X.shape, 6.0))


BAD = [
    (lambda: gc.TensorArray(gc.float32, size=3, dynamic_size=True), gc.errors.InvalidArgumentError, "fixed size"),
    (lambda: gc.TensorArray(gc.float32), gc.errors.InvalidArgumentError, "needs a size"),
    (lambda: gc.TensorArray(gc.float32, 2, element_shape=[2]).write(0, [1.0, 2.0, 3.0]), gc.errors.ShapeError,
     r"elements \[2\]: cannot write a value of shape \[3\]"),
    (lambda: gc.TensorArray(gc.int32, 2, element_shape=[]).write(0, 1.5), gc.errors.InvalidArgumentError,
     "TensorArray of int32: cannot write a float32 value"),
    (lambda: gc.TensorArray(gc.float32, 2).stack(), gc.errors.InvalidArgumentError, "nothing has been written"),
    (lambda: gc.TensorArray(gc.float32, 2, element_shape=[1]).write(5, [1.0]).stack(), gc.errors.InvalidArgumentError,
     "out of"),
    (lambda: gc.function(lambda n: gc.TensorArray(gc.float32, n, element_shape=[1]).stack())(np.int32(2)),
     gc.errors.InvalidArgumentError, "size must be an int >= 0 known when traced"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_uses_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
