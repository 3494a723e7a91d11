"""N-dimensional gathers and scatters, as TensorFlow's: ``gather_nd``, ``scatter_nd``,
``tensor_scatter_nd_add``, ``tensor_scatter_nd_update``; and ``boolean_mask`` (eagerly).

Each index vector ``indices[..., :k]`` names an element (or a slice) of the first k axes. They are
built on ``gather`` and ``scatter_add`` over those k axes flattened into one: the flat position is
``sum(index[i] * stride[i])``, and an index with any component outside its axis (negative ones
included, as in TensorFlow) becomes a position past the end, which those ops report as an error.
So they have gradients, native code and TensorFlow's out-of-range errors without kernels of their
own.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, as_shape
from ..dispatch import bind, type_of
from ..errors import InvalidArgumentError, ShapeError
from ..types import int64
from . import elementwise as ew
from . import reduction as red
from .common import promote, require, reshape_target, shape_of, user_op
from .creation import constant, full_like, ones_like, zeros, zeros_like
from .indexing import gather, getitem
from .composite import stack
from .scan import cumprod
from .shape import concat, reshape, reshape_like


def _flat_positions(indices, x, k: int):
    """The flat positions of ``indices[..., :k]`` in the first k axes of ``x``; the number of their
    elements (past the end) where a component is out of its axis. Sizes known only at run time are
    read then."""
    dims = shape_of(x)[:k]
    if all(isinstance(d, int) for d in dims):
        sizes = constant(np.asarray(dims, np.int64))
        strides = constant(np.cumprod((1,) + tuple(dims[:0:-1]), dtype=np.int64)[::-1].copy())
        past_end = constant(np.int64(np.prod(dims, dtype=np.int64)))
    else:
        sizes = stack([red.dim_size(x, (a,), int64) for a in range(k)], 0)
        strides = cumprod(sizes, 0, exclusive=True, reverse=True)
        past_end = red.reduce_prod(sizes)
    idx = ew.cast(indices, int64)
    position = red.reduce_sum(ew.multiply(idx, strides), axis=-1)
    outside = ew.logical_or(ew.less(idx, 0), ew.greater_equal(idx, sizes))
    return ew.where(ew.greater(red.reduce_max(ew.cast(outside, int64), axis=-1), 0), past_end, position)


def _flattened(x, k: int):
    """``x`` with its first k axes merged into one (one of all its sizes may be known only at run
    time)."""
    dims = shape_of(x)
    merged = int(np.prod(dims[:k], dtype=np.int64)) if all(isinstance(d, int) for d in dims[:k]) else None
    return reshape(x, reshape_target([merged] + list(dims[k:])))


def _checked_indices(indices, dims: tuple, what: str) -> int:
    """The index depth k; indices known now (eagerly, or constants) are checked against ``dims``."""
    require(type_of(indices).dtype, integer=True, what="indices")
    shape = shape_of(indices)
    if not shape or not isinstance(shape[-1], int):
        raise ShapeError(f"indices must have a last axis (the index depth) whose size is known when traced, not only at "
                         f"run time; got shape {list(shape)}")
    k = shape[-1]
    if k > len(dims):
        raise ShapeError(f"indices of depth {k} index {what} of rank {len(dims)}")
    known = concrete_values(indices)
    if known is not None and known.size and all(isinstance(d, int) for d in dims[:k]):
        bad = np.any((known < 0) | (known >= np.asarray(dims[:k])), axis=-1)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidArgumentError(f"indices{list(where)} = {known[where].tolist()} is out of bounds for {what} of "
                                       f"shape {list(dims)}")
    return k


def _differ(dims, others) -> bool:
    """Whether two shapes of one length differ in a size known now."""
    return any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(dims, others))


def concrete_values(x) -> np.ndarray | None:
    """``x``'s values when they are known now: an array, a list, an eager tensor; else None."""
    if isinstance(x, (list, tuple, np.ndarray)):
        return np.asarray(x)
    if getattr(x, "is_symbolic", True) is False:
        return x.numpy()
    return None


def _known(dims, what: str) -> tuple:
    if not all(isinstance(d, int) for d in dims):
        raise ShapeError(f"the sizes of the indexed axes of {what} must be known when traced, not only at run time; got "
                         f"{list(dims)}")
    return tuple(dims)


@user_op("gather_nd")
def gather_nd(params, indices, batch_dims=0):
    """The elements or slices of ``params`` that ``indices[..., :k]`` name: shape
    ``indices.shape[:-1] + params.shape[k:]`` (with ``batch_dims``, the first axes of both are a
    batch and each example indexes its own slice of ``params``)."""
    (params,) = promote(params)
    batch_dims = as_int(batch_dims, "batch_dims", low=0)
    pshape, ishape = shape_of(params), shape_of(indices)
    if batch_dims >= len(ishape) or batch_dims > len(pshape) or _differ(pshape[:batch_dims], ishape[:batch_dims]):
        raise ShapeError(f"batch_dims {batch_dims} needs the first {batch_dims} sizes of params {list(pshape)} and "
                         f"indices {list(ishape)} equal, and more axes in indices")
    k = _checked_indices(indices, tuple(pshape[batch_dims:]), "params")
    if batch_dims:
        batch = _known(pshape[:batch_dims], "params' batch")
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in batch], indexing="ij"), axis=-1)
        grid = grid.reshape(batch + (1,) * (len(ishape) - batch_dims - 1) + (batch_dims,))
        coords = ew.add(ew.cast(zeros_like(getitem(indices, (Ellipsis, slice(0, 1)))), int64),
                        constant(grid.astype(np.int64)))
        indices = concat([coords, ew.cast(indices, int64)], -1)
        k += batch_dims
    return gather(_flattened(params, k), _flat_positions(indices, params, k), axis=0)


@user_op("scatter_nd")
def scatter_nd(indices, updates, shape):
    """A tensor of ``shape``, zero but for ``updates`` added at the elements or slices ``indices``
    name (duplicates add up, as in TensorFlow)."""
    (updates,) = promote(updates)
    shape = as_shape(shape, "shape")
    return _scatter_into(zeros(shape, type_of(updates).dtype), indices, updates)


def _scatter_into(base, indices, updates):
    """``base`` plus ``updates`` added at ``indices``."""
    bshape = shape_of(base)
    k = _checked_indices(indices, tuple(bshape), "the result")
    ishape, ushape = shape_of(indices), shape_of(updates)
    wanted = tuple(ishape[:-1]) + tuple(bshape[k:])
    if len(ushape) != len(wanted) or any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(ushape, wanted)):
        raise ShapeError(f"updates must have shape {list(wanted)} (indices' leading axes, then the result's after "
                         f"the {k} indexed ones), got {list(ushape)}")
    rest = list(bshape[k:])
    if not all(isinstance(d, int) for d in rest):
        raise ShapeError(f"the sizes after the {k} indexed axes must be known when traced, not only at run time; "
                         f"got {list(bshape)}")
    positions = reshape(_flat_positions(indices, base, k), [-1])
    flat_updates = reshape(updates, [-1] + rest)
    return reshape_like(bind("scatter_add", _flattened(base, k), positions, flat_updates, axis=0), base)


@user_op("tensor_scatter_nd_add")
def tensor_scatter_nd_add(tensor, indices, updates):
    """``tensor`` with ``updates`` added at the elements or slices ``indices`` name."""
    tensor, updates = promote(tensor, updates)
    return _scatter_into(tensor, indices, updates)


@user_op("tensor_scatter_nd_update")
def tensor_scatter_nd_update(tensor, indices, updates):
    """``tensor`` with the elements or slices ``indices`` name replaced by ``updates``. Where an index
    appears twice its updates are summed (TensorFlow leaves which one wins unspecified)."""
    tensor, updates = promote(tensor, updates)
    hit = ew.greater(_scatter_into(ew.cast(zeros_like(tensor), int64), indices, ew.cast(ones_like(updates), int64)), 0)
    base = full_like(tensor, -0.0) if type_of(tensor).dtype.is_floating else zeros_like(tensor)  # -0.0 + u is u
    return ew.where(hit, _scatter_into(base, indices, updates), tensor)


@user_op("boolean_mask")
def boolean_mask(tensor, mask, axis=0):
    """The slices of ``tensor`` along axes ``axis .. axis + mask.ndim`` where the bool ``mask`` is
    True, flattened into one axis. The result's size depends on the mask's values, so the mask must
    be concrete: eager, or a constant inside a traced function."""
    (tensor,) = promote(tensor)
    array = concrete_values(mask)
    if array is None:
        raise ShapeError("the result's size depends on the mask's values, which a traced function knows only at run "
                         "time: call it eagerly, or use gc.where (same shape) or gather with indices instead")
    if array.dtype != np.bool_:
        raise ShapeError(f"mask must be bool, got {array.dtype}")
    shape = shape_of(tensor)
    axis = as_int(axis, "axis", low=-len(shape), high=len(shape) - 1) % max(len(shape), 1)
    if not array.ndim or len(shape) < axis + array.ndim or _differ(shape[axis:axis + array.ndim], array.shape):
        raise ShapeError(f"mask of shape {list(array.shape)} must match the sizes of tensor {list(shape)} from axis {axis}")
    merged = reshape(tensor, reshape_target(list(shape[:axis]) + [array.size] + list(shape[axis + array.ndim:])))
    return gather(merged, constant(np.flatnonzero(array).astype(np.int64)), axis=axis)
