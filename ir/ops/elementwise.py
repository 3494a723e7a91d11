"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, logic, where, cast.

Unary and binary ops are defined from tables: each entry names the op, the dtypes it takes and its
local derivative(s) written with graphc ops. The VJP multiplies the cotangent by the derivative
(and sums over broadcast axes); the JVP multiplies the tangent by it.
"""
from __future__ import annotations

import math

from ..dispatch import bind
from ..errors import DTypeError
from ..types import TensorType, as_dtype, bool_, broadcast_shapes
from .common import define, dtype_kind, promote, require, unbroadcast, unchanged, user_op


# -- unary ------------------------------------------------------------------------------------
def _unary_infer(kind):
    def infer(types):
        (t,) = types
        if kind == "float":
            require(t.dtype, floating=True)
        elif kind == "numeric":
            require(t.dtype, numeric=True)
        elif kind == "bool":
            require(t.dtype, boolean=True)
        return [t]

    return infer


def _define_unary(name, kind, derivative=None):
    """``derivative(x, y)`` gives dy/dx elementwise; None means the op has no gradient."""
    fields = {"elementwise": True}
    if derivative is not None:
        fields["vjp"] = lambda cts, inputs, outputs: [multiply(cts[0], derivative(inputs[0], outputs[0]))]
        fields["jvp"] = lambda tangents, inputs, outputs: [multiply(tangents[0], derivative(inputs[0], outputs[0]))]
    define(name, _unary_infer(kind), **fields)

    @user_op(name)
    def op(x):
        (x,) = promote(x, to_float=(kind == "float"))
        return bind(name, x)

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}``."
    return op


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

negative = _define_unary("negative", "numeric", lambda x, y: -1.0 if x.dtype.is_floating else -1)
abs = _define_unary("abs", "numeric", lambda x, y: sign(x))
sign = _define_unary("sign", "numeric", lambda x, y: zeros_like_float(x))
exp = _define_unary("exp", "float", lambda x, y: y)
log = _define_unary("log", "float", lambda x, y: reciprocal(x))
log1p = _define_unary("log1p", "float", lambda x, y: reciprocal(add(x, 1.0)))
expm1 = _define_unary("expm1", "float", lambda x, y: add(y, 1.0))
sqrt = _define_unary("sqrt", "float", lambda x, y: divide(0.5, y))
rsqrt = _define_unary("rsqrt", "float", lambda x, y: multiply(-0.5, multiply(y, square(y))))
square = _define_unary("square", "numeric", lambda x, y: multiply(2.0 if x.dtype.is_floating else 2, x))
sin = _define_unary("sin", "float", lambda x, y: cos(x))
cos = _define_unary("cos", "float", lambda x, y: negative(sin(x)))
tanh = _define_unary("tanh", "float", lambda x, y: subtract(1.0, square(y)))
sigmoid = _define_unary("sigmoid", "float", lambda x, y: multiply(y, subtract(1.0, y)))
relu = _define_unary("relu", "numeric", lambda x, y: cast(greater(x, 0), x.dtype))
erf = _define_unary("erf", "float", lambda x, y: multiply(_TWO_OVER_SQRT_PI, exp(negative(square(x)))))
logical_not = _define_unary("logical_not", "bool")


@user_op("reciprocal")
def reciprocal(x):
    """``1 / x`` in x's float type (int64 -> float64, as for the other float-only ops)."""
    (x,) = promote(x, to_float=True)
    return divide(1.0, x)


def zeros_like_float(x):
    from .creation import zeros_like

    return zeros_like(x)


# -- binary -----------------------------------------------------------------------------------
def _binary_infer(kind, result=None):
    def infer(types):
        a, b = types
        if a.dtype != b.dtype:
            raise DTypeError(f"operands must have the same dtype, got {a.dtype.name} and {b.dtype.name}")
        if kind == "numeric":
            require(a.dtype, numeric=True, what="operands")
        elif kind == "bool":
            require(a.dtype, boolean=True, what="operands")
        shape = broadcast_shapes(a.shape, b.shape)
        return [TensorType(shape, result or a.dtype)]

    return infer


def _binary_vjp(partials):
    def vjp(cts, inputs, outputs):
        x, y = inputs
        dx, dy = partials(x, y, outputs[0])
        g = cts[0]
        return [
            None if dx is None else unbroadcast(multiply(g, dx) if dx is not _ONE else g, x.type),
            None if dy is None else unbroadcast(multiply(g, dy) if dy is not _ONE else g, y.type),
        ]

    return vjp


def _binary_jvp(partials):
    def jvp(tangents, inputs, outputs):
        x, y = inputs
        dx, dy = partials(x, y, outputs[0])
        terms = []
        for t, d in ((tangents[0], dx), (tangents[1], dy)):
            if t is not None and d is not None:
                terms.append(t if d is _ONE else multiply(t, d))
        if not terms:
            return [None]
        out = terms[0] if len(terms) == 1 else add(terms[0], terms[1])
        from .shape import broadcast_like

        return [broadcast_like(out, outputs[0]) if out.shape != outputs[0].shape else out]

    return jvp


_ONE = object()  # marks a partial derivative equal to one (no multiply needed)


def _define_binary(name, kind, partials=None, *, result=None, to_float=False, identity=None, doc=""):
    fields = {"elementwise": True, "identity": identity}
    if partials is not None:
        fields["vjp"] = _binary_vjp(partials)
        fields["jvp"] = _binary_jvp(partials)
    define(name, _binary_infer(kind, result), **fields)

    @user_op(name)
    def op(x, y):
        x, y = promote(x, y, to_float=to_float)
        return bind(name, x, y)

    op.__name__ = name
    op.__doc__ = doc or f"Elementwise ``{name}`` with broadcasting."
    return op


def _pow_partials(x, y, out):
    dx = multiply(y, power(x, subtract(y, 1)))
    from .creation import zeros_like

    dy = multiply(where(greater(x, 0), log(where(greater(x, 0), x, 1)), zeros_like(x)), out)
    return dx, dy


add = _define_binary("add", "numeric", lambda x, y, o: (_ONE, _ONE), identity=0)
subtract = _define_binary("subtract", "numeric", lambda x, y, o: (_ONE, -1.0 if x.dtype.is_floating else -1))
multiply = _define_binary("multiply", "numeric", lambda x, y, o: (y, x), identity=1)
divide = _define_binary(
    "divide", "numeric", lambda x, y, o: (reciprocal(y), negative(divide(o, y))), to_float=True,
    doc="True division; integer operands are converted to float first.",
)
floordiv = _define_binary("floordiv", "numeric", lambda x, y, o: (None, None), doc="Floor division (rounds toward -inf).")
mod = _define_binary(
    "mod", "numeric", lambda x, y, o: (_ONE, negative(floordiv(x, y))),
    doc="Remainder with the sign of the divisor (Python's and NumPy's ``%``).",
)
power = _define_binary("pow", "numeric", _pow_partials, doc="``x ** y`` elementwise.")
maximum = _define_binary(
    "maximum", "numeric",
    lambda x, y, o: (cast(greater_equal(x, y), x.dtype), cast(less(x, y), x.dtype)), identity="lowest",
)
minimum = _define_binary(
    "minimum", "numeric",
    lambda x, y, o: (cast(less_equal(x, y), x.dtype), cast(greater(x, y), x.dtype)), identity="highest",
)
equal = _define_binary("equal", "any", result=bool_)
not_equal = _define_binary("not_equal", "any", result=bool_)
less = _define_binary("less", "numeric", result=bool_)
less_equal = _define_binary("less_equal", "numeric", result=bool_)
greater = _define_binary("greater", "numeric", result=bool_)
greater_equal = _define_binary("greater_equal", "numeric", result=bool_)
logical_and = _define_binary("logical_and", "bool")
logical_or = _define_binary("logical_or", "bool")


# -- where, cast --------------------------------------------------------------------------------
def _where_infer(types):
    c, a, b = types
    require(c.dtype, boolean=True, what="condition")
    if a.dtype != b.dtype:
        raise DTypeError(f"branches must have the same dtype, got {a.dtype.name} and {b.dtype.name}")
    return [TensorType(broadcast_shapes(c.shape, a.shape, b.shape), a.dtype)]


def _where_vjp(cts, inputs, outputs):
    from .creation import zeros_like

    c, x, y = inputs
    g = cts[0]
    zero = zeros_like(g)
    return [None, unbroadcast(where(c, g, zero), x.type), unbroadcast(where(c, zero, g), y.type)]


def _where_jvp(tangents, inputs, outputs):
    from .creation import zeros_like

    c, x, y = inputs
    tx, ty = tangents[1], tangents[2]
    if tx is None and ty is None:
        return [None]
    tx = tx if tx is not None else zeros_like(x)
    ty = ty if ty is not None else zeros_like(y)
    return [where(c, tx, ty)]


define("where", _where_infer, vjp=_where_vjp, jvp=_where_jvp, elementwise=True)


@user_op("where")
def where(condition, x, y):
    """Elementwise ``x if condition else y``, with broadcasting."""
    x, y = promote(x, y)
    return bind("where", condition, x, y)


def _cast_infer(types, dtype):
    return [TensorType(types[0].shape, as_dtype(dtype))]


def _cast_vjp(cts, inputs, outputs, dtype):
    x = inputs[0]
    if not x.dtype.is_floating or not as_dtype(dtype).is_floating:
        return [None]
    return [cast(cts[0], x.dtype)]


def _cast_jvp(tangents, inputs, outputs, dtype):
    if tangents[0] is None or not as_dtype(dtype).is_floating:
        return [None]
    return [cast(tangents[0], as_dtype(dtype))]


define("cast", _cast_infer, vjp=_cast_vjp, jvp=_cast_jvp, elementwise=True)


@user_op("cast")
def cast(x, dtype):
    """``x`` converted to ``dtype`` (float to int truncates toward zero, as C and TensorFlow do)."""
    dtype = as_dtype(dtype)
    if dtype_kind(x) == dtype:
        return unchanged(x)
    return bind("cast", x, dtype=dtype)
