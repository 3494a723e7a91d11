"""Deterministic sums: the order in which ``reduce_sum`` and ``matmul`` add their terms when op
determinism is on (``gc.config.enable_op_determinism``).

A float sum over an axis of more than ``BLOCK`` elements is computed in a fixed order that depends
only on each term's index: the terms in blocks of ``BLOCK`` (the last block padded with -0.0, which
adds nothing, not even to a -0.0), each block summed by the backend's own reduction, then the block
sums added pairwise as a balanced binary tree (a level with an odd count padded likewise). So a sum
over 2^k blocks is the sum of the sums of its two halves: a batch of 64 summed in one process gives
the same bits as two replicas that sum 32 each and add the two results (``graphc.distribute`` adds
replicas in the same tree). A matmul's contraction follows the same rule: the products of each block
of ``BLOCK`` indices of the inner axis (one small matmul per block, batched), then the tree.

Only the sizes of summed axes must be known when tracing. Integer and boolean sums are exact in any
order and stay as they are. The price is memory and time: a matmul of inner size K keeps K / BLOCK
partial products of the result's size. Everything built on the two ops follows (means, einsum,
convolutions, their gradients); ``scatter_add`` (the gradient of ``gather``, so of embeddings, and
the segment sums) adds the updates of one index in index order: repeatable, but the halves of a
batch that both update one row do not sum to the same bits.
"""
from __future__ import annotations

import math

from ..dispatch import bind, type_of
from ..errors import InvalidArgumentError
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


def tree_sum(x, axis: int):
    """The sum of ``x`` along ``axis`` (removed) in the deterministic order of the module docstring."""
    size = _summed_size(type_of(x), axis)
    if size <= BLOCK:
        return bind("reduce_sum", x, axes=(axis,), keepdims=False)
    blocks = math.ceil(size / BLOCK)
    x = _split_axis(_padded(x, axis, blocks * BLOCK - size), axis, blocks, BLOCK)
    return _pairwise(bind("reduce_sum", x, axes=(axis + 1,), keepdims=False), axis)


def _pairwise(partials, axis: int):
    """The balanced binary tree of the partial sums along ``axis`` (removed)."""
    count = type_of(partials).shape[axis]
    while count > 1:
        partials = _padded(partials, axis, count % 2)
        count = (count + 1) // 2
        partials = bind("reduce_sum", _split_axis(partials, axis, count, 2), axes=(axis + 1,), keepdims=False)
    return squeeze(partials, axis)


def deterministic_reduce_sum(x, axes, keepdims):
    """``reduce_sum`` in the deterministic order: one axis at a time, the last first; None when the
    plain op already is that order (integers, every summed axis within one block)."""
    t = type_of(x)
    if not t.dtype.is_floating or all(_summed_size(t, a) <= BLOCK for a in axes):
        return None
    result = x
    for axis in sorted(axes, reverse=True):
        result = tree_sum(result, axis)
    if keepdims:
        result = reshape(result, [1 if i in axes else (d if isinstance(d, int) else -1) for i, d in enumerate(t.shape)])
    return result


def deterministic_matmul(a, b):
    """``matmul`` whose contraction adds in the deterministic order; None when the inner size is
    within one block or the operands are integers."""
    ta, tb = type_of(a), type_of(b)
    inner = _summed_size(ta, ta.ndim - 1)
    if not ta.dtype.is_floating or inner <= BLOCK:
        return None
    blocks = math.ceil(inner / BLOCK)
    extra = blocks * BLOCK - inner
    # [..., M, K] -> [..., nb, M, BLOCK]: the products of block i form batch entry i; the padding's
    # products are (-0.0) * 0.0 = -0.0, which adds nothing
    a = swap_last_axes(_split_axis(swap_last_axes(_padded(a, ta.ndim - 1, extra)), ta.ndim - 2, blocks, BLOCK))
    b = _split_axis(_padded(b, tb.ndim - 2, extra, 0.0), tb.ndim - 2, blocks, BLOCK)  # [..., nb, BLOCK, N]
    partials = bind("matmul", a, b)
    return _pairwise(partials, type_of(partials).ndim - 3)
