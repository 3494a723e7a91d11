"""Deterministic sums: the order in which ``reduce_sum`` and ``matmul`` add their terms when op
determinism is on (``gc.config.enable_op_determinism``).

A float sum of n > ``BLOCK`` terms is computed in an order that depends only on n and each term's
index. The terms (padded with -0.0, which adds nothing, to whole blocks of ``BLOCK``) are cut into
2^k equal *groups*, 2^k being the largest power of two that divides the number of blocks; each group
is summed by the backend's own reduction, and the group sums are added pairwise as a balanced binary
tree. Halving n keeps the groups and takes one level off the tree, so the sum of n terms is, bit for
bit, the sum of its two halves' sums whenever each half is whole blocks: a batch of 64 summed in one
process gives the same bits as two replicas that sum 32 each and add the results (and 4 replicas of
16 likewise; ``graphc.distribute`` adds replicas in the same tree). A sum of an odd number of blocks
is one group: the plain op. A matmul's contraction follows the same rule: one matmul per group of
the inner axis (batched), then the tree.

Only the sizes of summed axes must be known when tracing. Integer and boolean sums are exact in any
order and stay as they are. The price is memory and time: a matmul keeps one partial product of the
result's size per group (an inner size of 784 has 2 groups, 512 has 64). Everything built on the two
ops follows (means, einsum, convolutions, their gradients). ``scatter_add`` (the gradient of
``gather``, so of embeddings, and the segment sums) follows the same rule over its updates' positions
(the indices' axes flattened): each group's updates are added into a partial result of their own,
and the partial results as the tree.
"""
from __future__ import annotations

import math

import numpy as np

from ..dispatch import bind_exactly, type_of
from ..errors import InvalidArgumentError
from ..types import int64
from . import elementwise as ew
from .creation import constant, zeros
from .layout import pad
from .shape import reshape, squeeze, swap_last_axes

BLOCK = 8


def _summed_size(t, axis: int) -> int:
    size = t.shape[axis]
    if not isinstance(size, int):
        raise InvalidArgumentError(
            f"op determinism (gc.config.enable_op_determinism) needs the size of every summed axis when tracing: "
            f"axis {axis} of {t} is unknown (trace with that axis known: an input_signature without None there)"
        )
    return size


def _padded(x, axis: int, amount: int, value: float = -0.0):
    """``x`` with ``amount`` elements of ``value`` appended along ``axis``."""
    if not amount:
        return x
    paddings = [[0, 0]] * len(type_of(x).shape)
    paddings[axis] = [0, amount]
    return pad(x, paddings, constant_values=value)


def _split_axis(x, axis: int, parts: int, size: int):
    """``x`` with ``axis`` split into ``(parts, size)``."""
    shape = list(type_of(x).shape)
    unknown = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    new = shape[:axis] + [parts, size] + shape[axis + 1:]
    if unknown:  # at most one (the batch), inferred by the reshape
        new = [-1 if not isinstance(d, int) else d for d in new]
    return reshape(x, new)


def _groups(size: int) -> tuple[int, int]:
    """The padded size of a sum of ``size`` terms and its number of groups (see the module docstring)."""
    blocks = math.ceil(size / BLOCK)
    return blocks * BLOCK, blocks & -blocks


def tree_sum(x, axis: int):
    """The sum of ``x`` along ``axis`` (removed) in the deterministic order of the module docstring."""
    size = _summed_size(type_of(x), axis)
    padded, groups = _groups(size)
    if groups == 1:
        return bind_exactly("reduce_sum", x, axes=(axis,), keepdims=False)
    x = _split_axis(_padded(x, axis, padded - size), axis, groups, padded // groups)
    return _pairwise(bind_exactly("reduce_sum", x, axes=(axis + 1,), keepdims=False), axis)


def _pairwise(partials, axis: int):
    """The balanced binary tree of the 2^k partial sums along ``axis`` (removed)."""
    count = type_of(partials).shape[axis]
    while count > 1:
        count //= 2
        partials = bind_exactly("reduce_sum", _split_axis(partials, axis, count, 2), axes=(axis + 1,), keepdims=False)
    return squeeze(partials, axis)


def deterministic_reduce_sum(x, axes, keepdims):
    """``reduce_sum`` in the deterministic order: one axis at a time, the last first; None when the
    plain op already is that order (integers, every summed axis one group)."""
    t = type_of(x)
    if not t.dtype.is_floating or all(_groups(_summed_size(t, a))[1] == 1 for a in axes):
        return None
    result = x
    for axis in sorted(axes, reverse=True):
        result = tree_sum(result, axis)
    if keepdims:
        result = reshape(result, [1 if i in axes else (d if isinstance(d, int) else -1) for i, d in enumerate(t.shape)])
    return result


def deterministic_matmul(a, b):
    """``matmul`` whose contraction adds in the deterministic order; None when the inner axis is one
    group or the operands are integers."""
    ta, tb = type_of(a), type_of(b)
    inner = _summed_size(ta, ta.ndim - 1)
    padded, groups = _groups(inner)
    if not ta.dtype.is_floating or groups == 1:
        return None
    extra, size = padded - inner, padded // groups
    # [..., M, K] -> [..., groups, M, size]: the products of group i form batch entry i; the padding's
    # products are (-0.0) * 0.0 = -0.0, which adds nothing
    a = swap_last_axes(_split_axis(swap_last_axes(_padded(a, ta.ndim - 1, extra)), ta.ndim - 2, groups, size))
    b = _split_axis(_padded(b, tb.ndim - 2, extra, 0.0), tb.ndim - 2, groups, size)  # [..., groups, size, N]
    partials = bind_exactly("matmul", a, b)
    return _pairwise(partials, type_of(partials).ndim - 3)


def deterministic_scatter_add(base, indices, updates, axis):
    """``scatter_add`` whose updates of one row add in the deterministic order over their positions;
    None when the positions are one group or the values integers."""
    tb, ti = type_of(base), type_of(indices)
    if not tb.dtype.is_floating:
        return None
    positions = math.prod(_summed_size(ti, a) for a in range(ti.ndim))
    padded, groups = _groups(positions)
    if groups == 1:
        return None
    rows, shape = _summed_size(tb, axis), list(tb.shape)
    flat = _padded(reshape(ew.cast(indices, int64), [positions]), 0, padded - positions, 0)
    moved = _padded(reshape(updates, [-1 if not isinstance(d, int) else d for d in shape[:axis]] + [positions]
                            + [-1 if not isinstance(d, int) else d for d in shape[axis + 1:]]),
                    axis, padded - positions)
    # group g's updates go to rows g * rows + index of a partial result; an index outside the axis
    # goes past the end of all of them, where scatter_add reports it as the plain op would
    offsets = constant(np.repeat(np.arange(groups, dtype=np.int64) * rows, padded // groups))
    outside = ew.logical_or(ew.less(flat, 0), ew.greater_equal(flat, rows))
    where = ew.where(outside, np.int64(groups * rows), ew.add(flat, offsets))
    partials = bind_exactly("scatter_add", zeros(shape[:axis] + [groups * rows] + shape[axis + 1:], tb.dtype), where, moved,
                    axis=axis)
    return ew.add(base, _pairwise(_split_axis(partials, axis, groups, rows), axis))
