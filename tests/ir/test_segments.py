"""Segment sums and means against NumPy's np.add.at, eagerly and compiled on both backends (with
sizes known only at run time too), gradients to second order in float64, dropped negative ids,
out-of-range and unsorted ids."""
import numpy as np
import pytest

import graphc as gc
from graphc.test_util import check_grads

rng = np.random.default_rng(9)
DATA = rng.normal(size=(6, 2, 3)).astype(np.float32)
IDS = np.array([2, 0, 2, -1, 1, 2], np.int32)


def numpy_segment_sum(data, ids, n):
    out = np.zeros((n,) + data.shape[ids.ndim:], np.float64)
    kept = ids >= 0
    np.add.at(out, ids[kept], data[kept])
    return out


def numpy_segment_mean(data, ids, n):
    counts = numpy_segment_sum(np.ones(ids.shape), ids, n)
    return numpy_segment_sum(data, ids, n) / np.maximum(counts, 1).reshape((-1,) + (1,) * (data.ndim - ids.ndim))


CASES = [
    ("sum", lambda d, i: gc.math.unsorted_segment_sum(d, i, 4), lambda d, i: numpy_segment_sum(d, i, 4), DATA, IDS),
    ("mean", lambda d, i: gc.math.unsorted_segment_mean(d, i, 4), lambda d, i: numpy_segment_mean(d, i, 4), DATA, IDS),
    ("sum_2d_ids", lambda d, i: gc.math.unsorted_segment_sum(d, i, 3), lambda d, i: numpy_segment_sum(d, i, 3), DATA,
     np.array([[0, 1], [2, 2], [1, 1], [0, -1], [2, 0], [1, 2]], np.int64)),
]


@pytest.mark.parametrize("name,op,ref,data,ids", CASES, ids=[c[0] for c in CASES])
def test_segments_match_numpy_everywhere(name, op, ref, data, ids):
    want = ref(data.astype(np.float64), ids)
    np.testing.assert_allclose(op(data, ids).numpy(), want, rtol=1e-5, atol=1e-6)
    for backend in ("llvm", "numpy"):
        np.testing.assert_allclose(gc.function(op, backend=backend)(data, ids).numpy(), want, rtol=1e-5, atol=1e-6)
    some_rows = gc.function(op, input_signature=[gc.TensorSpec([None, *data.shape[1:]]),
                                                 gc.TensorSpec([None, *ids.shape[1:]], ids.dtype.name)])
    np.testing.assert_allclose(some_rows(data[:4], ids[:4]).numpy(), ref(data[:4].astype(np.float64), ids[:4]),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,op,ref,data,ids", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(name, op, ref, data, ids):
    check_grads(lambda d: op(d, ids), [data.astype(np.float64)], order=2)


def test_sorted_segments_take_their_count_from_the_ids():
    ids = np.array([0, 0, 1, 3, 3, 3], np.int32)
    np.testing.assert_allclose(gc.math.segment_sum(DATA, ids).numpy(), numpy_segment_sum(DATA, ids, 4), rtol=1e-6)
    np.testing.assert_allclose(gc.math.segment_mean(DATA, ids).numpy(), numpy_segment_mean(DATA, ids, 4), rtol=1e-6)
    compiled = gc.function(lambda d: gc.math.segment_sum(d, ids))  # constant ids: the count is known
    np.testing.assert_allclose(compiled(DATA).numpy(), numpy_segment_sum(DATA, ids, 4), rtol=1e-6)


BAD = [
    (lambda: gc.math.segment_sum(DATA, [1, 0, 2, 2, 3, 3]), gc.errors.ShapeError, "must be a sorted vector of ids >= 0"),
    (lambda: gc.function(lambda i: gc.math.segment_sum(DATA, i))(np.zeros(6, np.int32)), gc.errors.ShapeError,
     "knows only at run time"),
    (lambda: gc.math.unsorted_segment_sum(DATA, [0, 1, 4, 0, 0, 0], 4), gc.errors.InvalidArgumentError,
     r"indices\[2\] = \[4\] is out of bounds for the result of shape \[4, 2, 3\]"),
    (lambda: gc.math.unsorted_segment_sum(DATA, np.zeros(5, np.int32), 4), gc.errors.ShapeError,
     r"segment_ids of shape \[5\] must be a prefix of data's shape \[6, 2, 3\]"),
    (lambda: gc.math.unsorted_segment_sum(DATA, np.zeros(6, np.float32), 4), gc.errors.GraphcError, "segment_ids"),
    (lambda: gc.math.unsorted_segment_sum(DATA, IDS, -1), gc.errors.GraphcError, "num_segments"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_ids_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_out_of_range_ids_are_run_time_errors_when_compiled():
    f = gc.function(lambda d, i: gc.math.unsorted_segment_sum(d, i, 4))
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of"):
        f(DATA, np.array([0, 1, 9, 0, 0, 0], np.int32))
