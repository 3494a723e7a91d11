"""``gc.linalg``: graphc's linear algebra under TensorFlow 2's ``tf.linalg`` names (only those graphc has).

    gc.linalg.matmul(a, b), gc.linalg.matrix_transpose(a), gc.linalg.norm(x, ord=1, axis=[-2, -1])
"""
import math as _math

from graphc.ir.arguments import as_shape as _as_shape, is_list as _is_list, normalize_axis as _normalize_axis
from graphc.ir.errors import InvalidArgumentError as _InvalidArgumentError, ShapeError as _ShapeError
from graphc.ir.ops import einsum, matmul  # noqa: F401  (the namespace re-exports them)
from graphc.ir.ops.factorizations import cholesky, inv, solve, triangular_solve  # noqa: F401
from graphc.ir.ops import (
    abs as _abs, broadcast_to as _broadcast_to, eye as _identity, norm as _vector_norm, reduce_max as _reduce_max,
    reduce_sum as _reduce_sum, squeeze as _squeeze, swap_last_axes as _swap_last_axes,
)
from graphc.ir.ops.common import shape_of as _shape_of, user_op as _user_op
from graphc.ir.types import float32 as _float32


@_user_op("matrix_transpose")
def matrix_transpose(a, conjugate=False):
    """``a`` with its last two axes swapped (a batch of transposed matrices); ``conjugate`` changes
    nothing, graphc's tensors being real."""
    ndim = len(_shape_of(a))
    if ndim < 2:
        raise _ShapeError(f"needs a tensor of rank >= 2, got rank {ndim}")
    return _swap_last_axes(a)


@_user_op("eye")
def eye(num_rows, num_columns=None, batch_shape=None, dtype=_float32):
    """The identity matrix, or a batch of them of shape ``batch_shape + [num_rows, num_columns]``."""
    matrix = _identity(num_rows, num_columns, dtype)
    if batch_shape is None:
        return matrix
    return _broadcast_to(matrix, list(_as_shape(batch_shape, "batch_shape")) + list(_shape_of(matrix)))


@_user_op("norm")
def norm(tensor, ord="euclidean", axis=None, keepdims=False):
    """The vector norm over ``axis`` (an int, or None: every element), or, when ``axis`` is a pair of
    axes, the matrix norm over them: 'euclidean' and 'fro' the Frobenius norm, 1 the largest absolute
    column sum, inf the largest absolute row sum, as in TensorFlow (its ord=2 for matrices, the
    largest singular value, is not built)."""
    if not (_is_list(axis) and len(axis) == 2):
        return _vector_norm(tensor, ord, axis, keepdims)
    ndim = len(_shape_of(tensor))
    rows, cols = (_normalize_axis(a, ndim, f"axis[{i}]") for i, a in enumerate(axis))
    if rows == cols:
        raise _ShapeError(f"axis must name two different axes, got {list(axis)}")
    if ord in ("euclidean", "fro"):
        return _vector_norm(tensor, "euclidean", axis, keepdims)
    if ord not in (1, _math.inf):
        raise _InvalidArgumentError(f"ord must be 'euclidean', 'fro', 1 or inf for a matrix norm, got {ord!r}")
    summed, maximized = (rows, cols) if ord == 1 else (cols, rows)
    result = _reduce_max(_reduce_sum(_abs(tensor), summed, keepdims=True), maximized, keepdims=True)
    return result if keepdims else _squeeze(result, sorted((rows, cols)))
