"""A gc.function pickles as its Python function and options, without its traces (gc.distribute sends
functions to its workers so): the copy takes the same arguments, keeps the options, traces anew."""
import pickle

import numpy as np
import pytest

import graphc as gc


def scaled(x, factor=2.0):
    return x * factor + 1.0


def test_a_pickled_function_keeps_its_options_and_traces_anew():
    original = gc.function(scaled, input_signature=[gc.TensorSpec([None], "float32")], reduce_retracing=True,
                           backend="numpy", name="scaled_fn", autograph=False)
    x = np.arange(4, dtype=np.float32)
    expected = original(x).numpy()
    copy = pickle.loads(pickle.dumps(original))
    assert isinstance(copy, gc.Function) and copy is not original
    assert copy.trace_count == 0 and copy.name == "scaled_fn"
    np.testing.assert_array_equal(copy(x).numpy(), expected)
    assert copy.trace_count == 1
    np.testing.assert_array_equal(copy(np.ones(7, np.float32)).numpy(), np.full(7, 3.0, np.float32))
    assert copy.trace_count == 1  # the input signature came along: one trace for every length
    with pytest.raises(gc.errors.InvalidArgumentError):
        copy(np.ones((2, 2), np.float32))  # and it still refuses what the signature refuses


def test_a_function_of_a_lambda_does_not_pickle_with_the_standard_pickler():
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(gc.function(lambda x: x))
