"""``variable += value`` and the other in-place operators raise, as TensorFlow's do, instead of silently
rebinding the name to a new tensor and leaving the variable unchanged."""
import numpy as np
import pytest

import graphc as gc

HERE = __file__


def _iadd(v, y): v += y  # noqa: E704
def _isub(v, y): v -= y  # noqa: E704
def _imul(v, y): v *= y  # noqa: E704
def _itruediv(v, y): v /= y  # noqa: E704
def _ifloordiv(v, y): v //= y  # noqa: E704
def _imod(v, y): v %= y  # noqa: E704
def _ipow(v, y): v **= y  # noqa: E704
def _imatmul(v, y): v @= y  # noqa: E704
def _iand(v, y): v &= y  # noqa: E704
def _ior(v, y): v |= y  # noqa: E704


# operator, update, value, the advice the message gives
OPERATORS = [
    ("+=", _iadd, 1.0, "variable.assign_add(value)"), ("-=", _isub, 1.0, "variable.assign_sub(value)"),
    ("*=", _imul, 2.0, "variable.assign(variable * value)"), ("/=", _itruediv, 2.0, "variable.assign(variable / value)"),
    ("//=", _ifloordiv, 2.0, "variable.assign(variable // value)"), ("%=", _imod, 2.0, "variable.assign(variable % value)"),
    ("**=", _ipow, 2.0, "variable.assign(variable ** value)"),
    ("@=", _imatmul, np.eye(2, dtype=np.float32), "variable.assign(variable @ value)"),
    ("&=", _iand, True, "variable.assign(variable & value)"), ("|=", _ior, True, "variable.assign(variable | value)"),
]


def make_variable(operator):
    if operator in ("&=", "|="):
        return gc.Variable(np.array([[True, False], [False, True]]), name="v")
    return gc.Variable(np.ones((2, 2), np.float32), name="v")


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
@pytest.mark.parametrize("operator, update, value, advice", OPERATORS, ids=[c[0] for c in OPERATORS])
def test_an_in_place_operator_on_a_variable_raises_and_changes_nothing(operator, update, value, advice, traced):
    v = make_variable(operator)
    before = v.numpy()
    run = gc.function(lambda: update(v, value)) if traced else (lambda: update(v, value))
    with pytest.raises(gc.errors.InPlaceOperatorError) as info:
        run()
    assert isinstance(info.value, RuntimeError)  # as TensorFlow raises
    message = str(info.value)
    assert f"`variable {operator} value` is not supported on gc.Variable 'v'" in message
    assert advice in message
    assert info.value.location == f"{HERE}:{update.__code__.co_firstlineno}"
    np.testing.assert_array_equal(v.numpy(), before)


def test_the_binary_operators_still_give_new_tensors_and_assign_add_updates():
    v = gc.Variable(np.ones(2, np.float32))
    w = v + 1.0
    assert isinstance(w, gc.Tensor) and isinstance(v, gc.Variable)
    v.assign_add([1.0, 2.0])
    np.testing.assert_array_equal(v.numpy(), [2, 3])
    np.testing.assert_array_equal(w.numpy(), [2, 2])
