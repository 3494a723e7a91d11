"""Python arguments key traces by value; floats by their bits, so NaN finds its trace again and -0.0 has
a trace apart from 0.0."""
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc

NAN_WITH_PAYLOAD = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000ABC))[0]
FLOATS = {
    "nan": math.nan, "negative nan": -math.nan, "nan with payload": NAN_WITH_PAYLOAD, "inf": math.inf,
    "-inf": -math.inf, "0.0": 0.0, "-0.0": -0.0, "smallest subnormal": 5e-324, "largest float32": 3.4028234663852886e38,
    "1.5": 1.5,
}


def scale():
    return gc.function(lambda x, factor: x * factor)


@pytest.mark.parametrize("name", FLOATS)
def test_a_repeated_float_argument_traces_once(name):
    f = scale()
    x = np.ones(2, np.float32)
    for _ in range(200):
        result = f(x, FLOATS[name])
    assert f.trace_count == 1 and len(f.concrete_functions) == 1
    np.testing.assert_array_equal(result.numpy(), x * np.float32(FLOATS[name]))


def test_a_thousand_nan_calls_keep_one_trace():
    f = scale()
    x = np.ones(2, np.float32)
    for _ in range(1000):
        f(x, float("nan"))  # a new NaN object each time
    assert f.trace_count == 1


@pytest.mark.filterwarnings("ignore::graphc.RetracingWarning")
def test_every_distinct_float_gets_its_own_trace_and_each_is_found_again():
    f = scale()
    x = np.ones(1, np.float32)
    for _ in range(2):
        for value in FLOATS.values():
            f(x, value)
    assert f.trace_count == len(FLOATS)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "eager"])
def test_a_function_that_branches_on_the_sign_of_zero_sees_each_zero(compiled):
    f = gc.function(lambda x, s: x * math.copysign(1.0, s), eager=not compiled)
    x = np.ones(1, np.float32)
    assert f(x, 0.0).numpy()[0] == 1.0
    assert f(x, -0.0).numpy()[0] == -1.0
    assert f(x, 0.0).numpy()[0] == 1.0


def test_numbers_of_different_types_with_equal_values_trace_apart():
    f = gc.function(lambda x, s: x * 2 if isinstance(s, bool) else x * s)
    x = np.ones(1, np.float32)
    results = [f(x, s).numpy()[0] for s in (True, 1, 1.0)]
    assert results == [2.0, 1.0, 1.0] and f.trace_count == 3


@pytest.mark.parametrize("value", [complex(math.nan, 0), complex(0, -0.0), complex(1, 2)], ids=str)
def test_complex_arguments_are_keyed_by_bits_too(value):
    f = gc.function(lambda x, c: x + c.real)
    x = np.zeros(1, np.float32)
    for _ in range(5):
        f(x, value)
    assert f.trace_count == 1


def test_floats_nested_in_structures_are_keyed_by_bits():
    f = gc.function(lambda x, options: x * options["scale"][0])
    x = np.ones(1, np.float32)
    for _ in range(5):
        f(x, {"scale": (float("nan"),)})
    assert f.trace_count == 1


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_calling_again_with_the_same_float_never_retraces(value):
    f = scale()
    x = np.ones(1, np.float32)
    f(x, value)
    f(x, float(np.float64(value)))  # an equal float, another object
    assert f.trace_count == 1
