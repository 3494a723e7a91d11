"""Matrix multiplication with NumPy's batch broadcasting (both operands of rank >= 2)."""
from __future__ import annotations

from ..dispatch import bind
from ..errors import ShapeError
from ..types import TensorType, broadcast_shapes
from . import elementwise as ew
from .common import define, promote, require, unbroadcast, user_op
from .shape import swap_last_axes
from .summation import deterministic_matmul


def _matmul_infer(types):
    a, b = types
    if a.dtype != b.dtype:
        raise ShapeError(f"operands must have the same dtype, got {a.dtype.name} and {b.dtype.name}")
    require(a.dtype, numeric=True, what="operands")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"operands must have rank >= 2, got {a} and {b} (use expand_dims or reshape for vectors)")
    k1, k2 = a.shape[-1], b.shape[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ShapeError(f"inner dimensions differ: {a} @ {b} ({k1} vs {k2})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], what="batch dimensions")
    return [TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)]


def _matmul_vjp(cts, inputs, outputs):
    a, b = inputs
    g = cts[0]
    return [
        unbroadcast(bind("matmul", g, swap_last_axes(b)), a.type),
        unbroadcast(bind("matmul", swap_last_axes(a), g), b.type),
    ]


def _matmul_jvp(tangents, inputs, outputs):
    a, b = inputs
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(bind("matmul", ta, b))
    if tb is not None:
        terms.append(bind("matmul", a, tb))
    if not terms:
        return [None]
    return [terms[0] if len(terms) == 1 else ew.add(*terms)]


define("matmul", _matmul_infer, vjp=_matmul_vjp, jvp=_matmul_jvp, fusion_kind="matmul",
       deterministic=deterministic_matmul)


@user_op("matmul")
def matmul(a, b, transpose_a=False, transpose_b=False):
    """Matrix product ``a @ b`` over the last two axes; leading (batch) axes broadcast."""
    a, b = promote(a, b)
    if transpose_a:
        a = swap_last_axes(a)
    if transpose_b:
        b = swap_last_axes(b)
    return bind("matmul", a, b)


