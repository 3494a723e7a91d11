"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, logic, where, cast.

Unary and binary ops are defined from tables: each entry names the op, the dtypes it takes and its
local derivative(s) written with graphc ops. The VJP multiplies the cotangent by the derivative
(and sums over broadcast axes); the JVP multiplies the tangent by it.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..dispatch import bind
from ..errors import DTypeError
from ..types import TensorType, as_dtype, bool_, broadcast_shapes
from .common import define, dtype_kind, promote, require, unbroadcast, unchanged, user_op
from .creation import zeros_like
from .shape import broadcast_like


# -- unary ------------------------------------------------------------------------------------
def _unary_infer(kind, result=None):
    def infer(types):
        (t,) = types
        if kind == "float":
            require(t.dtype, floating=True)
        elif kind == "numeric":
            require(t.dtype, numeric=True)
        elif kind == "bool":
            require(t.dtype, boolean=True)
        return [t if result is None else TensorType(t.shape, result)]

    return infer


def _define_unary(name, kind, reference, derivative=None, *, result=None, doc="", **fields):
    """Defines a unary elementwise op and returns the function users call. ``reference`` is its
    meaning on NumPy arrays; ``derivative(x, y)`` gives dy/dx elementwise (None: no gradient);
    ``result`` is the result dtype when it is not the input's; ``fields`` are further ``OpDef``
    fields (a ``decomposition``, say)."""
    if derivative is not None:
        fields.setdefault("vjp", lambda cts, inputs, outputs: [multiply(cts[0], derivative(inputs[0], outputs[0]))])
        fields["jvp"] = lambda tangents, inputs, outputs: [multiply(tangents[0], derivative(inputs[0], outputs[0]))]
    define(name, _unary_infer(kind, result), elementwise=True, reference=reference, **fields)

    @user_op(name)
    def op(x):
        (x,) = promote(x, to_float=(kind == "float"))
        return bind(name, x)

    op.__name__ = name
    op.__doc__ = doc or f"Elementwise ``{name}``."
    TABLED_OPS[name] = op
    return op


# The functions users call for the ops of the two tables below, by name (``graphc.ir.ops`` and
# ``graphc`` export them all): a new unary or binary op is one line of a table.
TABLED_OPS: dict[str, Callable] = {}
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf(x):
    from scipy import special  # loaded on first use: importing graphc stays fast

    return special.erf(x)


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _relu_gradient(g, x):
    """``g * (x > 0)`` as TensorFlow's ReluGrad (an infinite or NaN ``g`` at ``x <= 0`` gives NaN, a
    negative one -0.0), written as a select: the fuser keeps the mask ``x > 0``, which the forward
    kernel computes, as booleans (a quarter of the bytes of a float mask), and the multiply in the
    backward kernel, where ``g`` is."""
    return where(greater(x, 0), g, multiply(g, 0))


def _cbrt_from_pow(x):
    """cbrt written with other ops: |x| ** (1/3), refined by one Newton step (the rounded exponent
    costs up to ~60 ulp for large |x|), with the sign, zeros, infinities and NaN of ``x``."""
    a = abs(x)
    y = power(a, 1.0 / 3.0)
    refined = add(y, divide(subtract(divide(a, square(y)), y), 3.0))
    y = where(logical_and(greater(y, 0.0), less(y, math.inf)), refined, y)
    return where(less(x, 0.0), negative(y), where(equal(x, 0.0), x, y))


# name, the dtypes it takes, its NumPy meaning, its derivative dy/dx written with graphc ops
negative = _define_unary("negative", "numeric", np.negative, lambda x, y: -1.0 if x.dtype.is_floating else -1)
abs = _define_unary("abs", "numeric", np.abs, lambda x, y: sign(x))
sign = _define_unary("sign", "numeric", np.sign, lambda x, y: zeros_like(x))
exp = _define_unary("exp", "float", np.exp, lambda x, y: y)
log = _define_unary("log", "float", np.log, lambda x, y: reciprocal(x))
log1p = _define_unary("log1p", "float", np.log1p, lambda x, y: reciprocal(add(x, 1.0)))
expm1 = _define_unary("expm1", "float", np.expm1, lambda x, y: add(y, 1.0))
sqrt = _define_unary("sqrt", "float", np.sqrt, lambda x, y: divide(0.5, y))
rsqrt = _define_unary("rsqrt", "float", lambda x: 1 / np.sqrt(x), lambda x, y: multiply(-0.5, multiply(y, square(y))))
cbrt = _define_unary("cbrt", "float", np.cbrt, lambda x, y: divide(1.0, multiply(3.0, square(y))), decomposition=_cbrt_from_pow)
square = _define_unary("square", "numeric", np.square, lambda x, y: multiply(2.0 if x.dtype.is_floating else 2, x))
sin = _define_unary("sin", "float", np.sin, lambda x, y: cos(x))
cos = _define_unary("cos", "float", np.cos, lambda x, y: negative(sin(x)))
tanh = _define_unary("tanh", "float", np.tanh, lambda x, y: subtract(1.0, square(y)))
sigmoid = _define_unary("sigmoid", "float", _stable_sigmoid, lambda x, y: multiply(y, subtract(1.0, y)))
relu = _define_unary("relu", "numeric", lambda x: np.maximum(x, np.zeros((), x.dtype)), lambda x, y: cast(greater(x, 0), x.dtype),
                     vjp=lambda cts, inputs, outputs: [_relu_gradient(cts[0], inputs[0])])
erf = _define_unary("erf", "float", _erf, lambda x, y: multiply(_TWO_OVER_SQRT_PI, exp(negative(square(x)))))
logical_not = _define_unary("logical_not", "bool", np.logical_not)
# math ops (tf-math): rounding has no gradient (TensorFlow's is None); the predicates give bools
round = _define_unary("round", "numeric", np.round, doc="Rounds to the nearest integer, halves to even (as TensorFlow).")
floor = _define_unary("floor", "float", np.floor, doc="The largest integer not above ``x``, elementwise.")
ceil = _define_unary("ceil", "float", np.ceil, doc="The smallest integer not below ``x``, elementwise.")
is_nan = _define_unary("is_nan", "float", np.isnan, result=bool_, doc="Whether each element is NaN.")
is_inf = _define_unary("is_inf", "float", np.isinf, result=bool_, doc="Whether each element is +inf or -inf.")
is_finite = _define_unary("is_finite", "float", np.isfinite, result=bool_, doc="Whether each element is neither inf nor NaN.")
asin = _define_unary("asin", "float", np.arcsin, lambda x, y: rsqrt(subtract(1.0, square(x))))
acos = _define_unary("acos", "float", np.arccos, lambda x, y: negative(rsqrt(subtract(1.0, square(x)))))
atan = _define_unary("atan", "float", np.arctan, lambda x, y: reciprocal(add(1.0, square(x))))
asinh = _define_unary("asinh", "float", np.arcsinh, lambda x, y: rsqrt(add(square(x), 1.0)))
acosh = _define_unary("acosh", "float", np.arccosh, lambda x, y: rsqrt(multiply(subtract(x, 1.0), add(x, 1.0))))
atanh = _define_unary("atanh", "float", np.arctanh, lambda x, y: reciprocal(subtract(1.0, square(x))))


@user_op("reciprocal")
def reciprocal(x):
    """``1 / x`` in x's float type (int64 -> float64, as for the other float-only ops)."""
    (x,) = promote(x, to_float=True)
    return divide(1.0, x)


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
        elif kind == "float":
            require(a.dtype, floating=True, what="operands")
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
        return [broadcast_like(out, outputs[0]) if out.shape != outputs[0].shape else out]

    return jvp


_ONE = object()  # marks a partial derivative equal to one (no multiply needed)


def _define_binary(name, kind, reference, partials=None, *, result=None, to_float=False, identity=None, doc=""):
    """Defines a binary elementwise op with broadcasting and returns the function users call.
    ``reference`` is its meaning on NumPy arrays; ``partials(x, y, out)`` gives (d out/dx, d out/dy)."""
    fields = {"elementwise": True, "identity": identity, "reference": reference}
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
    TABLED_OPS["power" if name == "pow" else name] = op
    return op


def _pow_partials(x, y, out):
    dx = multiply(y, power(x, subtract(y, 1)))
    dy = multiply(where(greater(x, 0), log(where(greater(x, 0), x, 1)), zeros_like(x)), out)
    return dx, dy


def _integer_power(x, y):
    # as NumPy, which refuses only the elements it computes: none when the result is empty
    if x.dtype.kind == "i" and np.any(y < 0) and np.broadcast(x, y).size:
        raise ValueError("integers to negative integer powers are not allowed")
    return np.power(x, y)


# name, the dtypes it takes, its NumPy meaning, its partial derivatives written with graphc ops
add = _define_binary("add", "numeric", np.add, lambda x, y, o: (_ONE, _ONE), identity=0)
subtract = _define_binary("subtract", "numeric", np.subtract, lambda x, y, o: (_ONE, -1.0 if x.dtype.is_floating else -1))
multiply = _define_binary("multiply", "numeric", np.multiply, lambda x, y, o: (y, x), identity=1)
divide = _define_binary(
    "divide", "numeric", np.true_divide, lambda x, y, o: (reciprocal(y), negative(divide(o, y))), to_float=True,
    doc="True division; integer operands are converted to float first.",
)
floordiv = _define_binary("floordiv", "numeric", np.floor_divide, lambda x, y, o: (None, None), doc="Floor division (rounds toward -inf).")
mod = _define_binary(
    "mod", "numeric", np.mod, lambda x, y, o: (_ONE, negative(floordiv(x, y))),
    doc="Remainder with the sign of the divisor (Python's and NumPy's ``%``).",
)
power = _define_binary("pow", "numeric", _integer_power, _pow_partials, doc="``x ** y`` elementwise.")
maximum = _define_binary(
    "maximum", "numeric", np.maximum,
    lambda x, y, o: (cast(greater_equal(x, y), x.dtype), cast(less(x, y), x.dtype)), identity="lowest",
)
minimum = _define_binary(
    "minimum", "numeric", np.minimum,
    lambda x, y, o: (cast(less_equal(x, y), x.dtype), cast(greater(x, y), x.dtype)), identity="highest",
)
equal = _define_binary("equal", "any", np.equal, result=bool_)
not_equal = _define_binary("not_equal", "any", np.not_equal, result=bool_)
less = _define_binary("less", "numeric", np.less, result=bool_)
less_equal = _define_binary("less_equal", "numeric", np.less_equal, result=bool_)
greater = _define_binary("greater", "numeric", np.greater, result=bool_)
greater_equal = _define_binary("greater_equal", "numeric", np.greater_equal, result=bool_)
logical_and = _define_binary("logical_and", "bool", np.logical_and)
logical_or = _define_binary("logical_or", "bool", np.logical_or)
# math ops (tf-math)
_define_binary("atan2", "float", np.arctan2, lambda y, x, o: (divide(x, add(square(x), square(y))),
                                                              negative(divide(y, add(square(x), square(y))))))


@user_op("atan2")
def atan2(y, x):
    """The angle of the point (x, y) from the x axis, in [-pi, pi], with the signs of zeros as in C
    (TensorFlow's argument order: y first). Integers are converted to float first."""
    y, x = promote(y, x, to_float=True)
    return bind("atan2", y, x)


TABLED_OPS["atan2"] = atan2


# -- where, cast --------------------------------------------------------------------------------
def _where_infer(types):
    c, a, b = types
    require(c.dtype, boolean=True, what="condition")
    if a.dtype != b.dtype:
        raise DTypeError(f"branches must have the same dtype, got {a.dtype.name} and {b.dtype.name}")
    return [TensorType(broadcast_shapes(c.shape, a.shape, b.shape), a.dtype)]


def _where_vjp(cts, inputs, outputs):
    c, x, y = inputs
    g = cts[0]
    zero = zeros_like(g)
    return [None, unbroadcast(where(c, g, zero), x.type), unbroadcast(where(c, zero, g), y.type)]


def _where_jvp(tangents, inputs, outputs):
    c, x, y = inputs
    tx, ty = tangents[1], tangents[2]
    if tx is None and ty is None:
        return [None]
    tx = tx if tx is not None else zeros_like(x)
    ty = ty if ty is not None else zeros_like(y)
    return [where(c, tx, ty)]


define("where", _where_infer, vjp=_where_vjp, jvp=_where_jvp, elementwise=True, reference=np.where)


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
    """``x`` converted to ``dtype``, as TensorFlow's Cast on a CPU:

    - float to integer truncates toward zero; NaN and values outside int32's range (int64's for
      int64) give that type's least value (x86's conversion); into int8, int16, uint8 or uint16 the
      int32 result then wraps around: ``cast(300.0, uint8)`` is 44, ``cast(-1.0, uint8)`` 255;
    - integer to integer wraps around (keeps the low bits; widening extends the sign of signed types);
    - to a float rounds to the nearest value (float16: beyond 65504 rounds to inf, tiny values to
      float16 subnormals or zero); to bool is ``x != 0`` (NaN gives True)."""
    dtype = as_dtype(dtype)
    return unchanged(x) if dtype_kind(x) == dtype else bind("cast", x, dtype=dtype)
