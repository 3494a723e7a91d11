"""Segment reductions, as TensorFlow's ``tf.math.(unsorted_)segment_sum`` and ``_mean``: the rows
of ``data`` that share a segment id summed (or averaged) into that segment's row. Built on
``scatter_nd``, so they have gradients (a gather of the segments' cotangents) and native code.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_size
from ..dispatch import type_of
from ..errors import ShapeError
from ..types import int64
from . import elementwise as ew
from .common import promote, require, shape_of, user_op
from .creation import ones_like, zeros_like
from .nd_indexing import concrete_values, scatter_nd
from .shape import expand_dims, reshape


@user_op("unsorted_segment_sum")
def unsorted_segment_sum(data, segment_ids, num_segments):
    """``out[s] = sum of data[i]`` over the positions i (of ``segment_ids``' shape, a prefix of
    ``data``'s) whose id is s; shape ``[num_segments] + data.shape[ids.ndim:]``. Rows with a negative
    id are dropped, as in TensorFlow; an id of ``num_segments`` or more is an error."""
    (data,) = promote(data)
    ids, num_segments = _checked(data, segment_ids, num_segments)
    kept = ew.greater_equal(ids, 0)
    rows = _broadcast_rows(kept, data)
    return scatter_nd(expand_dims(ew.where(kept, ids, 0), -1), ew.where(rows, data, zeros_like(data)),
                      [num_segments] + _rest(data, ids))


@user_op("unsorted_segment_mean")
def unsorted_segment_mean(data, segment_ids, num_segments):
    """The mean of each segment's rows (0 for an empty segment)."""
    (data,) = promote(data, to_float=True)
    total = unsorted_segment_sum(data, segment_ids, num_segments)
    ones = ew.cast(ones_like(segment_ids), type_of(data).dtype)
    count = unsorted_segment_sum(ones, segment_ids, num_segments)
    count = reshape(count, [-1] + [1] * (len(shape_of(total)) - 1))
    return ew.divide(total, ew.maximum(count, 1))


@user_op("segment_sum")
def segment_sum(data, segment_ids):
    """``unsorted_segment_sum`` for sorted ids, with as many segments as the largest id + 1; the ids
    must be known when traced (the result's size depends on them)."""
    ids = _sorted_ids(segment_ids)
    return unsorted_segment_sum(data, ids, int(ids.max()) + 1 if ids.size else 0)


@user_op("segment_mean")
def segment_mean(data, segment_ids):
    """``unsorted_segment_mean`` for sorted ids (see ``segment_sum``)."""
    ids = _sorted_ids(segment_ids)
    return unsorted_segment_mean(data, ids, int(ids.max()) + 1 if ids.size else 0)


def _sorted_ids(segment_ids) -> np.ndarray:
    ids = concrete_values(segment_ids)
    if ids is None:
        raise ShapeError("the number of segments is the largest id + 1, which a traced function knows only at run "
                         "time: pass the ids as a constant, call it eagerly, or use unsorted_segment_sum with "
                         "num_segments")
    ids = np.asarray(ids)
    if ids.ndim != 1 or np.any(np.diff(ids) < 0) or (ids.size and ids[0] < 0):
        raise ShapeError(f"segment_ids must be a sorted vector of ids >= 0, got {ids.tolist()}")
    return ids


def _checked(data, segment_ids, num_segments):
    require(type_of(segment_ids).dtype, integer=True, what="segment_ids")
    ids, dshape = ew.cast(segment_ids, int64), shape_of(data)
    ishape = shape_of(ids)
    if len(ishape) > len(dshape) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                        for a, b in zip(ishape, dshape)):
        raise ShapeError(f"segment_ids of shape {list(ishape)} must be a prefix of data's shape {list(dshape)}")
    return ids, as_size(num_segments, "num_segments")


def _rest(data, ids) -> list:
    return list(shape_of(data)[len(shape_of(ids)):])


def _broadcast_rows(kept, data):
    """``kept`` (the ids' shape) with size-1 axes for data's trailing axes, to select its rows."""
    for _ in _rest(data, kept):
        kept = expand_dims(kept, -1)
    return kept
