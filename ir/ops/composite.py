"""Ops built from the primitives: they need no kernels or gradient rules of their own."""
from __future__ import annotations

import math

from ..arguments import as_size, normalize_axes, normalize_axis
from ..dispatch import bind, name_scope
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..types import WEAK_INT, DType, int32, int64, float16, float32, as_dtype
from . import elementwise as ew
from . import reduction as red
from . import shape as sh
from .common import cast_to, dtype_kind, kind_name, promote, shape_of, user_op
from .creation import range_
from .state import stop_gradient


@user_op("reduce_mean")
def reduce_mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (None: all), as TensorFlow's: an integer mean keeps the dtype, the sum (in
    int64) divided by the count and truncated toward zero (an empty one is 0); bool averages as
    float. A float16 mean is the float32 mean rounded once, as TensorFlow's (its sum and count may
    exceed float16's range). ``gc.mean`` is NumPy's (integers average as floats)."""
    dtype = dtype_kind(x)
    if dtype.is_integer:
        return _integer_mean(x, normalize_axes(axis, len(shape_of(x))), keepdims)
    (x,) = promote(x, to_float=True)
    if dtype_kind(x) == float16:
        return ew.cast(reduce_mean(ew.cast(x, float32), axis, keepdims), float16)
    axes = normalize_axes(axis, len(shape_of(x)))
    total = red.reduce_sum(x, axes, keepdims)
    return ew.divide(total, red.dim_size(x, axes, dtype_kind(x)))


def _integer_mean(x, axes, keepdims):
    total = red.reduce_sum(ew.cast(x, int64), axes, keepdims)
    count = ew.maximum(red.dim_size(x, axes, int64), 1)  # an empty sum is 0, and so its mean
    floor = ew.floordiv(total, count)
    remainder = ew.subtract(total, ew.multiply(floor, count))
    rounds_down = ew.logical_and(ew.less(total, 0), ew.not_equal(remainder, 0))  # toward zero, not -inf
    return ew.cast(ew.where(rounds_down, ew.add(floor, 1), floor), dtype_kind(x))


@user_op("mean")
def mean(x, axis=None, keepdims=False):
    """NumPy's mean over ``axis``: ``reduce_mean``, but integers average as floats."""
    (x,) = promote(x, to_float=True)
    return reduce_mean(x, axis, keepdims)


@user_op("reduce_variance")
def reduce_variance(x, axis=None, keepdims=False):
    """Population variance over ``axis``."""
    (x,) = promote(x, to_float=True)
    mean = reduce_mean(x, axis, keepdims=True)
    return reduce_mean(ew.square(ew.subtract(x, mean)), axis, keepdims)


@user_op("reduce_std")
def reduce_std(x, axis=None, keepdims=False):
    """Population standard deviation over ``axis``."""
    return ew.sqrt(reduce_variance(x, axis, keepdims))


@user_op("reduce_logsumexp")
def reduce_logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
    with name_scope("logsumexp"):
        (x,) = promote(x, to_float=True)
        axes = normalize_axes(axis, len(shape_of(x)))
        peak = max_shift(x, axes)
        summed = red.reduce_sum(ew.exp(ew.subtract(x, peak)), axes, keepdims=True)
        result = ew.add(ew.log(summed), peak)
        return result if keepdims else sh.squeeze(result, axes)


def max_shift(x, axes):
    """The maximum over ``axes`` that a stable sum of exponentials subtracts, seen as a constant by
    differentiation; 0 where it is infinite (to avoid inf - inf) or when the axes are empty (also
    when they turn out empty only at run time: the maximum of nothing is then -inf)."""
    shape = shape_of(x)
    if any(shape[a] == 0 for a in axes):
        return 0.0
    symbolic = any(isinstance(shape[a], str) for a in axes)
    peak = stop_gradient(bind("reduce_max", x, axes=axes, keepdims=True, **({"allow_empty": True} if symbolic else {})))
    return ew.where(ew.equal(ew.abs(peak), math.inf), 0.0, peak)


@user_op("softmax")
def softmax(logits, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum for stability. Each exponential
    is multiplied by the reciprocal of its sum, as TensorFlow's CPU kernel does: one division per row
    instead of one per element (a division costs several multiplications: W2 1.56 -> 1.33 ms), within
    about 1 ulp of the exact quotient."""
    with name_scope("softmax"):
        (x,) = promote(logits, to_float=True)
        axis = normalize_axis(axis, len(shape_of(x)))
        e = ew.exp(ew.subtract(x, max_shift(x, (axis,))))
        return ew.multiply(e, ew.reciprocal(red.reduce_sum(e, axis, keepdims=True)))


@user_op("log_softmax")
def log_softmax(logits, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    with name_scope("log_softmax"):
        (x,) = promote(logits, to_float=True)
        axis = normalize_axis(axis, len(shape_of(x)))
        return ew.subtract(x, reduce_logsumexp(x, axis, keepdims=True))


@user_op("norm")
def norm(x, ord="euclidean", axis=None, keepdims=False):
    """The vector norm over ``axis``: ``ord`` is 'euclidean' (2), 1, or inf."""
    (x,) = promote(x, to_float=True)
    if ord in ("euclidean", 2, "fro"):
        return ew.sqrt(red.reduce_sum(ew.square(x), axis, keepdims))
    if ord == 1:
        return red.reduce_sum(ew.abs(x), axis, keepdims)
    if ord in (math.inf, "inf", float("inf")):
        return red.reduce_max(ew.abs(x), axis, keepdims)
    raise InvalidArgumentError(f"ord must be 'euclidean', 2, 1 or inf, got {ord!r}")


@user_op("softplus")
def softplus(x):
    """``log(1 + exp(x))``, stable for large |x|: ``x + log1p(exp(-x))`` above 0, ``log1p(exp(x))``
    at and below it. Each branch reads only its side of 0, so neither overflows, and the derivative
    is sigmoid(x) everywhere (0.5 at 0, where relu(x) + log1p(exp(-|x|)) would give 0)."""
    (x,) = promote(x, to_float=True)
    positive = ew.greater(x, 0.0)
    above, below = ew.where(positive, x, 0.0), ew.where(positive, 0.0, x)
    return ew.where(positive, ew.add(above, ew.log1p(ew.exp(ew.negative(above)))), ew.log1p(ew.exp(below)))


@user_op("gelu")
def gelu(x, approximate=False):
    """Gaussian error linear unit; ``approximate=True`` is the tanh form."""
    with name_scope("gelu"):
        (x,) = promote(x, to_float=True)
        if approximate:
            inner = ew.multiply(math.sqrt(2 / math.pi), ew.add(x, ew.multiply(0.044715, ew.multiply(x, ew.square(x)))))
            return ew.multiply(ew.multiply(0.5, x), ew.add(1.0, ew.tanh(inner)))
        return ew.multiply(ew.multiply(0.5, x), ew.add(1.0, ew.erf(ew.multiply(x, 1 / math.sqrt(2)))))


@user_op("clip_by_value")
def clip_by_value(x, clip_value_min, clip_value_max):
    """``x`` limited to ``[clip_value_min, clip_value_max]`` elementwise."""
    return ew.minimum(ew.maximum(x, clip_value_min), clip_value_max)


@user_op("one_hot")
def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=float32):
    """A new last axis (or ``axis``) of size ``depth``: ``on_value`` at each index, else ``off_value``."""
    dtype = as_dtype(dtype)
    depth = as_size(depth, "depth")
    kind = dtype_kind(indices)
    if not (kind.is_integer if isinstance(kind, DType) else kind is WEAK_INT):
        got = kind_name(kind)
        raise DTypeError(f"indices must be integers, got {got}")
    indices = ew.cast(indices, int32) if kind != int32 else indices
    hits = ew.equal(sh.expand_dims(indices, -1), range_(0, depth, 1, int32))
    result = ew.where(hits, cast_to(on_value, dtype), cast_to(off_value, dtype))
    ndim = len(shape_of(result))
    axis = normalize_axis(axis, ndim)
    if axis != ndim - 1:
        perm = list(range(ndim - 1))
        perm.insert(axis, ndim - 1)
        result = sh.transpose(result, tuple(perm))
    return result


@user_op("stack")
def stack(values, axis=0):
    """Joins tensors of one shape along a new ``axis``."""
    if not values:
        raise InvalidArgumentError("needs at least one tensor")
    values = promote(*values)
    ndim = len(shape_of(values[0])) + 1
    axis = normalize_axis(axis, ndim)
    return sh.concat([sh.expand_dims(v, axis) for v in values], axis)


@user_op("unstack")
def unstack(x, axis=0):
    """The slices of ``x`` along ``axis`` (whose size must be known)."""
    shape = shape_of(x)
    axis = normalize_axis(axis, len(shape))
    if not isinstance(shape[axis], int):
        raise ShapeError(f"needs the size of axis {axis}, which is known only at run time")
    if shape[axis] == 0:
        return []
    return [sh.squeeze(part, axis) for part in sh.split(x, shape[axis], axis)]
