"""``Tensor.shape`` as ``gc.TensorShape``: TensorFlow's methods, None for sizes known only at run time, and
a tuple wherever graphc or user code treats a shape as one."""
import copy
import pickle

import numpy as np
import pytest

import graphc as gc


def test_methods_of_a_known_shape():
    shape = gc.constant(np.zeros((2, 3, 4), np.float32)).shape
    assert isinstance(shape, gc.TensorShape) and isinstance(shape, tuple)
    assert shape.as_list() == [2, 3, 4] and shape.dims == [2, 3, 4]
    assert shape.rank == shape.ndims == len(shape) == 3
    assert shape.num_elements() == 24 and shape.is_fully_defined()
    assert shape[0] == 2 and shape[-1] == 4
    assert isinstance(shape[1:], gc.TensorShape) and shape[1:] == (3, 4)
    assert repr(shape) == "TensorShape([2, 3, 4])" and str(shape) == "(2, 3, 4)" and f"{shape}" == "(2, 3, 4)"
    assert gc.constant(1.0).shape == () and gc.constant(1.0).shape.num_elements() == 1


def test_unknown_sizes_are_none():
    seen = {}

    @gc.function(input_signature=[gc.TensorSpec([None, 3], "float32")], backend="numpy")
    def f(x):
        seen["shape"] = x.shape
        return x * 2.0

    f(np.ones((5, 3), np.float32))
    shape = seen["shape"]
    assert isinstance(shape, gc.TensorShape)
    assert shape.as_list() == [None, 3] and shape[0] is None and shape.rank == 2
    assert shape.num_elements() is None and not shape.is_fully_defined()
    assert shape.is_compatible_with([7, 3]) and not shape.is_compatible_with([7, 4]) and not shape.is_compatible_with([3])
    assert repr(shape) == "TensorShape([None, 3])" and str(shape) == "(None, 3)"


def test_a_shape_is_still_a_tuple():
    t = gc.constant(np.zeros((2, 3), np.float32))
    rows, cols = t.shape
    assert (rows, cols) == (2, 3) and t.shape == (2, 3) and t.shape == [2, 3] == list(t.shape)
    assert hash(t.shape) == hash((2, 3)) and {t.shape: 1}[(2, 3)] == 1
    assert np.zeros(t.shape).shape == (2, 3)
    assert t.shape + (4,) == (2, 3, 4) and (1,) + t.shape == (1, 2, 3)
    assert pickle.loads(pickle.dumps(t.shape)) == t.shape and type(copy.deepcopy(t.shape)) is gc.TensorShape
    assert gc.reshape(t, t.shape[::-1]).shape == (3, 2)
    assert gc.TensorShape([2, None]).concatenate([4]) == (2, None, 4)


def test_variables_and_specs_have_tensor_shapes():
    v = gc.Variable(np.zeros((4, 1), np.float32))
    spec = gc.TensorSpec([None, 2])
    assert isinstance(v.shape, gc.TensorShape) and v.shape.as_list() == [4, 1]
    assert isinstance(spec.shape, gc.TensorShape) and spec.shape.as_list() == [None, 2]
    assert gc.TensorSpec(gc.TensorShape([None, 2])) == spec


def test_bad_sizes_are_refused():
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"dims\[1\] must be an int >= 0"):
        gc.TensorShape([2, -1])
    with pytest.raises(gc.errors.ArgumentTypeError, match=r"dims\[0\] must be an int or None"):
        gc.TensorShape([2.5])
