"""Reductions over axes: sum, max, min, prod, argmax, argmin, and the element count of axes."""
from __future__ import annotations

from ..arguments import normalize_axes, normalize_axis
from ..dispatch import bind
from ..errors import InvalidArgumentError
from ..types import TensorType, as_dtype, int64
from . import elementwise as ew
from .common import define, promote, reduced_shape, require, shape_of, user_op
from .creation import ones_like
from .shape import broadcast_like, expand_dims
from .summation import deterministic_reduce_sum


def _reduce_infer(kind):
    def infer(types, axes, keepdims, allow_empty=False):
        (t,) = types
        require(t.dtype, numeric=True)
        for a in axes:
            if t.shape[a] == 0 and kind == "extremum" and not allow_empty:
                raise InvalidArgumentError(f"cannot reduce an empty axis {a} (shape {list(t.shape)}): it has no identity")
        return [TensorType(reduced_shape(t.shape, axes, keepdims), t.dtype)]

    return infer


def _keep(g, axes, keepdims):
    """``g`` with the reduced axes restored as size-1 axes."""
    return g if keepdims or not axes else expand_dims(g, axes)


def _sum_vjp(cts, inputs, outputs, axes, keepdims):
    return [broadcast_like(_keep(cts[0], axes, keepdims), inputs[0])]


def _extremum_mask(x, y, axes, keepdims):
    """1 where ``x`` attains the reduced extremum ``y``, divided by the number of ties."""
    hit = ew.cast(ew.equal(x, broadcast_like(_keep(y, axes, keepdims), x)), x.dtype)
    return ew.divide(hit, broadcast_like(reduce_sum(hit, axes, keepdims=True), x))


def _extremum_vjp(cts, inputs, outputs, axes, keepdims, allow_empty=False):
    x = inputs[0]
    mask = _extremum_mask(x, outputs[0], axes, keepdims)
    return [ew.multiply(broadcast_like(_keep(cts[0], axes, keepdims), x), mask)]


def _extremum_jvp(tangents, inputs, outputs, axes, keepdims, allow_empty=False):
    mask = _extremum_mask(inputs[0], outputs[0], axes, keepdims)
    return [bind("reduce_sum", ew.multiply(tangents[0], mask), axes=axes, keepdims=keepdims)]


def _prod_vjp(cts, inputs, outputs, axes, keepdims):
    """d prod / d x_i = product of the other elements, computed without dividing by zero."""
    x = inputs[0]
    is_zero = ew.equal(x, 0)
    nonzero_product = broadcast_like(reduce_prod(ew.where(is_zero, 1, x), axes, keepdims=True), x)
    zero_count = broadcast_like(reduce_sum(ew.cast(is_zero, x.dtype), axes, keepdims=True), x)
    others = ew.where(
        ew.equal(zero_count, 0),
        ew.divide(nonzero_product, ew.where(is_zero, 1, x)),
        ew.where(ew.logical_and(ew.equal(zero_count, 1), is_zero), nonzero_product, 0),
    )
    return [ew.multiply(broadcast_like(_keep(cts[0], axes, keepdims), x), others)]


def _vjp_as_jvp(vjp):
    """The JVP of a reduction r whose VJP is g -> broadcast(g) * w: r(t * w)."""

    def jvp(tangents, inputs, outputs, axes, keepdims):
        weights = vjp([ones_like(outputs[0])], inputs, outputs, axes, keepdims)[0]
        return [bind("reduce_sum", ew.multiply(tangents[0], weights), axes=axes, keepdims=keepdims)]

    return jvp


define("reduce_sum", _reduce_infer("numeric"), vjp=_sum_vjp, linear=True, reduction="add",
       deterministic=deterministic_reduce_sum)
# reduce_max and reduce_min refuse an empty axis, unless ``allow_empty``: then it gives the identity
# (-inf and inf, the dtype's extremes for integers), as NumPy's ``initial=`` does
define("reduce_max", _reduce_infer("extremum"), vjp=_extremum_vjp, jvp=_extremum_jvp, reduction="maximum")
define("reduce_min", _reduce_infer("extremum"), vjp=_extremum_vjp, jvp=_extremum_jvp, reduction="minimum")
define("reduce_prod", _reduce_infer("numeric"), vjp=_prod_vjp, jvp=_vjp_as_jvp(_prod_vjp), reduction="multiply")


def _reducer(name):
    @user_op(name)
    def reduce(x, axis=None, keepdims=False):
        (x,) = promote(x)
        ndim = len(shape_of(x))
        return bind(name, x, axes=normalize_axes(axis, ndim), keepdims=bool(keepdims))

    reduce.__name__ = name
    reduce.__doc__ = f"``{name}`` over ``axis`` (None: every axis), keeping reduced axes as size 1 if ``keepdims``."
    return reduce


reduce_sum = _reducer("reduce_sum")
reduce_max = _reducer("reduce_max")
reduce_min = _reducer("reduce_min")
reduce_prod = _reducer("reduce_prod")


def _arg_infer(types, axis, dtype):
    (t,) = types
    require(t.dtype, numeric=True)
    if t.shape[axis] == 0:
        raise InvalidArgumentError(f"cannot take the arg-extremum of an empty axis {axis}")
    return [TensorType(reduced_shape(t.shape, (axis,), False), as_dtype(dtype))]


define("argmax", _arg_infer)
define("argmin", _arg_infer)


def _arg_reducer(name):
    @user_op(name)
    def arg(x, axis=0, output_type=int64):
        (x,) = promote(x)
        return bind(name, x, axis=normalize_axis(axis, len(shape_of(x))), dtype=as_dtype(output_type))

    arg.__name__ = name
    arg.__doc__ = f"Index of the first ``{name[3:]}`` along ``axis`` (int64 by default, as in TensorFlow)."
    return arg


argmax = _arg_reducer("argmax")
argmin = _arg_reducer("argmin")


def _dim_size_infer(types, axes, dtype):
    return [TensorType((), as_dtype(dtype))]


define("dim_size", _dim_size_infer, shape_only_inputs=(0,))


def dim_size(x, axes, dtype):
    """The number of elements in ``axes`` of ``x`` as a scalar of ``dtype`` (known at run time)."""
    return bind("dim_size", x, axes=tuple(axes), dtype=as_dtype(dtype))
