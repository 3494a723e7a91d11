"""Sorting along an axis, as TensorFlow's ``tf.sort``, ``tf.argsort`` and ``tf.math.top_k``.

Each element's rank is the number of elements of its row that come before it (smaller, or equal
and earlier: a stable order; NaN comes after every number in ascending order and before them in
descending order, as NumPy's sort puts it last). The sorted row then picks, for each rank, the one
element that has it: a selection with ``where``, exact for every value (-0.0, inf and NaN
included: the row's minimum once every other element is replaced by +inf) and differentiable. Built from comparisons and sums, so it is native code with
gradients, at a cost of n^2 comparisons per row of n: meant for rows of up to a few thousand.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, normalize_axis
from ..dispatch import type_of
from ..errors import InvalidArgumentError, ShapeError
from ..types import int32
from . import elementwise as ew
from . import reduction as red
from .common import promote, require, shape_of, user_op
from .creation import constant, full_like
from .indexing import getitem
from .shape import expand_dims, transpose

DIRECTIONS = ("ASCENDING", "DESCENDING")


def _ranks_and_selection(x, descending: bool):
    """(rank of each element of the last axis, selection[..., p, i]: element i has rank p)."""
    n = shape_of(x)[-1]
    if not isinstance(n, int):
        raise ShapeError(f"sorting needs the size of the sorted axis known when traced, not only at run time; got {n}")
    a, b = expand_dims(x, -1), expand_dims(x, -2)  # a[..., i, j] = x_i, b[..., i, j] = x_j
    earlier = constant(np.tril(np.ones((n, n), bool), -1))  # j < i
    if type_of(x).dtype.is_floating:
        nan_a, nan_b = ew.is_nan(a), ew.is_nan(b)
        ahead = ew.greater(b, a) if descending else ew.less(b, a)
        ahead = ew.logical_or(ahead, ew.logical_and(nan_b, ew.logical_not(nan_a)) if descending
                              else ew.logical_and(nan_a, ew.logical_not(nan_b)))
        tie = ew.logical_or(ew.equal(a, b), ew.logical_and(nan_a, nan_b))
    else:
        ahead = ew.greater(b, a) if descending else ew.less(b, a)
        tie = ew.equal(a, b)
    before = ew.logical_or(ahead, ew.logical_and(tie, earlier))  # x_j comes before x_i
    ranks = red.reduce_sum(ew.cast(before, int32), -1)
    selection = ew.equal(expand_dims(ranks, -2), constant(np.arange(n, dtype=np.int32)[:, None]))
    return ranks, selection


def _moved(values, axis):
    """``values`` with ``axis`` last, and the permutation that undoes it."""
    rank = len(shape_of(values))
    axis = normalize_axis(axis, rank)
    perm = [a for a in range(rank) if a != axis] + [axis]
    back = list(np.argsort(perm))
    return (transpose(values, perm) if axis != rank - 1 else values), back


def _direction(direction) -> bool:
    if str(direction).upper() not in DIRECTIONS:
        raise InvalidArgumentError(f"direction must be 'ASCENDING' or 'DESCENDING', got {direction!r}")
    return str(direction).upper() == "DESCENDING"


def _sorted_and_indices(x, descending: bool):
    _, selection = _ranks_and_selection(x, descending)
    n = shape_of(x)[-1]
    dtype = type_of(x).dtype
    largest = np.inf if dtype.is_floating else np.iinfo(dtype.numpy).max
    # one element per rank, the others the largest value: the minimum is that element, -0.0 and NaN too
    values = red.reduce_min(ew.where(selection, expand_dims(x, -2), full_like(selection, largest, dtype)), -1)
    positions = constant(np.arange(n, dtype=np.int32))
    indices = red.reduce_sum(ew.where(selection, positions, full_like(selection, 0, int32)), -1)
    return values, indices


@user_op("sort")
def sort(values, axis=-1, direction="ASCENDING"):
    """``values`` sorted along ``axis`` (NaN last in ascending order, first in descending)."""
    (values,) = promote(values)
    require(type_of(values).dtype, numeric=True, what="values")
    descending = _direction(direction)
    x, back = _moved(values, axis)
    result, _ = _sorted_and_indices(x, descending)
    return transpose(result, back) if back != list(range(len(back))) else result


@user_op("argsort")
def argsort(values, axis=-1, direction="ASCENDING", stable=False):
    """The int32 positions that sort ``values`` along ``axis`` (always stable: equal elements keep
    their order, so ``stable`` changes nothing)."""
    (values,) = promote(values)
    descending = _direction(direction)
    x, back = _moved(values, axis)
    _, indices = _sorted_and_indices(x, descending)
    return transpose(indices, back) if back != list(range(len(back))) else indices


@user_op("top_k")
def top_k(input, k=1, sorted=True):
    """The ``k`` largest elements of the last axis and their int32 positions, largest first (equal
    elements in order of position; NaN counts as the largest), as ``tf.math.top_k``."""
    (x,) = promote(input)
    n = shape_of(x)[-1] if shape_of(x) else None
    k = as_int(k, "k", low=0)
    if n is None:
        raise ShapeError("top_k needs an input with at least one axis")
    if isinstance(n, int) and k > n:
        raise InvalidArgumentError(f"k = {k} is more than the {n} elements of the last axis")
    values, indices = _sorted_and_indices(x, descending=True)
    return getitem(values, (Ellipsis, slice(0, k))), getitem(indices, (Ellipsis, slice(0, k)))
