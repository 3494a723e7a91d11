"""TensorFlow's slicing functions, ``slice`` and ``strided_slice``, written as the basic index
``getitem`` takes (``x[begin:end:stride, ...]``): they share its kernels and gradients."""
from __future__ import annotations

from ..arguments import as_int, as_size
from ..errors import InvalidArgumentError, ShapeError
from .common import int_list, shape_of, unchanged, user_op
from .indexing import getitem


@user_op("slice")
def slice_(input_, begin, size):
    """``size[d]`` elements of ``input_`` from ``begin[d]`` on each axis d (``tf.slice``); a size of -1
    takes the rest of the axis. Bounds are checked against the sizes known when tracing; a size known
    only at run time clips them, as Python slicing does."""
    x = unchanged(input_)
    shape = shape_of(x)
    begin, size = int_list(begin, "begin"), int_list(size, "size")
    if not len(begin) == len(size) == len(shape):
        raise ShapeError(f"begin and size must have one entry per axis ({len(shape)}), got {len(begin)} and {len(size)}")
    index = []
    for axis, (start, count, dim) in enumerate(zip(begin, size, shape)):
        start, count = as_size(start, f"begin[{axis}]"), as_int(count, f"size[{axis}]", low=-1)
        if isinstance(dim, int) and start > dim:
            raise InvalidArgumentError(f"begin[{axis}] must be in [0, {dim}] (the size of axis {axis}), got {start}")
        if isinstance(dim, int) and count > dim - start:
            raise InvalidArgumentError(
                f"size[{axis}] must be in [-1, {dim - start}] (axis {axis} has size {dim}, begin {start}), got {count}"
            )
        index.append(slice(start, None if count == -1 else start + count))
    return getitem(x, tuple(index))


def _position(value, what: str) -> int:
    """An index, bound or stride: any int64."""
    return as_int(value, what, low=-(2**63))


def _bits(mask, what: str) -> int:
    return as_int(mask, what, low=0)


@user_op("strided_slice")
def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_axis_mask=0):
    """``input_[begin[0]:end[0]:strides[0], ...]`` as ``tf.strided_slice``: bit i of ``begin_mask`` /
    ``end_mask`` leaves out begin[i] / end[i]; of ``ellipsis_mask`` makes item i an ``...``; of
    ``new_axis_mask`` a new size-1 axis; of ``shrink_axis_mask`` the int index begin[i]."""
    x = unchanged(input_)
    begin, end = int_list(begin, "begin"), int_list(end, "end")
    strides = [1] * len(begin) if strides is None else int_list(strides, "strides")
    if not len(begin) == len(end) == len(strides):
        raise ShapeError(f"begin, end and strides must have the same length, got {len(begin)}, {len(end)} and {len(strides)}")
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask = (
        _bits(m, name) for m, name in ((begin_mask, "begin_mask"), (end_mask, "end_mask"), (ellipsis_mask, "ellipsis_mask"),
                                       (new_axis_mask, "new_axis_mask"), (shrink_axis_mask, "shrink_axis_mask")))
    if bin(ellipsis_mask).count("1") > 1:
        raise InvalidArgumentError(f"ellipsis_mask may have one bit set (one '...'), got {bin(ellipsis_mask)}")
    index = []
    for i, (start, stop, step) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            index.append(Ellipsis)
        elif new_axis_mask & bit:
            index.append(None)
        elif shrink_axis_mask & bit:
            index.append(_position(start, f"begin[{i}]"))
        else:
            step = _position(step, f"strides[{i}]")
            if step == 0:
                raise InvalidArgumentError(f"strides[{i}] must not be zero")
            start = None if begin_mask & bit else _position(start, f"begin[{i}]")
            stop = None if end_mask & bit else _position(stop, f"end[{i}]")
            index.append(slice(start, stop, step))
    return getitem(x, tuple(index))
