"""Ops that lay out copies of a tensor's elements: ``pad`` (constant, reflect, symmetric), ``tile``,
``repeat`` and ``roll``, all written with one primitive, ``remap``.

``remap`` gives each axis a rule saying which input index an output index reads, computed from the
axis' size when the graph runs, so these ops work on sizes known only at run time (an index table
for ``gather`` would need them when tracing). The rules, ``rules[axis]``:
- ``("keep",)``: index i reads i;
- ``("pad", before, after, mode)``: ``before`` and ``after`` new elements, ``mode`` "constant" (they
  hold the attribute ``value``), "reflect" (mirrored about the edge element) or "symmetric"
  (mirrored, the edge element repeated);
- ``("tile", m)``: the axis ``m`` times over (i reads i mod n);
- ``("repeat", r)``: each element ``r`` times (i reads i // r);
- ``("roll", shift)``: shifted by ``shift`` positions, wrapping around (i reads (i - shift) mod n).
Its adjoint ``remap_adjoint`` adds every output element into the input element it read.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, as_size, described, is_list, normalize_axes, normalize_axis
from ..boundary import converted, same_kind
from ..dispatch import bind
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..types import TensorType, fresh_dim
from .common import define, dtype_kind, int_list, known_value, shape_of, unchanged, user_op
from .indexing import gather, getitem
from .shape import reshape

PAD_MODES = ("constant", "reflect", "symmetric")


def remapped_size(rule: tuple, n, axis: int):
    """The output size of an axis of input size ``n`` under ``rule``; a fresh symbol when ``n`` is
    known only at run time and the rule changes it."""
    kind = rule[0]
    if kind == "pad":
        _, before, after, mode = rule
        if isinstance(n, int) and mode != "constant":
            limit = n - 1 if mode == "reflect" else n
            if before > limit or after > limit:
                relation = "less than" if mode == "reflect" else "at most"
                raise ShapeError(
                    f"{mode.upper()} paddings [{before}, {after}] of axis {axis} must be {relation} its size {n}", op="pad"
                )  # named as the user's op also when a size known only at run time is checked
        grows = before + after
    else:
        grows = kind in ("tile", "repeat") and rule[1] != 1
    if not grows:
        return n
    if not isinstance(n, int):
        return fresh_dim()
    return n + grows if kind == "pad" else n * rule[1]


def _remap_infer(types, rules, value):
    (t,) = types
    if len(rules) != t.ndim:
        raise ShapeError(f"{len(rules)} axis rules for a tensor of rank {t.ndim}")
    return [TensorType(tuple(remapped_size(r, d, a) for a, (r, d) in enumerate(zip(rules, t.shape))), t.dtype)]


def source_indices(rule: tuple, n: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output index of an axis: the input index it reads, and whether it reads one (False
    where constant padding puts the value)."""
    i = np.arange(out_size, dtype=np.int64)
    inside = np.ones(out_size, bool)
    kind = rule[0]
    if kind == "pad":
        _, before, after, mode = rule
        i = i - before
        if mode == "constant":
            inside = (i >= 0) & (i < n)
        else:
            edge = 0 if mode == "reflect" else 1
            i = np.where(i < 0, -i - edge, i)
            i = np.where(i >= n, 2 * n - 2 + edge - i, i)
    elif kind == "tile":
        i = i % max(n, 1)
    elif kind == "repeat":
        i = i // max(rule[1], 1)
    elif kind == "roll":
        i = (i - rule[1]) % max(n, 1)
    return np.where(inside, i, 0), inside


def _mesh(rules, in_shape, out_shape):
    """Open index arrays (np.ix_) of the input element each output element reads, and the mask of
    those that read one."""
    parts = [source_indices(r, n, m) for r, n, m in zip(rules, in_shape, out_shape)]
    index = np.ix_(*(p[0] for p in parts))
    inside = np.ones(out_shape, bool)
    for axis, (_, ok) in enumerate(parts):
        inside &= ok.reshape([-1 if a == axis else 1 for a in range(len(out_shape))])
    return index, inside


def _remap_reference(x, rules, value):
    out_shape = tuple(remapped_size(r, n, a) for a, (r, n) in enumerate(zip(rules, x.shape)))
    if 0 in x.shape:  # nothing to read: every element is padding (or there are none)
        return np.full(out_shape, value, x.dtype)
    index, inside = _mesh(rules, x.shape, out_shape)
    return np.where(inside, x[index], np.asarray(value, x.dtype)) if not inside.all() else x[index]


def _remap_adjoint_reference(g, like, rules, value):
    out = np.zeros(like.shape, g.dtype)
    if g.size:
        index, inside = _mesh(rules, like.shape, g.shape)
        np.add.at(out, index, np.where(inside, g, np.zeros((), g.dtype)))
    return out


def _remap_adjoint_infer(types, rules, value):
    g, like = types
    (expected,) = _remap_infer([TensorType(like.shape, g.dtype)], rules, value)
    for axis, (got, want) in enumerate(zip(g.shape, expected.shape)):
        if isinstance(got, int) and isinstance(want, int) and got != want:
            raise ShapeError(f"the cotangent is {g}, the remapped input is {expected}: they differ on axis {axis}")
    return [TensorType(like.shape, g.dtype)]


def _zero(value):
    """The fill of the linear part of a remap (padding with ``value`` is affine): zero of its kind."""
    return type(value)(0)


define(
    "remap", _remap_infer, reference=_remap_reference,
    vjp=lambda cts, inputs, outputs, rules, value: [
        bind("remap_adjoint", cts[0], inputs[0], rules=rules, value=_zero(value))
    ],
    jvp=lambda tangents, inputs, outputs, rules, value: [
        None if tangents[0] is None else bind("remap", tangents[0], rules=rules, value=_zero(value))
    ],
)
define(
    "remap_adjoint", _remap_adjoint_infer, reference=_remap_adjoint_reference, shape_only_inputs=(1,),
    vjp=lambda cts, inputs, outputs, rules, value: [bind("remap", cts[0], rules=rules, value=value), None],
    jvp=lambda tangents, inputs, outputs, rules, value: [
        None if tangents[0] is None else bind("remap_adjoint", tangents[0], inputs[1], rules=rules, value=value)
    ],
)


def remap(x, rules: tuple, value=0):
    """``x`` with each axis laid out by its rule (see the module docstring); ``value`` fills constant
    padding (a Python scalar of ``x``'s kind)."""
    if all(r == ("keep",) for r in rules):
        return x
    value = converted(np.asarray(value), dtype_kind(x)).item()
    return bind("remap", x, rules=tuple(rules), value=value)


# -- pad ----------------------------------------------------------------------------------------
def _paddings(paddings, ndim: int) -> list[tuple[int, int]]:
    """``paddings`` (a list of [before, after] rows, an array or an eager tensor) as pairs of sizes."""
    rows = known_value(paddings)
    rows = rows.tolist() if isinstance(rows, np.ndarray) else rows
    if not is_list(rows) or len(rows) != ndim or not all(is_list(r) and len(r) == 2 for r in rows):
        raise ShapeError(f"paddings must have shape [{ndim}, 2] (one [before, after] row per axis), got {described(rows)}")
    return [tuple(as_size(p, f"paddings[{axis}][{k}]") for k, p in enumerate(row)) for axis, row in enumerate(rows)]


@user_op("pad")
def pad(tensor, paddings, mode="CONSTANT", constant_values=0):
    """``tensor`` padded as ``tf.pad``: ``paddings[d] = [before, after]`` new elements on axis d;
    ``mode`` (any case) "CONSTANT" (``constant_values``), "REFLECT" (mirrored, the edge not repeated:
    paddings < size) or "SYMMETRIC" (mirrored, the edge repeated: paddings <= size)."""
    x = unchanged(tensor)
    kind = mode.lower() if isinstance(mode, str) else None
    if kind not in PAD_MODES:
        raise InvalidArgumentError(f"mode must be one of 'CONSTANT', 'REFLECT', 'SYMMETRIC', got {described(mode)}")
    rules = [("pad", before, after, kind) if before or after or kind != "constant" else ("keep",)
             for before, after in _paddings(paddings, len(shape_of(x)))]
    value = known_value(constant_values)
    if np.ndim(value) != 0:
        raise ShapeError(f"constant_values must be a scalar, got shape {list(np.shape(value))}")
    dtype = dtype_kind(x)
    if value != 0 and not same_kind(np.asarray(value).dtype, dtype):  # 0, the default, pads any dtype
        raise DTypeError(f"constant_values {described(value)} cannot pad a tensor of dtype {dtype.name}")
    return remap(x, rules, value)


# -- tile, repeat, roll -------------------------------------------------------------------------
@user_op("tile")
def tile(input, multiples):
    """``input`` repeated ``multiples[d]`` times along each axis d (``tf.tile``, ``np.tile``)."""
    x = unchanged(input)
    ndim = len(shape_of(x))
    counts = [as_size(m, f"multiples[{i}]") for i, m in enumerate(int_list(multiples, "multiples"))]
    if len(counts) != ndim:
        raise ShapeError(f"multiples must have one entry per axis: {ndim}, got {len(counts)}")
    return remap(x, [("tile", m) if m != 1 else ("keep",) for m in counts])


@user_op("repeat")
def repeat(input, repeats, axis=None):
    """Each element of ``input`` repeated along ``axis`` (``tf.repeat``, ``np.repeat``): ``repeats``
    an int, or a list with one count per element of the axis (or a single one); with ``axis=None``
    the flattened ``input``."""
    x = unchanged(input)
    if axis is None:
        x, axis = reshape(x, [-1]), 0
    shape = shape_of(x)
    axis = normalize_axis(axis, len(shape))
    counts = [as_size(r, f"repeats[{i}]") for i, r in enumerate(int_list(repeats, "repeats"))]
    if len(counts) == 1:
        rules = [("repeat", counts[0]) if a == axis and counts[0] != 1 else ("keep",) for a in range(len(shape))]
        return remap(x, rules)
    if not isinstance(shape[axis], int):
        raise ShapeError(f"a list of repeats needs the size of axis {axis}, which is known only at run time")
    if len(counts) != shape[axis]:
        raise ShapeError(f"repeats must have 1 or {shape[axis]} entries (the size of axis {axis}), got {len(counts)}")
    return gather(x, np.repeat(np.arange(len(counts), dtype=np.int64), counts), axis)


@user_op("roll")
def roll(input, shift, axis):
    """``input`` shifted by ``shift`` positions along ``axis``, elements leaving one end entering at
    the other (``tf.roll``): ints, or lists of equal length; an axis named twice adds its shifts."""
    x = unchanged(input)
    ndim = len(shape_of(x))
    shifts, axes = int_list(shift, "shift"), int_list(axis, "axis")
    if len(shifts) != len(axes):
        raise ShapeError(f"shift and axis must have the same length, got {len(shifts)} and {len(axes)}")
    total = [0] * ndim
    listed = is_list(known_value(axis))
    for i, (s, a) in enumerate(zip(shifts, axes)):
        axis_i = normalize_axis(a, ndim, f"axis[{i}]" if listed else "axis")
        total[axis_i] += as_int(s, f"shift[{i}]" if listed else "shift", high=None)
    shape = shape_of(x)
    # a known size reduces the shift; the rule keeps it in int64 either way
    total = [s % d if isinstance(d, int) and d else s for s, d in zip(total, shape)]
    for s in total:
        as_int(s, "shift", low=-(2**63))
    return remap(x, [("roll", s) if s else ("keep",) for s in total])


@user_op("reverse")
def reverse(tensor, axis):
    """``tensor`` with the order of its elements reversed along each axis in ``axis`` (``tf.reverse``)."""
    x = unchanged(tensor)
    ndim = len(shape_of(x))
    axes = normalize_axes(int_list(axis, "axis"), ndim, none_means_all=False)
    return getitem(x, tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(ndim)))
