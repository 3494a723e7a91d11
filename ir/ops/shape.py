"""Ops that move elements without computing: reshape, transpose, broadcast, expand/squeeze, concat, split.

All of them are linear, so their JVP is the op applied to the tangent.
``reshape_like`` and ``broadcast_like`` take the target shape from a second input, which lets
gradient rules work on dimensions known only at run time.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, as_list, as_shape, is_list, normalize_axes, normalize_axis
from ..dispatch import bind
from ..errors import InvalidArgumentError, ShapeError
from ..types import TensorType, broadcast_shapes, fresh_dim
from .common import define, promote, shape_of, unbroadcast, unchanged, user_op
from .creation import zeros_like


def _product(dims) -> int:
    return int(np.prod([d for d in dims if isinstance(d, int)], dtype=np.int64))


def _fmt(shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


# -- reshape ----------------------------------------------------------------------------------
def _reshape_infer(types, shape):
    (t,) = types
    if sum(d == -1 for d in shape) > 1:
        raise ShapeError(f"at most one -1 is allowed in the new shape, got {_fmt(shape)}")
    if any(d < -1 for d in shape):
        raise ShapeError(f"invalid new shape {_fmt(shape)}")
    known = _product(d for d in shape if d != -1)
    if t.is_static:
        size = t.size
        if -1 in shape:
            if known == 0 or size % known:
                raise ShapeError(f"cannot reshape {t} ({size} elements) to {_fmt(shape)}")
            shape = tuple(size // known if d == -1 else d for d in shape)
        if _product(shape) != size:
            raise ShapeError(f"cannot reshape {t} ({size} elements) to {_fmt(shape)} ({_product(shape)} elements)")
        return [TensorType(tuple(shape), t.dtype)]
    if -1 not in shape:
        return [TensorType(tuple(shape), t.dtype)]
    symbols = [d for d in t.shape if isinstance(d, str)]
    inferred = symbols[0] if len(symbols) == 1 and _product(t.shape) == known else fresh_dim()
    return [TensorType(tuple(inferred if d == -1 else d for d in shape), t.dtype)]


define(
    "reshape", _reshape_infer, linear=True, view=True,
    vjp=lambda cts, inputs, outputs, shape: [reshape_like(cts[0], inputs[0])],
)


@user_op("reshape")
def reshape(x, shape):
    """``x`` with a new shape of the same size; one dimension may be -1 (inferred)."""
    return bind("reshape", x, shape=as_shape(shape, one_int=True, inferred=True))


def _reshape_like_infer(types):
    t, like = types
    if t.is_static and like.is_static and t.size != like.size:
        raise ShapeError(f"cannot reshape {t} to the shape of {like}")
    return [TensorType(like.shape, t.dtype)]


def _define_like(name: str, infer, undo, doc: str, **fields):
    """Defines an op giving ``x`` the shape of ``like`` (whose type only it reads) and returns its
    function; ``undo(cotangent, x)`` gives the cotangent back the shape of ``x``."""
    define(
        name, infer, shape_only_inputs=(1,), **fields,
        vjp=lambda cts, inputs, outputs: [undo(cts[0], inputs[0]), None],
        jvp=lambda tangents, inputs, outputs: [None if tangents[0] is None else op(tangents[0], inputs[1])],
    )

    def op(x, like):
        return unchanged(x) if shape_of(x) == shape_of(like) else bind(name, x, like)

    op.__name__, op.__doc__ = name, doc
    return op


reshape_like = _define_like(
    "reshape_like", _reshape_like_infer, lambda g, x: reshape_like(g, x), "``x`` reshaped to the shape of ``like``.",
    view=True,
)


# -- transpose --------------------------------------------------------------------------------
def _transpose_infer(types, perm):
    (t,) = types
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"perm {list(perm)} is not a permutation of the {t.ndim} axes of {t}")
    return [TensorType(tuple(t.shape[p] for p in perm), t.dtype)]


define(
    "transpose", _transpose_infer, linear=True, movement=True,
    vjp=lambda cts, inputs, outputs, perm: [transpose(cts[0], tuple(np.argsort(perm).tolist()))],
)


@user_op("transpose")
def transpose(x, perm=None):
    """Permutes the axes of ``x`` (reverses them when ``perm`` is None)."""
    ndim = len(shape_of(x))
    if perm is None:
        perm = tuple(range(ndim))[::-1]
    else:
        perm = tuple(normalize_axis(p, ndim, f"perm[{i}]") for i, p in enumerate(as_list(perm, "perm")))
    if perm == tuple(range(ndim)):
        return unchanged(x)
    return bind("transpose", x, perm=perm)


def swap_last_axes(x):
    ndim = len(shape_of(x))
    return transpose(x, tuple(range(ndim - 2)) + (ndim - 1, ndim - 2))


# -- broadcast --------------------------------------------------------------------------------
def _broadcast_to_infer(types, shape):
    (t,) = types
    if len(shape) < t.ndim or broadcast_shapes(t.shape, shape, what=f"{t} to {_fmt(shape)}") != tuple(shape):
        raise ShapeError(f"cannot broadcast {t} to {_fmt(shape)}")
    return [TensorType(tuple(shape), t.dtype)]


define(
    "broadcast_to", _broadcast_to_infer, linear=True, movement=True, fusion_kind="elementwise",
    vjp=lambda cts, inputs, outputs, shape: [unbroadcast(cts[0], inputs[0].type)],
)


@user_op("broadcast_to")
def broadcast_to(x, shape):
    """``x`` repeated along size-1 and new leading axes to ``shape`` (NumPy broadcasting)."""
    shape = as_shape(shape)
    if shape_of(x) == shape:
        return unchanged(x)
    return bind("broadcast_to", x, shape=shape)


def _broadcast_like_infer(types):
    t, like = types
    if len(like.shape) < t.ndim:
        raise ShapeError(f"cannot broadcast {t} to the shape of {like}")
    broadcast_shapes(t.shape, like.shape)
    return [TensorType(like.shape, t.dtype)]


broadcast_like = _define_like(
    "broadcast_like", _broadcast_like_infer, lambda g, x: unbroadcast(g, x.type), "``x`` broadcast to the shape of ``like``.",
    movement=True, fusion_kind="elementwise",
)


# -- expand_dims, squeeze -----------------------------------------------------------------------
def _expand_dims_infer(types, axes):
    (t,) = types
    shape = list(t.shape)
    for a in axes:
        shape.insert(a, 1)
    return [TensorType(tuple(shape), t.dtype)]


define(
    "expand_dims", _expand_dims_infer, linear=True, view=True,
    vjp=lambda cts, inputs, outputs, axes: [squeeze(cts[0], axes)],
)


@user_op("expand_dims")
def expand_dims(x, axis):
    """``x`` with new size-1 axes at ``axis`` (an int or a list, positions in the result)."""
    ndim = len(shape_of(x))
    count = len(axis) if is_list(axis) else 1
    axes = normalize_axes(axis, ndim + count, none_means_all=False)
    return bind("expand_dims", x, axes=axes)


def _squeeze_infer(types, axes):
    (t,) = types
    for a in axes:
        if t.shape[a] != 1 and not isinstance(t.shape[a], str):
            raise ShapeError(f"cannot squeeze axis {a} of size {t.shape[a]} in {t}")
    return [TensorType(tuple(d for i, d in enumerate(t.shape) if i not in axes), t.dtype)]


define(
    "squeeze", _squeeze_infer, linear=True, view=True,
    vjp=lambda cts, inputs, outputs, axes: [reshape_like(cts[0], inputs[0])],
)


@user_op("squeeze")
def squeeze(x, axis=None):
    """``x`` without its size-1 axes (all of them, or those in ``axis``)."""
    shape = shape_of(x)
    unknown = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    if axis is None and unknown:
        # eager code would drop such an axis when its size is 1, a graph cannot know: name the axes
        raise ShapeError(f"without axis, needs known sizes, but axes {unknown} are known only at run time")
    axes = tuple(i for i, d in enumerate(shape) if d == 1) if axis is None else normalize_axes(axis, len(shape))
    if not axes:
        return unchanged(x)
    return bind("squeeze", x, axes=axes)


# -- concat, split ------------------------------------------------------------------------------
def _concat_infer(types, axis):
    first = types[0]
    for i, t in enumerate(types[1:], 1):
        if t.dtype != first.dtype:
            raise ShapeError(f"input {i} has dtype {t.dtype.name}, input 0 has {first.dtype.name}")
        if t.ndim != first.ndim:
            raise ShapeError(f"input {i} has rank {t.ndim}, input 0 has rank {first.ndim}")
        for a, (d0, d) in enumerate(zip(first.shape, t.shape)):
            if a != axis and isinstance(d0, int) and isinstance(d, int) and d0 != d:
                raise ShapeError(f"input {i} is {t}, input 0 is {first}: they differ on axis {a} (not the concat axis {axis})")
    sizes = [t.shape[axis] for t in types]
    total = sum(sizes) if all(isinstance(s, int) for s in sizes) else fresh_dim()
    shape = list(first.shape)
    shape[axis] = total
    return [TensorType(tuple(shape), first.dtype)]


def _concat_vjp(cts, inputs, outputs, axis):
    sizes = [x.shape[axis] for x in inputs]
    if not all(isinstance(s, int) for s in sizes):
        raise InvalidArgumentError(f"the gradient of concat needs static sizes along axis {axis}, got {sizes}")
    return list(split(cts[0], sizes, axis)) if len(sizes) > 1 else [cts[0]]


define("concat", _concat_infer, vjp=_concat_vjp, linear=True)


@user_op("concat")
def concat(values, axis):
    """Joins tensors along an existing ``axis``."""

    if not values:
        raise InvalidArgumentError("needs at least one tensor")
    values = promote(*values)
    axis = normalize_axis(axis, len(shape_of(values[0])))
    if len(values) == 1:
        return values[0]
    return bind("concat", *values, axis=axis)


def _split_infer(types, axis, sizes):
    (t,) = types
    if isinstance(t.shape[axis], int) and sum(sizes) != t.shape[axis]:
        raise ShapeError(f"sizes {list(sizes)} do not add up to the size {t.shape[axis]} of axis {axis} of {t}")
    outs = []
    for s in sizes:
        shape = list(t.shape)
        shape[axis] = s
        outs.append(TensorType(tuple(shape), t.dtype))
    return outs


def _split_vjp(cts, inputs, outputs, axis, sizes):

    parts = [g if g is not None else zeros_like(o) for g, o in zip(cts, outputs)]
    return [concat(parts, axis)]


define("split", _split_infer, vjp=_split_vjp, linear=True, multi_output=True)


@user_op("split")
def split(x, num_or_size_splits, axis=0):
    """Splits ``x`` along ``axis`` into equal parts (an int) or parts of the given sizes (a list)."""
    shape = shape_of(x)
    axis = normalize_axis(axis, len(shape))
    if not is_list(num_or_size_splits):
        n, dim = as_int(num_or_size_splits, "num_or_size_splits", low=1), shape[axis]
        if not isinstance(dim, int):
            raise ShapeError(f"cannot split axis {axis} into {n} equal parts: its size is known only at run time")
        if dim % n:
            raise ShapeError(f"cannot split axis {axis} of size {dim} into {n} equal parts")
        sizes = (dim // n,) * n
    else:
        sizes = tuple(as_int(s, f"num_or_size_splits[{i}]", low=-1) for i, s in enumerate(num_or_size_splits))
        if -1 in sizes and not isinstance(shape[axis], int):
            raise ShapeError(f"cannot infer the -1 split size: axis {axis} has a size known only at run time")
        if sizes.count(-1) == 1:
            rest = shape[axis] - sum(s for s in sizes if s != -1)
            sizes = tuple(rest if s == -1 else s for s in sizes)
        if any(s < 0 for s in sizes):
            raise ShapeError(
                f"invalid split sizes {list(num_or_size_splits)} for axis {axis} of size {shape[axis]}: "
                "sizes are >= 0, with at most one -1 (the rest)"
            )
    return list(bind("split", x, axis=axis, sizes=sizes))
