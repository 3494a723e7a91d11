"""gc.sort, gc.argsort and gc.math.top_k against NumPy's stable sort: NaN, infinities, signed zeros
and ties, every numeric dtype, every axis, both directions, both backends, sizes known only at run
time for the other axes; gradients; bad arguments."""
import numpy as np
import pytest

import graphc as gc
from graphc.test_util import check_grads

rng = np.random.default_rng(4)
SPECIAL = np.array([[3.0, np.nan, -0.0, 1.0, 1.0, -np.inf, 0.0, np.inf], [2.0, 0.0, 0.0, -1.0, 5.0, 4.0, np.nan, -0.0]])


def numpy_argsort(x, axis, descending):
    """Stable; NaN last ascending (NumPy's order) and first descending (larger values first)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")

    def row_order(row):
        nan = np.isnan(row) if row.dtype.kind == "f" else np.zeros(row.shape, bool)
        return np.array(sorted(range(len(row)), key=lambda i: (not nan[i], 0 if nan[i] else -row[i], i)))

    return np.apply_along_axis(row_order, axis, x)


INPUTS = [SPECIAL.astype(np.float32), SPECIAL, rng.integers(-3, 3, (3, 5)).astype(np.int32),
          rng.integers(-3, 3, (2, 3, 4)).astype(np.int64)]


@pytest.mark.parametrize("x", INPUTS, ids=lambda x: f"{x.dtype}{list(x.shape)}")
@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("backend", ["eager", "llvm", "numpy"])
def test_sort_and_argsort_match_numpy_stable_order(x, descending, backend):
    direction = "DESCENDING" if descending else "ASCENDING"
    for axis in range(-x.ndim, x.ndim):
        order = numpy_argsort(x, axis, descending)
        want = np.take_along_axis(x, order, axis)

        def both(x, axis=axis):
            return gc.sort(x, axis, direction), gc.argsort(x, axis, direction)

        values, indices = both(x) if backend == "eager" else gc.function(both, backend=backend)(x)
        np.testing.assert_array_equal(indices.numpy(), order)
        np.testing.assert_array_equal(values.numpy(), want)
        np.testing.assert_array_equal(np.signbit(values.numpy()), np.signbit(want))


def test_top_k_is_the_start_of_the_descending_order_and_compiles_for_any_batch():
    x = SPECIAL.astype(np.float32)
    order = numpy_argsort(x, -1, True)[:, :3]
    values, indices = gc.math.top_k(x, 3)
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, -1))
    any_batch = gc.function(lambda x: gc.math.top_k(x, k=2), input_signature=[gc.TensorSpec([None, 8])])
    np.testing.assert_array_equal(any_batch(x[:1])[1].numpy(), order[:1, :2])


def test_gradients_follow_the_permutation():
    x = rng.permutation(12).reshape(3, 4).astype(np.float64) * 0.37  # distinct values
    check_grads(lambda t: gc.sort(t, axis=0), [x], order=2)
    check_grads(lambda t: gc.math.top_k(t, 2)[0] * 3.0, [x], order=2)


BAD = [
    (lambda: gc.sort(SPECIAL, direction="up"), gc.errors.InvalidArgumentError, "direction must be 'ASCENDING' or 'DESCENDING'"),
    (lambda: gc.math.top_k(SPECIAL, 9), gc.errors.InvalidArgumentError, "k = 9 is more than the 8 elements"),
    (lambda: gc.math.top_k(np.float32(1.0)), gc.errors.ShapeError, "at least one axis"),
    (lambda: gc.sort(np.array([True, False])), gc.errors.GraphcError, "values"),
    (lambda: gc.function(gc.sort, input_signature=[gc.TensorSpec([2, None])])(SPECIAL.astype(np.float32)),
     gc.errors.ShapeError, "size of the sorted axis known when traced"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
