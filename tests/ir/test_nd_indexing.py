"""gc.gather_nd, gc.scatter_nd, gc.tensor_scatter_nd_add/_update and gc.boolean_mask beyond the op
table: native code against the interpreter, out-of-range indices (eagerly with the index named,
compiled at run time, negative ones included, as TensorFlow), and bad arguments."""
import re

import numpy as np
import pytest

import graphc as gc

P = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
CASES = [
    ("gather_nd", lambda p, i: gc.gather_nd(p, i), P, np.array([[1, 2], [0, 0], [1, 1]], np.int32)),
    ("gather_nd_batch", lambda p, i: gc.gather_nd(p, i, batch_dims=1), P, np.array([[[2, 3]], [[0, 1]]], np.int64)),
    ("scatter_nd", lambda u, i: gc.scatter_nd(i, u, [2, 3, 4]), np.ones((3, 4), np.float32),
     np.array([[1, 2], [0, 0], [1, 2]], np.int32)),
    ("tensor_scatter_nd_update", lambda p, i: gc.tensor_scatter_nd_update(p, i, -np.ones((2, 4), np.float32)), P,
     np.array([[1, 0], [0, 2]], np.int32)),
]


@pytest.mark.parametrize("name,fn,x,indices", CASES, ids=[c[0] for c in CASES])
def test_native_code_matches_the_interpreter(name, fn, x, indices):
    native = gc.function(fn, backend="llvm")(x, indices).numpy()
    np.testing.assert_array_equal(native, gc.function(fn, backend="numpy")(x, indices).numpy())
    np.testing.assert_array_equal(native, fn(x, indices).numpy())


@pytest.mark.parametrize("bad", [[[0, 3]], [[2, 0]], [[1, -1]], [[-1, 0]]], ids=str)
@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_out_of_range_indices_are_errors_eagerly_and_compiled(bad, backend):
    indices = np.array(bad, np.int32)
    with pytest.raises(gc.errors.InvalidArgumentError,
                       match=re.escape(f"indices[0] = {bad[0]} is out of bounds for params of shape [2, 3, 4]")):
        gc.gather_nd(P, indices)
    for fn in (lambda i: gc.gather_nd(P, i), lambda i: gc.scatter_nd(i, np.ones((1, 4), np.float32), [2, 3, 4])):
        with pytest.raises(gc.errors.InvalidArgumentError, match="out of"):
            gc.function(fn, backend=backend)(indices)


BAD = [
    (lambda: gc.gather(P, np.zeros((2, 1), np.int32), axis=0, batch_dims=1), gc.errors.InvalidArgumentError,
     "axis 0 must be >= batch_dims 1"),
    (lambda: gc.gather(P, np.zeros((3, 1), np.int32), batch_dims=1), gc.errors.ShapeError,
     "batch_dims 1 needs the first 1 sizes of params [2, 3, 4] and indices [3, 1, 1] equal"),
    (lambda: gc.gather_nd(P, np.array([[0, 1, 2, 3]])), gc.errors.ShapeError, "indices of depth 4 index params of rank 3"),
    (lambda: gc.gather_nd(P, np.array([0.5])), gc.errors.GraphcError, "indices"),
    (lambda: gc.gather_nd(P, np.zeros((3, 1, 1), np.int32), batch_dims=1), gc.errors.ShapeError,
     "batch_dims 1 needs the first 1 sizes of params [2, 3, 4] and indices [3, 1, 1] equal"),
    (lambda: gc.scatter_nd(np.array([[1]]), np.ones((2, 4), np.float32), [2, 4]), gc.errors.ShapeError,
     "updates must have shape [1, 4]"),
    (lambda: gc.boolean_mask(P, np.ones((3, 3), bool)), gc.errors.ShapeError,
     "mask of shape [3, 3] must match the sizes of tensor [2, 3, 4] from axis 0"),
    (lambda: gc.boolean_mask(P, np.ones(2, np.int32)), gc.errors.ShapeError, "mask must be bool, got int32"),
    (lambda: gc.function(lambda m: gc.boolean_mask(P, m))(np.ones(2, bool)), gc.errors.ShapeError,
     "the result's size depends on the mask's values"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_name_the_op_and_the_problem(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_duplicate_scatter_indices_add_up_and_update_leaves_other_elements():
    np.testing.assert_array_equal(gc.scatter_nd([[0], [0], [2]], [1.0, 2.0, 5.0], [3]).numpy(), [3.0, 0.0, 5.0])
    t = np.full((2, 2), 7.0, np.float32)
    np.testing.assert_array_equal(gc.tensor_scatter_nd_update(t, [[0, 1]], [-0.0]).numpy(), [[7.0, -0.0], [7.0, 7.0]])
    assert np.signbit(gc.tensor_scatter_nd_update(t, [[0, 1]], [-0.0]).numpy()[0, 1])
