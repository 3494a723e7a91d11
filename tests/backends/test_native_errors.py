"""What native code refuses, it refuses as the interpreter and eager mode do: the same exception class,
naming the same op and the user's line, with no variable half-updated; and a bug inside the compiler
surfaces as an InternalCompilerError that says where.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import target
from graphc.backends.llvm.lowering import ELEMENT, Lowering
from graphc.ir.registry import get_op

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")
BACKENDS = ("llvm", "numpy")


def _raised(fn, *args) -> gc.errors.GraphcError:
    with pytest.raises(gc.errors.GraphcError) as info:
        fn(*args)
    return info.value


# -- integers to negative powers ---------------------------------------------------------------------
def _power(x, y):
    return x ** y  # the line errors must name


POWER_LINE = _power.__code__.co_firstlineno + 1

# (x, y): at least one element of the broadcast y is negative
NEGATIVE_POWERS = {
    "one of many": (np.array([2, 3, 4]), np.array([1, -1, 2])),
    "a scalar exponent": (np.array([2, 3]), np.array(-1)),
    "base one": (np.array([1, 1]), np.array([0, -3])),
    "base zero": (np.array([0]), np.array([-1])),
    "the most negative exponent": (np.array([5]), np.array([np.iinfo(np.int64).min])),
    "a broadcast row": (np.arange(6).reshape(3, 2), np.array([[2, -2]])),
}


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", NEGATIVE_POWERS)
def test_an_integer_to_a_negative_power_raises_naming_pow_and_the_line(case, backend, dynamic, dtype):
    limits = np.iinfo(dtype)
    x, y = (np.clip(a, limits.min, limits.max).astype(dtype) for a in NEGATIVE_POWERS[case])
    signature = [gc.TensorSpec([None] * a.ndim, dtype) for a in (x, y)] if dynamic else None
    error = _raised(gc.function(_power, input_signature=signature, backend=backend), x, y)
    eager = _raised(_power, gc.constant(x), gc.constant(y))
    assert type(error) is type(eager) is gc.errors.InvalidArgumentError
    assert error.op == eager.op == "pow"
    assert error.message.lower().rstrip(".") == "integers to negative integer powers are not allowed"
    assert f"{__file__}:{POWER_LINE}" in str(error)


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_powers_wrap_like_numpy_and_an_empty_result_refuses_nothing(backend):
    power = gc.function(_power, backend=backend)
    x = np.array([2, -3, np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0, 7])
    y = np.array([63, 41, 2, 3, 0, 0])
    np.testing.assert_array_equal(power(x, y).numpy(), np.power(x, y))
    empty = power(np.zeros((0, 2), np.int64), np.array([[-1, 2]]))
    assert empty.shape == (0, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_power_leaves_variables_as_they_were(backend):
    v = gc.Variable(np.array([1.0, 2.0]))

    @gc.function(backend=backend)
    def step(x, y):
        v.assign(v * 3.0)
        return gc.cast(x ** y, gc.float64) + v

    with pytest.raises(gc.errors.InvalidArgumentError, match="negative integer powers"):
        step(np.array([2, 2]), np.array([1, -1]))
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(step(np.array([2, 2]), np.array([1, 2])).numpy(), [5.0, 10.0])


# -- bugs inside the compiler ------------------------------------------------------------------------
def _add_one(x):
    return x + 1.0  # the line internal errors must name


def _broken_lowering(*args):
    raise KeyError("a value the lowering did not expect")


def test_an_exception_inside_an_ops_lowering_is_an_internal_compiler_error_naming_the_op_and_line(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    monkeypatch.setitem(get_op("add").implementations, ELEMENT, Lowering(_broken_lowering, lambda dtype: False))
    error = _raised(gc.function(_add_one), np.ones(3))
    assert isinstance(error, gc.errors.InternalCompilerError) and isinstance(error, RuntimeError)
    assert "add" in error.op and "KeyError" in error.message
    assert f"{__file__}:{_add_one.__code__.co_firstlineno + 1}" in str(error)
    assert isinstance(error.__cause__, KeyError)


def test_an_exception_inside_llvm_is_an_internal_compiler_error_naming_the_graph(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")

    def broken(ir_text, *context):
        raise RuntimeError("LLVM verifier: broken module")

    monkeypatch.setattr(target, "parse", broken)
    error = _raised(gc.function(_add_one), np.ones(3))
    assert isinstance(error, gc.errors.InternalCompilerError)
    assert "_add_one" in error.message and "LLVM verifier" in error.message
