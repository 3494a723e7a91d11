"""The integer arguments of ops, layers and datasets, checked in one place: axes, sizes, counts, shapes.

An int is a Python int, a NumPy integer or anything else with ``__index__`` (an eager integer
tensor); never a bool, a float (not even ``2.0``) or a string. A wrong type raises
``ArgumentTypeError`` (a TypeError), a value out of range ``InvalidArgumentError`` (a ValueError,
``ShapeError`` for an axis); each message names the argument, what it must be and what it got.
Every size fits int64, and so does the product of a shape's nonzero sizes.
"""
from __future__ import annotations

import contextlib
import operator

import numpy as np

from .errors import ArgumentTypeError, GraphcError, InvalidArgumentError, ShapeError
from .location import user_line

INT64_MAX = 2**63 - 1
_SHOWN_LENGTH = 60


def described(value) -> str:
    """``value`` for an error message: short, with its type."""
    if isinstance(value, int) and value.bit_length() > 256:
        text = f"about 10**{int(value.bit_length() * 0.30103)}"  # str() of a huge int is slow, or refused
    else:
        text = " ".join(repr(value).split())
    if len(text) > _SHOWN_LENGTH:
        text = text[:_SHOWN_LENGTH - 3] + "..."
    return f"{text} ({type(value).__name__})"


def as_int(value, what: str, *, low: int | None = None, high: int | None = INT64_MAX) -> int:
    """``value`` as a Python int from ``low`` to ``high`` (None: no bound)."""
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{what} must be an int, got {described(value)}")
    try:
        number = operator.index(value)
    except GraphcError:
        raise
    except TypeError:
        raise ArgumentTypeError(f"{what} must be an int, got {described(value)}") from None
    if low is not None and number < low:
        expected = {0: "an int >= 0", 1: "a positive int"}.get(low, f"an int >= {low}")
        raise InvalidArgumentError(f"{what} must be {expected}, got {described(number)}")
    if high is not None and number > high:
        upper = "2**63 - 1" if high == INT64_MAX else str(high)
        raise InvalidArgumentError(f"{what} must be at most {upper}, got {described(number)}")
    return number


def as_fraction(value, what: str) -> float:
    """A real number from 0 to 1 (a momentum, a rate) as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{what} must be a number in [0, 1], got {described(value)}")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidArgumentError(f"{what} must be in [0, 1], got {described(value)}")
    return float(value)


def as_size(value, what: str) -> int:
    """A size or count: an int from 0 to 2**63 - 1."""
    return as_int(value, what, low=0)


def as_list(value, what: str) -> list:
    """A list, tuple or 1-D array as a list (of the items to check one by one)."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return list(value)
    raise ArgumentTypeError(f"{what} must be a list or tuple of ints, got {described(value)}")


def is_list(value) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def as_shape(shape, what: str = "shape", *, one_int: bool = False, unknown: bool = False,
             inferred: bool = False) -> tuple:
    """A shape: a list or tuple (or 1-D integer array) of sizes. ``one_int`` accepts a lone int as a
    1-D shape, ``unknown`` None for a size known only at run time, ``inferred`` one -1 for a size to
    infer (as in reshape). The product of its nonzero sizes must fit int64 too (strides are int64)."""
    if one_int and not is_list(shape):
        if isinstance(shape, (bool, np.bool_, np.ndarray)) or not hasattr(shape, "__index__"):
            raise ArgumentTypeError(f"{what} must be an int or a list or tuple of ints, got {described(shape)}")
        shape = [shape]
    dims = as_list(shape, what)
    result = tuple(_dim(d, f"{what}[{i}]", unknown, inferred) for i, d in enumerate(dims))
    if result.count(-1) > 1:
        raise ShapeError(f"{what} may hold one -1 (the size to infer), got {list(result)}")
    count = 1
    for d in result:
        count *= d if isinstance(d, int) and d > 0 else 1
    if count > INT64_MAX:  # before any product wraps; a tensor of this shape checks its bytes too (types.check_size)
        dims = ",".join("None" if d is None else str(d) for d in result)
        raise ShapeError(f"{what} [{dims}] has more than 2**63 - 1 elements: more than one tensor may hold")
    return result


def _dim(d, what: str, unknown: bool, inferred: bool):
    if d is None and unknown:
        return None
    try:
        return as_int(d, what, low=-1 if inferred else 0)
    except ArgumentTypeError:
        if not unknown:
            raise
        raise ArgumentTypeError(f"{what} must be an int or None, got {described(d)}") from None


def normalize_axis(axis, ndim: int, what: str = "axis") -> int:
    """``axis`` of a tensor of rank ``ndim`` as a position from 0 (negative axes count from the end)."""
    axis = as_int(axis, what, high=None)
    if ndim == 0:
        raise ShapeError(f"a scalar has no axes, got {what} {described(axis)}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} must be in [-{ndim}, {ndim}) for a tensor of rank {ndim}, got {described(axis)}")
    return axis % ndim


def normalize_axes(axis, ndim: int, what: str = "axis", *, none_means_all: bool = True) -> tuple[int, ...]:
    """An int or a sequence of ints (None: every axis, where ``none_means_all``). Sorted, without duplicates."""
    if axis is None and none_means_all:
        return tuple(range(ndim))
    if is_list(axis):
        axes = [normalize_axis(a, ndim, f"{what}[{i}]") for i, a in enumerate(axis)]
    else:
        axes = [normalize_axis(axis, ndim, what)]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{what} {list(axis)} names an axis twice")
    return tuple(sorted(axes))


@contextlib.contextmanager
def arguments_of(name: str):
    """Errors raised inside name ``name`` (a layer, method or class) and the caller's source line."""
    try:
        yield
    except GraphcError as error:
        raise error.with_context(op=name, location=user_line()) from None
