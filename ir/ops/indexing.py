"""Indexing: basic NumPy indexing (``getitem``) and its adjoint ``scatter_slice``; ``gather`` and its
adjoint ``scatter_add``.

``getitem``'s ``index`` attribute is a tuple of ints, slices and None with any Ellipsis expanded,
so kernels apply it as ``x[index]``.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, normalize_axis
from ..dispatch import bind, type_of
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..types import TensorType, fresh_dim, weak_type_of
from .common import cast_to, define, require, shape_of, user_op
from .creation import zeros_like
from .shape import broadcast_like, broadcast_to, expand_dims, transpose


def _slice_length(s: slice, dim):
    if isinstance(dim, int):
        return len(range(*s.indices(dim)))
    if s.start is None and s.stop is None and s.step in (None, 1, -1):
        return dim
    return fresh_dim()


def indexed_shape(shape, index) -> tuple:
    out, axis = [], 0
    for item in index:
        if item is None:
            out.append(1)
        elif isinstance(item, slice):
            out.append(_slice_length(item, shape[axis]))
            axis += 1
        else:
            axis += 1
    return tuple(out) + tuple(shape[axis:])


def normalize_index(index, shape) -> tuple:
    """Expands Ellipsis and checks every item against ``shape``; returns a tuple of int/slice/None."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if not (item is None or item is Ellipsis or isinstance(item, slice) or _is_int(item)):
            raise InvalidArgumentError(
                f"only basic indexing is supported (ints, slices, None, ...), got {type(item).__name__}: "
                "use gc.gather for an index tensor and gc.where for conditions"
            )
    if sum(item is Ellipsis for item in index) > 1:
        raise InvalidArgumentError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in index)
    if used > len(shape):
        raise ShapeError(f"too many indices: {used} for a tensor of rank {len(shape)}")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - used) + index[at + 1:]
    result, axis = [], 0
    for item in index:
        if item is None:
            result.append(None)
            continue
        dim = shape[axis]
        if isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and not _is_int(part):
                    raise InvalidArgumentError(f"slice bounds must be Python ints, got {item}")
            if item.step == 0:
                raise InvalidArgumentError("slice step cannot be zero")
            result.append(slice(*(None if p is None else int(p) for p in (item.start, item.stop, item.step))))
        else:
            item = int(item)
            if isinstance(dim, int) and not -dim <= item < dim:
                raise InvalidArgumentError(f"index {item} is out of bounds for axis {axis} with size {dim}")
            result.append(item)
        axis += 1
    return tuple(result)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _getitem_infer(types, index):
    (t,) = types
    axis = 0
    for item in index:  # ints are checked here too: a size known only at run time is checked then
        if item is None:
            continue
        dim = t.shape[axis]
        if not isinstance(item, slice) and isinstance(dim, int) and not -dim <= item < dim:
            raise InvalidArgumentError(f"index {item} is out of bounds for axis {axis} with size {dim}")
        axis += 1
    return [TensorType(indexed_shape(t.shape, index), t.dtype)]


define(
    "getitem", _getitem_infer, linear=True,
    vjp=lambda cts, inputs, outputs, index: [scatter_slice_zeros(inputs[0], cts[0], index)],
)


@user_op("getitem")
def getitem(x, index):
    """``x[index]``: basic indexing (ints, slices, None, Ellipsis), where an int may also be a scalar
    integer tensor, known only at run time (a gather along its axis)."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(_is_index_tensor(item) for item in items):
        return bind("getitem", x, index=normalize_index(index, shape_of(x)))
    # each tensor keeps its axis (a full slice) through the basic indexing, then picks from it
    ellipsis = [k for k, item in enumerate(items) if item is Ellipsis]
    if len(ellipsis) == 1:
        used = sum(item is not None and item is not Ellipsis for item in items)
        items = items[:ellipsis[0]] + (slice(None),) * (len(shape_of(x)) - used) + items[ellipsis[0] + 1:]
    tensors, basic, axis = [], [], 0
    for item in items:
        if _is_index_tensor(item):
            t = type_of(item)
            if t.ndim != 0 or not t.dtype.is_integer:
                raise InvalidArgumentError(f"an index tensor must be a scalar integer, got {t}: use gc.gather or "
                                           "gc.gather_nd for several indices")
            tensors.append((axis, item))
        if item is not None and not isinstance(item, slice) and not _is_index_tensor(item) and item is not Ellipsis:
            basic.append(item)
            continue
        basic.append(slice(None) if _is_index_tensor(item) else item)
        axis += 1
    result = bind("getitem", x, index=normalize_index(tuple(basic), shape_of(x)))
    for position, t in reversed(tensors):
        result = gather(result, t, axis=position)
    return result


def _is_index_tensor(item) -> bool:
    """A tensor, variable or graph value used as an index (not a Python or NumPy int)."""
    return isinstance(getattr(item, "type", None), TensorType)


@user_op("scatter_slice")
def scatter_slice(base, update, index):
    """``base`` with ``base[index]`` replaced by ``update`` (broadcast to that slice's shape; a
    Python number takes ``base``'s dtype, a tensor must have it)."""
    index = normalize_index(index, shape_of(base))
    if weak_type_of(update) is not None:
        update = cast_to(update, type_of(base).dtype)
    shape = indexed_shape(shape_of(base), index)
    if all(isinstance(d, int) for d in shape):
        update = broadcast_to(update, shape)
    else:  # (a symbolic slice length is known only as the slice's own)
        update = broadcast_like(update, getitem_normalized(base, index))
    return bind("scatter_slice", base, update, index=index)


def scatter_slice_zeros(like, update, index):
    return bind("scatter_slice", zeros_like(like), update, index=index)


def _scatter_slice_infer(types, index):
    base, update = types
    if base.dtype != update.dtype:
        raise DTypeError(f"update has dtype {update.dtype.name}, base has {base.dtype.name}")
    return [base]


def _scatter_slice_vjp(cts, inputs, outputs, index):
    g = cts[0]
    return [bind("scatter_slice", g, zeros_like(inputs[1]), index=index), getitem_normalized(g, index)]


def getitem_normalized(x, index):
    return bind("getitem", x, index=index)


define("scatter_slice", _scatter_slice_infer, vjp=_scatter_slice_vjp, linear=True)


# -- gather / scatter_add ----------------------------------------------------------------------
def _gather_infer(types, axis):
    params, indices = types
    require(indices.dtype, integer=True, what="indices")
    shape = params.shape[:axis] + indices.shape + params.shape[axis + 1:]
    return [TensorType(shape, params.dtype)]


define(
    "gather", _gather_infer,
    vjp=lambda cts, inputs, outputs, axis: [scatter_add_zeros(inputs[0], inputs[1], cts[0], axis), None],
    jvp=lambda tangents, inputs, outputs, axis: [
        None if tangents[0] is None else bind("gather", tangents[0], inputs[1], axis=axis)
    ],
)


@user_op("gather")
def gather(params, indices, axis=None, batch_dims=0):
    """Slices of ``params`` along ``axis`` at the integer ``indices`` (out-of-range indices are an
    error), as ``tf.gather``: shape ``params.shape[:axis] + indices.shape[batch_dims:] +
    params.shape[axis + 1:]``. With ``batch_dims``, the first ``batch_dims`` axes of both are a
    batch and each example gathers from its own slice; ``axis`` defaults to ``batch_dims``."""
    rank, index_rank = len(shape_of(params)), len(shape_of(indices))
    batch_dims = as_int(batch_dims, "batch_dims", low=-index_rank, high=index_rank)
    batch_dims += index_rank if batch_dims < 0 else 0
    axis = batch_dims if axis is None else normalize_axis(axis, rank)
    if not batch_dims:
        return bind("gather", params, indices, axis=axis)
    if axis < batch_dims or batch_dims > rank:
        raise InvalidArgumentError(f"axis {axis} must be >= batch_dims {batch_dims} (and batch_dims <= the rank {rank})")
    from .nd_indexing import gather_nd  # (lazy: nd_indexing is built on this module)

    between, picked = axis - batch_dims, index_rank - batch_dims
    moved = transpose(params, [*range(batch_dims), axis, *range(batch_dims, axis), *range(axis + 1, rank)])
    out = gather_nd(moved, expand_dims(indices, -1), batch_dims=batch_dims)
    # gather_nd gives batch + indices + params[batch:axis] + rest: the indices' block goes after
    start = batch_dims + picked
    order = [*range(batch_dims), *range(start, start + between), *range(batch_dims, start),
             *range(start + between, len(shape_of(out)))]
    return transpose(out, order) if order != list(range(len(order))) else out


def scatter_add_zeros(like, indices, updates, axis):
    return bind("scatter_add", zeros_like(like), indices, updates, axis=axis)


def _scatter_add_infer(types, axis):
    base, indices, updates = types
    require(indices.dtype, integer=True, what="indices")
    if updates.dtype != base.dtype:
        raise DTypeError(f"updates have dtype {updates.dtype.name}, base has {base.dtype.name}")
    return [base]


def _deterministic_scatter_add(base, indices, updates, axis):
    from .summation import deterministic_scatter_add  # (lazy: summation is built on modules built on this one)

    return deterministic_scatter_add(base, indices, updates, axis)


define(
    "scatter_add", _scatter_add_infer, linear=True,
    vjp=lambda cts, inputs, outputs, axis: [cts[0], None, bind("gather", cts[0], inputs[1], axis=axis)],
    deterministic=_deterministic_scatter_add,
)
