"""Small dense linear algebra written out step by step: ``cholesky``, ``solve`` (Gaussian
elimination with partial pivoting), ``inv``, ``triangular_solve``, as TensorFlow's ``tf.linalg``.

Each step is a handful of graphc ops on whole rows or columns of a (batch of) n x n matrices, so
the graph has O(n) steps of O(n^2) work and the results have gradients of every order and native
code. That suits the small matrices of models (n up to a few hundred); LAPACK would suit large
ones. A matrix that is not positive definite (cholesky) or is singular (solve, inv) gives NaN or inf
entries; eagerly that is an InvalidArgumentError, as in TensorFlow.
"""
from __future__ import annotations

import numpy as np

from ..dispatch import type_of
from ..errors import InvalidArgumentError, ShapeError
from . import elementwise as ew
from . import reduction as red
from .common import promote, shape_of, user_op
from .composite import stack
from .creation import constant, eye
from .indexing import getitem
from .linalg import matmul
from .shape import broadcast_like, concat, expand_dims, swap_last_axes


def _square(x, what: str) -> int:
    shape = shape_of(x)
    if len(shape) < 2 or not isinstance(shape[-1], int) or shape[-1] != shape[-2]:
        raise ShapeError(f"{what} must be square matrices [..., n, n] with n known when traced, got {list(shape)}")
    return shape[-1]


def _column(x, k):
    return getitem(x, (Ellipsis, slice(None), k))


def _row(x, k):
    return getitem(x, (Ellipsis, k, slice(None)))


def _finite_or_raise(result, message: str):
    """``result``; an eager result with a NaN or an infinity raises ``message``."""
    if getattr(result, "is_symbolic", True) is False and not np.all(np.isfinite(result.numpy())):
        raise InvalidArgumentError(message)
    return result


@user_op("cholesky")
def cholesky(input):
    """The lower-triangular L with ``L @ L^T == input`` for symmetric positive-definite matrices
    (only the lower triangle of ``input`` is read)."""
    (a,) = promote(input, to_float=True)
    n = _square(a, "input")
    below = constant(np.arange(n)[:, None] >= np.arange(n)[None, :])
    a = ew.where(below, a, swap_last_axes(a))  # symmetric from the lower triangle
    columns = []
    for k in range(n):
        pivot = ew.sqrt(getitem(a, (Ellipsis, k, k)))
        column = ew.divide(_column(a, k), expand_dims(pivot, -1))
        column = ew.where(constant(np.arange(n) >= k), column, 0.0)
        columns.append(column)
        a = ew.subtract(a, ew.multiply(expand_dims(column, -1), expand_dims(column, -2)))
    return _finite_or_raise(stack(columns, -1), "the input is not positive definite")


@user_op("triangular_solve")
def triangular_solve(matrix, rhs, lower=True, adjoint=False):
    """``x`` with ``matrix @ x == rhs`` for triangular ``matrix`` (``lower`` or upper; with
    ``adjoint``, of its transpose), by substitution."""
    a, b = promote(matrix, rhs, to_float=True)
    n = _square(a, "matrix")
    if adjoint:
        a, lower = swap_last_axes(a), not lower
    rows = [None] * n
    for k in (range(n) if lower else range(n - 1, -1, -1)):
        known = [j for j in range(n) if rows[j] is not None]
        total = getitem(b, (Ellipsis, k, slice(None)))
        for j in known:
            total = ew.subtract(total, ew.multiply(expand_dims(getitem(a, (Ellipsis, k, j)), -1), rows[j]))
        rows[k] = ew.divide(total, expand_dims(getitem(a, (Ellipsis, k, k)), -1))
    return _finite_or_raise(stack(rows, -2), "the matrix is singular")


@user_op("solve")
def solve(matrix, rhs):
    """``x`` with ``matrix @ x == rhs`` (``rhs`` [..., n, k]), by Gaussian elimination with partial
    pivoting and back substitution."""
    a, b = promote(matrix, rhs, to_float=True)
    n = _square(a, "matrix")
    if len(shape_of(b)) < 2 or shape_of(b)[-2] != n:
        raise ShapeError(f"rhs must be [..., {n}, k] for {n} x {n} matrices, got {list(shape_of(b))}")
    m = shape_of(b)[-1]
    aug = concat([a, b], -1)
    positions = np.arange(n)
    for k in range(n):
        candidates = ew.where(constant(positions >= k), ew.abs(_column(aug, k)), -1.0)
        p = red.argmax(candidates, -1)  # the pivot row, at or below k
        swap = ew.where(constant(positions == k), expand_dims(p, -1),
                        ew.where(ew.equal(constant(positions), expand_dims(p, -1)), k, constant(positions)))
        permutation = ew.cast(ew.equal(expand_dims(swap, -1), constant(positions)), type_of(aug).dtype)
        aug = matmul(permutation, aug)  # rows k and p exchanged (a 0/1 matrix: exact for finite entries)
        factors = ew.divide(_column(aug, k), expand_dims(getitem(aug, (Ellipsis, k, k)), -1))
        factors = ew.where(constant(positions > k), factors, 0.0)
        aug = ew.subtract(aug, ew.multiply(expand_dims(factors, -1), expand_dims(_row(aug, k), -2)))
    upper = getitem(aug, (Ellipsis, slice(None), slice(0, n)))
    y = getitem(aug, (Ellipsis, slice(None), slice(n, n + m)))
    return _finite_or_raise(triangular_solve(upper, y, lower=False), "the matrix is singular")


@user_op("inv")
def inv(input):
    """The inverse of (a batch of) square matrices."""
    (a,) = promote(input, to_float=True)
    n = _square(a, "input")
    return solve(a, broadcast_like(eye(n, dtype=type_of(a).dtype), a))
