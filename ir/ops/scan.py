"""Cumulative sums and products along an axis (TensorFlow's cumsum and cumprod), inclusive or
exclusive, forward or reversed.

cumsum is linear: its VJP is the cumsum of the cotangent in the other direction. cumprod's VJP and
JVP are right where the input holds zeros: along each row, the elements other than the first zero
take the usual ``reversed cumsum(g * y) / x`` (0 past a zero), the first zero the product of the
elements before it times a cumsum of g weighted by the products after it. Each piece is exact in a
neighbourhood of x, so derivatives of any order are right for rows with at most one zero; where a
row holds two zeros or more, the first derivatives are right and the second miss the terms that
differentiate one zero after another.
"""
from __future__ import annotations

import numpy as np

from ..arguments import normalize_axis
from ..dispatch import bind
from . import elementwise as ew
from .common import define, promote, require, shape_of, user_op


def _scan_infer(types, axis, exclusive, reverse):
    (t,) = types
    require(t.dtype, numeric=True)
    return [t]


def _numpy_scan(accumulate, identity):
    def reference(x, axis, exclusive, reverse):
        x = np.flip(x, axis) if reverse else x
        y = accumulate(x, axis=axis, dtype=x.dtype)
        if exclusive and y.shape[axis]:
            start = np.full_like(np.take(y, [0], axis=axis), identity)
            y = np.concatenate([start, np.delete(y, -1, axis=axis)], axis=axis)
        return np.ascontiguousarray(np.flip(y, axis) if reverse else y)

    return reference


def _cumsum_vjp(cts, inputs, outputs, axis, exclusive, reverse):
    return [bind("cumsum", cts[0], axis=axis, exclusive=exclusive, reverse=not reverse)]


def _zero_structure(x, axis, reverse):
    """Along each row in the scan's direction: the first zero (a mask), x with its zeros set to 1, the
    exclusive cumprod of x (at the first zero, the product of the elements before it), and x with
    every element up to the first zero (included) set to 1."""
    is_zero = ew.equal(x, 0)
    zeros_before = bind("cumsum", ew.cast(is_zero, x.dtype), axis=axis, exclusive=True, reverse=reverse)
    none_before = ew.equal(zeros_before, 0)
    before = bind("cumprod", x, axis=axis, exclusive=True, reverse=reverse)
    return ew.logical_and(is_zero, none_before), ew.where(is_zero, 1, x), before, ew.where(none_before, 1, x)


def _cumprod_vjp(cts, inputs, outputs, axis, exclusive, reverse):
    (x,), (y,), g = inputs, outputs, cts[0]
    first_zero, nonzero_x, before, x_after = _zero_structure(x, axis, reverse)
    back = lambda v: bind("cumsum", v, axis=axis, exclusive=exclusive, reverse=not reverse)  # noqa: E731
    # before the first zero: the sum over later outputs of g y / x (the terms past the zero are 0)
    plain = ew.divide(back(ew.multiply(g, y)), nonzero_x)
    after = bind("cumprod", x_after, axis=axis, exclusive=exclusive, reverse=reverse)
    at_zero = ew.multiply(before, back(ew.multiply(g, after)))
    return [ew.where(first_zero, at_zero, plain)]


def _cumprod_jvp(tangents, inputs, outputs, axis, exclusive, reverse):
    (x,), (y,), t = inputs, outputs, tangents[0]
    first_zero, nonzero_x, before, x_after = _zero_structure(x, axis, reverse)
    scan = lambda op, v: bind(op, v, axis=axis, exclusive=exclusive, reverse=reverse)  # noqa: E731
    plain = ew.multiply(y, scan("cumsum", ew.where(ew.equal(x, 0), 0, ew.divide(t, nonzero_x))))
    at_zero = ew.where(first_zero, ew.multiply(t, before), 0)
    return [ew.add(plain, ew.multiply(scan("cumsum", at_zero), scan("cumprod", x_after)))]


define("cumsum", _scan_infer, vjp=_cumsum_vjp, linear=True, reference=_numpy_scan(np.cumsum, 0))
define("cumprod", _scan_infer, vjp=_cumprod_vjp, jvp=_cumprod_jvp, reference=_numpy_scan(np.cumprod, 1))


def _scan(name, what):
    @user_op(name)
    def scan(x, axis=0, exclusive=False, reverse=False):
        (x,) = promote(x)
        axis = normalize_axis(axis, len(shape_of(x)))
        return bind(name, x, axis=axis, exclusive=bool(exclusive), reverse=bool(reverse))

    scan.__name__ = name
    scan.__doc__ = (f"The cumulative {what} of ``x`` along ``axis``: ``exclusive`` leaves each element out of its "
                    f"own result, ``reverse`` runs from the end (TensorFlow's ``tf.math.{name}``).")
    return scan


cumsum = _scan("cumsum", "sum")
cumprod = _scan("cumprod", "product")
