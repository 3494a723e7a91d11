"""Ops that create tensors: constant, fill (zeros/ones), full_like, range, eye."""
from __future__ import annotations

import math

import numpy as np

from ..arguments import as_shape, as_size
from ..boundary import converted, supported_dtype
from ..dispatch import bind
from ..errors import InvalidArgumentError
from ..types import TensorType, as_dtype, float32, int32, int64, weak_type_of
from .common import define, dtype_kind, static_tensor_type, user_op


def _constant_infer(types, value):
    return [static_tensor_type(value.shape, value.dtype)]


define("constant", _constant_infer, foldable=False)


@user_op("constant")
def constant(value, dtype=None, shape=None):
    """A tensor holding a copy of ``value`` (array-like); Python floats default to float32, ints to int32
    (int64 when they do not fit), NumPy values keep their dtype or widen to a supported one (see
    ``graphc.ir.boundary``). An integer that ``dtype`` cannot hold is an error, never wrapped around."""
    array = np.asarray(value)
    if dtype is None:
        dtype = supported_dtype(array.dtype) if isinstance(value, (np.ndarray, np.generic)) else _python_dtype(array)
    array = converted(array, as_dtype(dtype))
    if shape is not None:
        shape = as_shape(shape, one_int=True)
        try:
            array = np.broadcast_to(array, shape) if array.size == 1 else array.reshape(shape)
        except ValueError:
            raise InvalidArgumentError(f"cannot reshape {array.size} values to shape {list(shape)}") from None
    return bind("constant", value=np.asarray(array, order="C"))


def _python_dtype(array: np.ndarray):
    """TensorFlow's dtype for Python numbers (``array`` holds them): float32, int32 or, for ints out of
    its range, int64."""
    if array.dtype.kind == "f":
        return float32
    if array.dtype.kind in "iu":
        limits = np.iinfo(np.int32)
        fits = array.size == 0 or (array.min() >= limits.min and array.max() <= limits.max)
        return int32 if fits else int64
    return array.dtype


def _fill_infer(types, shape, value, dtype):
    return [TensorType(tuple(shape), as_dtype(dtype))]


define("fill", _fill_infer, fills=True)


@user_op("fill")
def fill(shape, value, dtype=None):
    """A tensor of ``shape`` filled with the scalar ``value``."""
    if dtype is None:
        dtype = _python_dtype(np.asarray(value)) if weak_type_of(value) else dtype_kind(value)
    dtype = as_dtype(dtype)
    return bind("fill", shape=as_shape(shape, one_int=True), value=_scalar(value, dtype), dtype=dtype)


def _scalar(value, dtype):
    return converted(np.asarray(value), dtype).item()


@user_op("zeros")
def zeros(shape, dtype=float32):
    """A tensor of ``shape`` filled with zeros."""
    return fill(shape, 0, as_dtype(dtype))


@user_op("ones")
def ones(shape, dtype=float32):
    """A tensor of ``shape`` filled with ones."""
    return fill(shape, 1, as_dtype(dtype))


def _full_like_infer(types, value, dtype):
    return [TensorType(types[0].shape, as_dtype(dtype))]


define("full_like", _full_like_infer, shape_only_inputs=(0,), fusion_kind="elementwise", fills=True, vjp=lambda cts, inputs, outputs, **a: [None], jvp=lambda t, i, o, **a: [None])


@user_op("full_like")
def full_like(x, value, dtype=None):
    """A tensor shaped like ``x`` filled with ``value`` (the shape may be known only at run time)."""
    dtype = as_dtype(dtype) if dtype is not None else dtype_kind(x)
    return bind("full_like", x, value=_scalar(value, dtype), dtype=dtype)


@user_op("zeros_like")
def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape (and dtype, unless ``dtype`` is given)."""
    return full_like(x, 0, dtype)


@user_op("ones_like")
def ones_like(x, dtype=None):
    """Ones of ``x``'s shape (and dtype, unless ``dtype`` is given)."""
    return full_like(x, 1, dtype)


def _range_infer(types, start, limit, delta, dtype):
    return [TensorType((range_length(start, limit, delta),), as_dtype(dtype))]


def range_length(start, limit, delta) -> int:
    """The length of ``np.arange(start, limit, delta)``, computed without making the array."""
    if delta == 0:
        raise InvalidArgumentError("delta must not be zero")
    if all(isinstance(v, int) for v in (start, limit, delta)):
        return len(range(start, limit, delta))
    steps = (limit - start) / delta
    if not math.isfinite(steps):
        raise InvalidArgumentError(f"range({start}, {limit}, {delta}) has no finite length")
    return max(0, math.ceil(steps))


define("range", _range_infer)


@user_op("range")
def range_(start, limit=None, delta=1, dtype=None):
    """``[start, start + delta, ...)`` up to ``limit`` (like ``tf.range`` and ``np.arange``)."""
    if limit is None:
        start, limit = 0, start
    for name, v in (("start", start), ("limit", limit), ("delta", delta)):
        if weak_type_of(v) is None and not isinstance(v, np.generic):
            raise InvalidArgumentError(f"{name} must be a Python number, got {type(v).__name__}")
    # NumPy scalars become Python numbers: attributes stay plain (and printable in the text IR)
    start, limit, delta = (v.item() if isinstance(v, np.generic) else v for v in (start, limit, delta))
    if dtype is None:
        dtype = float32 if any(isinstance(v, float) for v in (start, limit, delta)) else int32
    return bind("range", start=start, limit=limit, delta=delta, dtype=as_dtype(dtype))


def _eye_infer(types, num_rows, num_columns, dtype):
    return [TensorType((num_rows, num_columns), as_dtype(dtype))]


define("eye", _eye_infer)


@user_op("eye")
def eye(num_rows, num_columns=None, dtype=float32):
    """The identity matrix (ones on the main diagonal)."""
    rows = as_size(num_rows, "num_rows")
    cols = rows if num_columns is None else as_size(num_columns, "num_columns")
    as_shape([rows, cols])  # the element count fits int64
    return bind("eye", num_rows=rows, num_columns=cols, dtype=as_dtype(dtype))
