"""How arrays from outside enter graphc: NumPy dtypes graphc lacks, and conversions that could change values.

graphc computes in bool, int8, int16, int32, int64, uint8, uint16, float16, float32 and float64: arrays
of these dtypes enter as they are (a uint8 image stays uint8, as in TensorFlow). Wherever an array
enters (``gc.constant`` and ``gc.convert_to_tensor``, eager op inputs, arrays used inside a traced
function, ``@gc.function`` arguments, ``gc.Variable`` values, ``Dataset.from_tensor_slices``,
``Model.fit/evaluate/predict``), other NumPy dtypes are converted by one rule, which keeps every value
exactly:

- uint32 widens to int64;
- uint64 becomes int64 when every value fits (a larger value is a ``DTypeError``);
- any other dtype (complex, string, object, datetime) is a ``DTypeError``.

The result's dtype depends on the input's dtype only, so a traced function sees one signature.

Converting to a given, narrower dtype (an ``input_signature``, a variable's dtype, ``gc.constant(x,
dtype)``) never wraps around: an integer outside the target's range, or a NaN, infinite or too large
float into an integer dtype, is a ``DTypeError`` naming both dtypes and the offending value. The check
runs only when the target cannot hold every value of the source dtype. float64 to float32 or float16
rounds to the nearest value, as TensorFlow does (values beyond the range become infinite).
(``gc.cast`` is the explicit conversion: it wraps integers around as TensorFlow's Cast does.)
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError
from .types import DType, as_dtype, int64

WIDENED = {np.dtype(np.uint32): int64, np.dtype(np.uint64): int64}


def supported_dtype(dtype) -> DType:
    """The graphc dtype an array of NumPy ``dtype`` enters as (see the module docstring)."""
    widened = WIDENED.get(np.dtype(dtype)) if isinstance(dtype, np.dtype) else None
    return widened or as_dtype(dtype)


def supported_array(array: np.ndarray) -> np.ndarray:
    """``array`` itself when graphc supports its dtype, else a copy widened by the module's rule."""
    target = WIDENED.get(array.dtype)
    if target is None:
        as_dtype(array.dtype)  # rejects complex, strings, objects with the list of supported dtypes
        return array
    return converted(array, target)


def converted(array: np.ndarray, dtype: DType) -> np.ndarray:
    """``array`` as ``dtype``; a ``DTypeError`` when a value would not survive the conversion (an
    integer out of range, a non-finite or too large float into an integer dtype)."""
    target = dtype.numpy
    if array.dtype.kind == "O":  # what np.asarray makes of a Python int beyond 64 bits
        raise DTypeError(f"cannot convert {_abbreviated(array)} to {target}: not a number of a supported dtype")
    if array.dtype != target and target.kind in "iu" and not np.can_cast(array.dtype, target, "safe"):
        _check_in_range(array, target)
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, as documented above
        return array.astype(target)


def same_kind(source: np.dtype, target: DType) -> bool:
    """Whether a value of NumPy dtype ``source`` may stand where ``target`` is expected, as TensorFlow
    allows: bool for bool, integer for integer, integer or float for float."""
    kind = np.dtype(source).kind
    if target.is_bool:
        return kind == "b"
    if target.is_integer:
        return kind in "iu"
    return kind in "iuf"


def _abbreviated(array: np.ndarray) -> str:
    return np.array2string(array, threshold=6, edgeitems=2)


def _check_in_range(array: np.ndarray, target: np.dtype) -> None:
    if array.size == 0 or array.dtype.kind not in "iuf":
        return
    limits = np.iinfo(target)
    low, high = array.min(), array.max()
    if array.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        bad = low if not np.isfinite(low) else high
        raise DTypeError(f"cannot convert {array.dtype} value {bad} to {target}: it has no integer value")
    # compare as Python numbers: exact for every integer, and for floats against the int64 limits
    bad = low if int(low) < limits.min else high if int(high) > limits.max else None
    if bad is not None:
        raise DTypeError(
            f"cannot convert {array.dtype} value {bad} to {target}: it is outside {target}'s range "
            f"[{limits.min}, {limits.max}]"
        )
