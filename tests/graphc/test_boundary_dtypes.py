"""Arrays entering graphc (graphc.ir.boundary): graphc's small dtypes (uint8, int8, uint16, int16, float16)
enter as they are and the unsigned 32/64-bit ones widen losslessly, at every entry point; a conversion to
a narrower dtype keeps every value or raises a precise error, never wraps."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.ir.boundary import converted

HERE = __file__

# source dtype -> the dtype it enters graphc as
WIDENED = {
    np.uint8: np.uint8, np.int8: np.int8, np.uint16: np.uint16, np.int16: np.int16,
    np.float16: np.float16, np.uint32: np.int64, np.uint64: np.int64,
}


def extremes(dtype) -> np.ndarray:
    """Values spanning what ``dtype`` can bring in: its smallest and largest (uint64: int64's largest),
    zero, and one in between."""
    if np.dtype(dtype).kind == "f":
        info = np.finfo(dtype)
        return np.array([info.min, 0, 1, 0.5, info.max, info.tiny], dtype)
    high = min(int(np.iinfo(dtype).max), int(np.iinfo(WIDENED[dtype]).max))
    return np.array([np.iinfo(dtype).min, 0, 1, high // 2, high], dtype)


def compiled_argument(x):
    return gc.function(lambda a: gc.identity(a))(x)


def nested_argument(x):  # not the all-arrays fast path
    return gc.function(lambda d: gc.identity(d["a"]))({"a": x})


def repeated_argument(x):  # the second call takes the fast path
    f = gc.function(lambda a: gc.identity(a))
    f(x)
    return f(x)


def captured_constant(x):
    return gc.function(lambda: gc.identity(x))()


def signature_argument(x):
    target = WIDENED[x.dtype.type]
    return gc.function(lambda a: gc.identity(a), input_signature=[gc.TensorSpec([None], target)])(x)


def variable_init(x):
    return gc.Variable(x).read_value()


def variable_assign(x):
    v = gc.Variable(np.zeros(x.shape, WIDENED[x.dtype.type]))
    v.assign(x)
    return v.read_value()


def dataset_slices(x):
    return gc.constant(np.stack([e for e in gc.data.Dataset.from_tensor_slices(x).as_numpy_iterator()]))


def dataset_batch(x):
    (batch,) = list(gc.data.Dataset.from_tensor_slices(x).batch(len(x)))
    return batch


ENTRY_POINTS = {
    "constant": gc.constant, "convert_to_tensor": gc.convert_to_tensor, "eager op": lambda x: gc.add(x, 0),
    "eager view op": lambda x: gc.reshape(x, [-1]), "eager cast": lambda x: gc.cast(x, WIDENED[x.dtype.type]),
    "compiled argument": compiled_argument, "nested argument": nested_argument,
    "fast path argument": repeated_argument, "captured constant": captured_constant,
    "signature argument": signature_argument, "Variable init": variable_init, "Variable assign": variable_assign,
    "Dataset.from_tensor_slices": dataset_slices, "Dataset.batch": dataset_batch,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("dtype", list(WIDENED), ids=lambda d: np.dtype(d).name)
def test_numpy_dtypes_enter_as_their_graphc_dtype_at_every_entry_point(dtype, entry):
    x = extremes(dtype)
    result = ENTRY_POINTS[entry](x)
    assert isinstance(result, gc.Tensor)
    assert result.dtype.numpy == WIDENED[dtype]
    np.testing.assert_array_equal(result.numpy(), x.astype(WIDENED[dtype]))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_uint64_beyond_int64_is_an_error_at_every_entry_point(entry):
    x = np.array([1, 2**63], np.uint64)
    with pytest.raises(gc.errors.DTypeError, match=r"uint64 value 9223372036854775808 to int64: it is outside"):
        ENTRY_POINTS[entry](x)


@pytest.mark.parametrize("dtype", list(WIDENED), ids=lambda d: np.dtype(d).name)
def test_the_widened_dtype_depends_on_the_dtype_only_so_one_trace_serves_all_values(dtype):
    f = gc.function(lambda a: a * 2)
    for x in (extremes(dtype)[1:3], np.zeros(2, dtype)):
        np.testing.assert_array_equal(f(x).numpy(), x.astype(WIDENED[dtype]) * WIDENED[dtype](2))
    assert f.trace_count == 1


def test_unsupported_dtypes_still_name_the_supported_ones():
    for x in (np.ones(2, np.complex64), np.array(["a"]), np.array([None])):
        with pytest.raises(gc.errors.DTypeError, match="unsupported dtype.*graphc supports float32"):
            gc.constant(x)


@pytest.mark.parametrize("label_dtype", [np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("feature_dtype", [np.uint8, np.float16])
@pytest.mark.parametrize("through_dataset", [False, True])
def test_mnist_style_inputs_train_evaluate_and_predict(label_dtype, feature_dtype, through_dataset):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(24, 6)).astype(feature_dtype)
    y = rng.integers(0, 3, size=24).astype(label_dtype)
    gc.random.set_seed(0)
    model = gc.Sequential([gc.Input(shape=(6,)), gc.layers.Dense(3)])
    model.compile("sgd", gc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    data = {"x": gc.data.Dataset.from_tensor_slices((x, y)).batch(8)} if through_dataset else {"x": x, "y": y}
    history = model.fit(**data, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert set(model.evaluate(**data, batch_size=8, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    assert model.predict(x, batch_size=8, verbose=0).shape == (24, 3)


# -- narrowing: keep every value or raise ---------------------------------------------------------
INT32 = np.iinfo(np.int32)


def signature_call(dtype):
    return lambda value: gc.function(lambda a: a, input_signature=[gc.TensorSpec(np.shape(value), dtype)])(value)


def assign_call(dtype):
    return lambda value: gc.Variable(np.zeros(np.shape(value), dtype.numpy), name="target").assign(value).read_value()


def generator_call(dtype):
    def call(value):
        spec = gc.TensorSpec(np.shape(value), dtype)
        (element,) = gc.data.Dataset.from_generator(lambda: iter([value]), output_signature=spec)
        return element

    return call


NARROWING_ENTRIES = {
    "signature": signature_call, "Variable.assign": assign_call, "from_generator signature": generator_call,
    "Variable(dtype=)": lambda dtype: lambda value: gc.Variable(value, dtype=dtype).read_value(),
    "constant(dtype=)": lambda dtype: lambda value: gc.constant(value, dtype),
}
# (what, value, target): each outside the target's range by one
OUT_OF_RANGE = [
    ("python int above", INT32.max + 1, gc.int32), ("python int below", INT32.min - 1, gc.int32),
    ("python list", [1, 2**40], gc.int32), ("int64 array", np.array([0, INT32.max + 1], np.int64), gc.int32),
    ("int64 array below", np.array([INT32.min - 1]), gc.int32),
    ("uint32 array", np.array([2**32 - 1], np.uint32), gc.int32),
    ("uint64 array", np.array([2**64 - 1], np.uint64), gc.int64),
]
IN_RANGE = [
    ("python int max", INT32.max, gc.int32), ("python int min", INT32.min, gc.int32),
    ("python list", [INT32.min, 0, INT32.max], gc.int32), ("python int into int64", 2**40, gc.int64),
    ("python int into float", 3, gc.float32), ("uint8 array", np.array([0, 255], np.uint8), gc.int32),
    ("uint32 array into int64", np.array([2**32 - 1], np.uint32), gc.int64),
    ("uint64 array into int64", np.array([2**63 - 1], np.uint64), gc.int64),
]


def _array_of_another_dtype(entry, value, target) -> bool:
    """A signature takes NumPy arrays of its own dtype only (after widening), as TensorFlow does."""
    if entry != "signature" or not isinstance(value, np.ndarray):
        return False
    return WIDENED.get(value.dtype.type, value.dtype.type) != target.numpy


@pytest.mark.parametrize("entry", NARROWING_ENTRIES)
@pytest.mark.parametrize("what, value, target", OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_a_value_out_of_the_targets_range_is_an_error_naming_both_dtypes(what, value, target, entry):
    call = NARROWING_ENTRIES[entry](target)
    with pytest.raises(gc.errors.DTypeError) as info:
        call(value)  # the narrowing call
    message = str(info.value)
    assert target.name in message
    if not _array_of_another_dtype(entry, value, target):
        assert "outside" in message and "range" in message
    assert info.value.location.startswith(HERE)


@pytest.mark.parametrize("entry", NARROWING_ENTRIES)
@pytest.mark.parametrize("what, value, target", IN_RANGE, ids=[c[0] for c in IN_RANGE])
def test_a_value_the_target_can_hold_is_converted_exactly(what, value, target, entry):
    if _array_of_another_dtype(entry, value, target):
        pytest.skip("a signature takes arrays of its dtype only")
    result = NARROWING_ENTRIES[entry](target)(value)
    assert result.dtype == target
    np.testing.assert_array_equal(result.numpy(), np.asarray(value).astype(target.numpy))
    assert np.asarray(result.numpy(), dtype=object).tolist() == np.asarray(value, dtype=object).tolist()


WRONG_KIND = [
    ("bool into int", True, gc.int32), ("bool list into int", [True, False], gc.int32),
    ("float into int", 1.5, gc.int32), ("bool into float", True, gc.float32), ("int into bool", 1, gc.bool),
    ("float array into int", np.array([1.0]), gc.int32),
]


@pytest.mark.parametrize("entry", ["signature", "Variable.assign"])
@pytest.mark.parametrize("what, value, target", WRONG_KIND, ids=[c[0] for c in WRONG_KIND])
def test_bool_and_float_into_an_int_are_refused_as_tensorflow_refuses_them(what, value, target, entry):
    with pytest.raises((gc.errors.DTypeError, gc.errors.InvalidArgumentError), match=f"{target.short}|{target.name}"):
        NARROWING_ENTRIES[entry](target)(value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 2.0**31, -(2.0**31) - 1, 1e300])
def test_a_float_without_an_int32_value_is_an_error_where_a_conversion_is_implicit(value):
    with pytest.raises(gc.errors.DTypeError, match="int32"):
        gc.constant(np.array([value]), gc.int32)
    with pytest.raises(gc.errors.DTypeError, match="int32"):
        gc.fill([2], value, gc.int32)


def test_float64_into_float32_rounds_as_tensorflow_does():
    v = gc.Variable(np.zeros(2, np.float32))
    v.assign(np.array([0.1, 1e300]))
    np.testing.assert_array_equal(v.numpy(), np.array([0.1, np.inf], np.float32))


def test_python_scalars_out_of_range_in_eager_ops_name_the_number():
    with pytest.raises(gc.errors.InvalidArgumentError, match="out of the range of int32"):
        gc.add(gc.constant([1], gc.int32), 2**40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8))
def test_int64_to_int32_either_keeps_every_value_or_raises(values):
    array = np.array(values, np.int64)
    fits = all(INT32.min <= v <= INT32.max for v in values)
    if fits:
        assert converted(array, gc.int32).tolist() == values
    else:
        with pytest.raises(gc.errors.DTypeError, match="outside int32's range"):
            converted(array, gc.int32)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=8))
def test_float_to_int32_either_truncates_a_representable_value_or_raises(values):
    array = np.array(values, np.float64)
    fits = all(np.isfinite(v) and INT32.min <= int(v) <= INT32.max for v in values)
    if fits:
        assert converted(array, gc.int32).tolist() == [int(v) for v in values]
    else:
        with pytest.raises(gc.errors.DTypeError, match="int32"):
            converted(array, gc.int32)


# -- Python lists of numbers are weakly typed, as Python numbers are (TensorFlow converts them so) ---------
F32_TENSOR = np.array([1.0, 2.0], np.float32)


@pytest.mark.parametrize("compute, expected", [
    (lambda t: t + [1.0, 2.0], "float32"),                       # a float32 partner keeps float32
    (lambda t: gc.cast(t, gc.float16) * [2.0, 3.0], "float16"),
    (lambda t: gc.cast(t, gc.int32) + [3, 4], "int32"),
    (lambda t: gc.reduce_sum([1.0, 2.0]) + t, "float32"),         # alone: float32, not NumPy's float64
    (lambda t: gc.exp([[0.5], [1.0]]) * t, "float32"),
    (lambda t: gc.maximum([1, 2], 1.5) * t, "float32"),
    (lambda t: gc.where([True, False], [1, 2], [3, 4]), "int32"),
    (lambda t: gc.cast(t, gc.float64) + [1.0, 2.0], "float64"),
    (lambda t: t + np.array([1.0, 2.0]), "float64"),             # a NumPy array keeps its dtype
])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_lists_of_python_numbers_take_the_partners_dtype(compute, expected, compiled):
    run = gc.function(compute) if compiled else compute
    assert run(gc.constant(F32_TENSOR)).dtype.name == expected
