"""Clipping tensors by their L2 norm (``clip_by_norm``) or by the norm of a whole list of tensors
(``clip_by_global_norm``, for gradients), as TensorFlow 2 does, composed of elementwise ops and sums."""
from __future__ import annotations

from ..arguments import normalize_axes
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from . import elementwise as ew
from . import reduction as red
from .common import cast_to, dtype_kind, promote, shape_of, unchanged, user_op


def _scalar(value, dtype, what: str):
    """``value`` (a number or 0-d tensor) as ``dtype``."""
    if shape_of(value):
        raise ShapeError(f"{what} must be a scalar, got shape {list(shape_of(value))}")
    return cast_to(value, dtype)


@user_op("clip_by_norm")
def clip_by_norm(t, clip_norm, axes=None):
    """``t * clip_norm / max(norm, clip_norm)``, ``norm`` the L2 norm of ``t`` over ``axes`` (None: all
    of them): ``t`` scaled down to norm ``clip_norm`` where its norm is larger, unchanged elsewhere."""
    (t,) = promote(t, to_float=True)
    clip_norm = _scalar(clip_norm, dtype_kind(t), "clip_norm")
    axes = normalize_axes(axes, len(shape_of(t)))
    square_sum = red.reduce_sum(ew.square(t), axes, keepdims=True)
    positive = ew.greater(square_sum, 0.0)
    # the square root sees no 0: its infinite derivative there would make the gradient NaN
    norm = ew.where(positive, ew.sqrt(ew.where(positive, square_sum, 1.0)), square_sum)
    return ew.divide(ew.multiply(t, clip_norm), ew.maximum(norm, clip_norm))


def _global_norm(values: list):
    squares = [red.reduce_sum(ew.square(v)) for v in values if v is not None]
    if not squares:
        raise InvalidArgumentError("t_list holds no tensors (only None)")
    total = squares[0]
    for s in squares[1:]:
        total = ew.add(total, s)
    return ew.sqrt(total)


@user_op("clip_by_global_norm")
def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """``([t * clip_norm / max(global_norm, clip_norm) for t in t_list], global_norm)``, where
    ``global_norm`` (or ``use_norm`` when given) is the L2 norm of all the tensors together. None
    entries stay None. A NaN or infinite norm makes every clipped tensor NaN, as in TensorFlow 2."""
    if not isinstance(t_list, (list, tuple)):
        raise ArgumentTypeError(f"t_list must be a list or tuple of tensors, got {type(t_list).__name__}")
    values = [None if t is None else promote(t, to_float=True)[0] for t in t_list]
    if use_norm is None:
        use_norm = _global_norm(values)
    (use_norm,) = promote(use_norm, to_float=True)
    use_norm = unchanged(_scalar(use_norm, dtype_kind(use_norm), "use_norm"))
    clip_norm = _scalar(clip_norm, use_norm.dtype, "clip_norm")
    scale = ew.multiply(clip_norm, ew.minimum(ew.divide(1.0, use_norm), ew.divide(1.0, clip_norm)))
    scale = ew.add(scale, ew.subtract(use_norm, use_norm))  # 0 for a finite norm, NaN otherwise
    clipped = [None if v is None else ew.multiply(v, ew.cast(scale, dtype_kind(v))) for v in values]
    return clipped, use_norm
