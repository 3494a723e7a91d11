"""Scalar code for elementwise ops: one function per op, emitting LLVM IR for one element.

Each lowering follows the NumPy kernel's semantics exactly (NaN propagation of maximum/minimum,
floor division and modulo as ``np.floor_divide``/``np.mod``, float-to-int casts that give INT_MIN
out of range as x86 NumPy does), so native results equal the interpreter's.
Bools are ``i1`` in registers and one byte in memory. float16 is ``half`` in memory and ``float`` in
registers: each op computes in float32 and ``lower_scalar`` rounds its result to float16 (the
reference backend's rule). Unsigned integers are LLVM integers read as unsigned by the ops that care
(comparisons, division, extension, conversion to float).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from llvmlite import ir

from graphc.ir.ops.control import build_region
from graphc.ir.registry import OpDef, get_op
from graphc.ir.types import DType, TensorType, float16, float32

from .error_codes import ERROR_NEGATIVE_INTEGER_POWER
from .lowering import ELEMENT, Lowering, element_code

I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
_REGISTER_TYPES = {"float16": F32, "float32": F32, "float64": F64, "int8": I8, "int16": I16, "int32": I32,
                   "int64": I64, "uint8": I8, "uint16": I16, "bool": I1}


def register_type(dtype: DType) -> ir.Type:
    """The type a value of ``dtype`` has in registers."""
    return _REGISTER_TYPES[dtype.name]


def memory_type(dtype: DType) -> ir.Type:
    """The type a value of ``dtype`` has in memory."""
    return I8 if dtype.is_bool else F16 if dtype.name == "float16" else register_type(dtype)


def load(b: ir.IRBuilder, ptr, dtype: DType):
    value = b.load(ptr)
    if dtype.name == "float16":
        return b.fpext(value, F32)
    return b.icmp_unsigned("!=", value, ir.Constant(I8, 0)) if dtype.is_bool else value


def store(b: ir.IRBuilder, value, ptr, dtype: DType):
    if dtype.name == "float16":
        value = b.fptrunc(value, F16)
    b.store(b.zext(value, I8) if dtype.is_bool else value, ptr)


def round_to(b: ir.IRBuilder, value, dtype: DType):
    """A register value of a float op rounded to ``dtype`` (float16 registers hold float32 values)."""
    return b.fpext(b.fptrunc(value, F16), F32) if dtype.name == "float16" else value


def constant(dtype: DType, value) -> ir.Constant:
    ty = register_type(dtype)
    if dtype.is_bool:
        return ir.Constant(I1, int(bool(value)))
    if dtype.is_integer:
        value = int(value) % 2 ** ty.width  # two's complement: an unsigned value by its bits
        return ir.Constant(ty, value - 2 ** ty.width if value >= 2 ** (ty.width - 1) else value)
    return ir.Constant(ty, float(np.float16(value)) if dtype.name == "float16" else float(value))


def _int_compare(b: ir.IRBuilder, dtype: DType, pred: str, x, y):
    """An integer comparison, signed or unsigned as ``dtype`` reads its bits."""
    return (b.icmp_unsigned if dtype.is_unsigned else b.icmp_signed)(pred, x, y)


def call_intrinsic(b: ir.IRBuilder, name: str, *args):
    """Calls the float LLVM intrinsic ``name`` (``llvm.fabs`` ...) at the type of its arguments
    (scalars or vectors of them)."""
    ty = args[0].type
    element = ty.element if isinstance(ty, ir.VectorType) else ty
    lanes = f"v{ty.count}" if isinstance(ty, ir.VectorType) else ""
    full = f"{name}.{lanes}{'f32' if element == F32 else 'f64'}"
    fn = b.module.globals.get(full) or ir.Function(b.module, ir.FunctionType(ty, [ty] * len(args)), full)
    return b.call(fn, list(args))


def _math(name):
    def lower(b, args, in_types, out_type, attrs):
        from .mathlib import math_function

        fn = math_function(b.module, name, register_type(out_type))
        return b.call(fn, list(args))

    return lower


def _is_nan(b, x):
    return b.fcmp_unordered("uno", x, x)


def _float_or_int(float_op, int_op):
    def lower(b, args, in_types, out_type, attrs):
        return getattr(b, float_op if out_type.is_floating else int_op)(*args)

    return lower


def _negative(b, args, in_types, out_type, attrs):
    (x,) = args
    return b.fneg(x) if out_type.is_floating else b.neg(x)


def _abs(b, args, in_types, out_type, attrs):
    (x,) = args
    if out_type.is_floating:
        return call_intrinsic(b, "llvm.fabs", x)
    return b.select(_int_compare(b, out_type, "<", x, ir.Constant(x.type, 0)), b.neg(x), x)


def _sign(b, args, in_types, out_type, attrs):
    (x,) = args
    zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
    if out_type.is_floating:
        minus = ir.Constant(x.type, -1.0)
        r = b.select(b.fcmp_ordered(">", x, zero), one, b.select(b.fcmp_ordered("<", x, zero), minus, zero))
        return b.select(_is_nan(b, x), x, r)
    minus = ir.Constant(x.type, -1)
    return b.select(_int_compare(b, out_type, ">", x, zero), one,
                    b.select(_int_compare(b, out_type, "<", x, zero), minus, zero))


def _square(b, args, in_types, out_type, attrs):
    (x,) = args
    return b.fmul(x, x) if out_type.is_floating else b.mul(x, x)


def _sqrt(b, args, in_types, out_type, attrs):
    return call_intrinsic(b, "llvm.sqrt", args[0])


def _rsqrt(b, args, in_types, out_type, attrs):
    x = args[0]
    return b.fdiv(ir.Constant(x.type, 1.0), call_intrinsic(b, "llvm.sqrt", x))


def _relu(b, args, in_types, out_type, attrs):
    (x,) = args
    return _maximum(b, [x, ir.Constant(x.type, 0.0 if out_type.is_floating else 0)], in_types, out_type, attrs)


def _extremum(pred):
    """NumPy's maximum / minimum: ``(a pred b or isnan(a)) ? a : b`` (NaN-propagating; of two equal
    zeros, the second)."""

    def lower(b, args, in_types, out_type, attrs):
        x, y = args
        if out_type.is_floating:
            take_x = b.or_(b.fcmp_ordered(pred, x, y), _is_nan(b, x))
        else:
            take_x = _int_compare(b, out_type, pred, x, y)
        return b.select(take_x, x, y)

    return lower


_maximum, _minimum = _extremum(">"), _extremum("<")


def _float_divmod(b, x, y):
    """NumPy's npy_divmod: (floor quotient, remainder with the divisor's sign); C truth tests of a
    NaN are true, hence the unordered comparisons with zero."""
    ty = x.type
    zero, one, half = ir.Constant(ty, 0.0), ir.Constant(ty, 1.0), ir.Constant(ty, 0.5)
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    mod_nonzero = b.fcmp_unordered("!=", mod, zero)
    fix = b.and_(mod_nonzero, b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
    mod2 = b.select(fix, b.fadd(mod, y), b.select(mod_nonzero, mod, call_intrinsic(b, "llvm.copysign", zero, y)))
    div2 = b.select(fix, b.fsub(div, one), div)
    floor = call_intrinsic(b, "llvm.floor", div2)
    floor = b.select(b.fcmp_ordered(">", b.fsub(div2, floor), half), b.fadd(floor, one), floor)
    floor = b.select(b.fcmp_unordered("!=", div2, zero), floor, call_intrinsic(b, "llvm.copysign", zero, b.fdiv(x, y)))
    by_zero = b.fcmp_ordered("==", y, zero)
    return b.select(by_zero, b.fdiv(x, y), floor), b.select(by_zero, mod, mod2)


def _int_divmod(b, x, y, unsigned=False):
    """Floor division and modulo of integers; division by zero gives 0, as NumPy does."""
    ty = x.type
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    is_zero = b.icmp_signed("==", y, zero)
    safe_y = b.select(is_zero, one, y)
    if unsigned:
        return b.select(is_zero, zero, b.udiv(x, safe_y)), b.select(is_zero, zero, b.urem(x, safe_y))
    # INT_MIN // -1 overflows in hardware; NumPy wraps to INT_MIN
    minus_one = b.icmp_signed("==", safe_y, ir.Constant(ty, -1))
    safe_y = b.select(minus_one, one, safe_y)
    q = b.sdiv(x, safe_y)
    r = b.srem(x, safe_y)
    q = b.select(minus_one, b.neg(x), q)
    r = b.select(minus_one, zero, r)
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", safe_y, zero)))
    q = b.select(adjust, b.sub(q, one), q)
    r = b.select(adjust, b.add(r, safe_y), r)
    return b.select(is_zero, zero, q), b.select(is_zero, zero, r)


def _divmod(b, args, out_type):
    if out_type.is_floating:
        return _float_divmod(b, *args)
    return _int_divmod(b, *args, unsigned=out_type.is_unsigned)


def _floordiv(b, args, in_types, out_type, attrs):
    return _divmod(b, args, out_type)[0]


def _mod(b, args, in_types, out_type, attrs):
    return _divmod(b, args, out_type)[1]


def _int_pow(b, x, y, unsigned=False):
    """x ** y for integers by repeated squaring, wrapping as NumPy does (a negative exponent gives 0,
    and ``_pow`` flags the element as an error)."""
    ty = x.type
    fn_name = f"graphc.{'u' if unsigned else 'i'}pow.{ty.width}"
    module = b.module
    fn = module.globals.get(fn_name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), fn_name)
        fn.linkage = "internal"
        base, exp = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        done = fn.append_basic_block("done")
        fb = ir.IRBuilder(entry)
        negative = ir.Constant(I1, 0) if unsigned else fb.icmp_signed("<", exp, ir.Constant(ty, 0))
        fb.cbranch(negative, done, loop)
        fb.position_at_end(loop)
        acc = fb.phi(ty)
        cur = fb.phi(ty)
        e = fb.phi(ty)
        acc.add_incoming(ir.Constant(ty, 1), entry)
        cur.add_incoming(base, entry)
        e.add_incoming(exp, entry)
        odd = fb.trunc(e, I1)
        acc2 = fb.select(odd, fb.mul(acc, cur), acc)
        cur2 = fb.mul(cur, cur)
        e2 = fb.lshr(e, ir.Constant(ty, 1))  # e >= 0 here: the same as an arithmetic shift
        acc.add_incoming(acc2, loop)
        cur.add_incoming(cur2, loop)
        e.add_incoming(e2, loop)
        fb.cbranch(fb.icmp_signed("==", e2, ir.Constant(ty, 0)), done, loop)
        fb.position_at_end(done)
        result = fb.phi(ty)
        result.add_incoming(ir.Constant(ty, 0), entry)
        result.add_incoming(acc2, loop)
        fb.ret(result)
    return b.call(fn, [x, y])


def _pow(b, args, in_types, out_type, attrs, flag_error=None):
    if out_type.is_floating:
        from .mathlib import math_function

        return b.call(math_function(b.module, "pow", register_type(out_type)), list(args))
    x, y = args
    if out_type.is_unsigned:
        return _int_pow(b, x, y, unsigned=True)
    flag_error(b.icmp_signed("<", y, ir.Constant(y.type, 0)), ERROR_NEGATIVE_INTEGER_POWER)
    return _int_pow(b, x, y)


def _compare(float_pred, int_pred, unordered=False):
    def lower(b, args, in_types, out_type, attrs):
        x, y = args
        dtype = in_types[0]
        if dtype.is_floating:
            return (b.fcmp_unordered if unordered else b.fcmp_ordered)(float_pred, x, y)
        if dtype.is_bool:
            return b.icmp_unsigned(int_pred, x, y)
        return _int_compare(b, dtype, int_pred, x, y)

    return lower


def _cast(b, args, in_types, out_type, attrs):
    """TensorFlow's Cast with the rules of ``graphc.ir.ops.elementwise.cast``."""
    (x,) = args
    src, dst = in_types[0], out_type
    to = register_type(dst)
    if dst.is_bool:
        if src.is_floating:
            return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
        return b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
    if src.is_bool:
        return b.uitofp(x, to) if dst.is_floating else b.zext(x, to)
    if src.is_floating and dst.is_floating:
        if dst.name == "float16" and src.name == "float64":
            return _float64_to_float16(b, x)
        if to == x.type:
            return x
        return b.fpext(x, to) if to == F64 else b.fptrunc(x, to)
    if src.is_floating:
        # truncated toward zero into int32 (int64 for int64); NaN and values out of range give its
        # least value, as the x86 conversion NumPy uses does; narrower integers then wrap around
        wide = I64 if to.width == 64 else I32
        limit = float(2 ** (wide.width - 1))
        in_range = b.and_(b.fcmp_ordered(">=", x, ir.Constant(x.type, -limit)), b.fcmp_ordered("<", x, ir.Constant(x.type, limit)))
        safe = b.select(in_range, x, ir.Constant(x.type, 0.0))
        value = b.select(in_range, b.fptosi(safe, wide), ir.Constant(wide, -(2 ** (wide.width - 1))))
        return value if to == wide else b.trunc(value, to)
    if dst.is_floating:
        return b.uitofp(x, to) if src.is_unsigned else b.sitofp(x, to)
    if to.width == x.type.width:
        return x
    if to.width < x.type.width:
        return b.trunc(x, to)
    return b.zext(x, to) if src.is_unsigned else b.sext(x, to)


def _float64_to_float16(b, x):
    """float64 rounded once to float16 (a float32 register): first to float32 rounding to odd (toward
    zero, the last bit set when inexact), which makes the second rounding, to float16, correct."""
    nearest = b.fptrunc(x, F32)
    inexact = b.fcmp_ordered("!=", b.fpext(nearest, F64), x)
    bits = b.bitcast(nearest, I32)
    away = b.fcmp_ordered(">", call_intrinsic(b, "llvm.fabs", b.fpext(nearest, F64)), call_intrinsic(b, "llvm.fabs", x))
    toward_zero = b.select(away, b.sub(bits, ir.Constant(I32, 1)), bits)  # the next float32 toward zero
    odd = b.bitcast(b.select(inexact, b.or_(toward_zero, ir.Constant(I32, 1)), bits), F32)
    return b.fpext(b.fptrunc(odd, F16), F32)


def convert(b: ir.IRBuilder, value, source: DType, target: DType):
    """A register value of dtype ``source`` cast to ``target`` (``gc.cast``'s rule)."""
    return round_to(b, _cast(b, [value], [source], target, {}), target)


def _where(b, args, in_types, out_type, attrs):
    return b.select(*args)


def _pass_through(b, args, in_types, out_type, attrs):
    return args[0]


def _full_like(b, args, in_types, out_type, attrs):
    return constant(out_type, attrs["value"])


def _logical(op):
    def lower(b, args, in_types, out_type, attrs):
        return getattr(b, op)(*args)

    return lower


def _logical_not(b, args, in_types, out_type, attrs):
    return b.xor(args[0], ir.Constant(I1, 1))


def _round(b, args, in_types, out_type, attrs):
    (x,) = args
    return call_intrinsic(b, "llvm.roundeven", x) if out_type.is_floating else x


def _rounding(intrinsic):
    def lower(b, args, in_types, out_type, attrs):
        return call_intrinsic(b, intrinsic, args[0])

    return lower


def _magnitude_test(pred):
    """``|x| pred inf`` (ordered: false for NaN), for is_inf and is_finite."""

    def lower(b, args, in_types, out_type, attrs):
        (x,) = args
        return b.fcmp_ordered(pred, call_intrinsic(b, "llvm.fabs", x), ir.Constant(x.type, float("inf")))

    return lower


def _is_nan_code(b, args, in_types, out_type, attrs):
    return _is_nan(b, args[0])


element_code("add")(_float_or_int("fadd", "add"))
element_code("subtract")(_float_or_int("fsub", "sub"))
element_code("multiply")(_float_or_int("fmul", "mul"))
element_code("divide")(_float_or_int("fdiv", "sdiv"))
element_code("floordiv")(_floordiv)
element_code("mod")(_mod)
element_code("maximum")(_maximum)
element_code("minimum")(_minimum)
element_code("negative")(_negative)
element_code("abs")(_abs)
element_code("sign")(_sign)
element_code("square")(_square)
element_code("sqrt")(_sqrt)
element_code("rsqrt")(_rsqrt)
element_code("relu")(_relu)
element_code("exp")(_math("exp"))
element_code("log")(_math("log"))
element_code("log1p")(_math("log1p"))
element_code("expm1")(_math("expm1"))
element_code("sin")(_math("sin"))
element_code("cos")(_math("cos"))
element_code("tanh")(_math("tanh"))
element_code("sigmoid")(_math("sigmoid"))
element_code("erf")(_math("erf"))
element_code("asin")(_math("asin"))
element_code("acos")(_math("acos"))
element_code("atan")(_math("atan"))
element_code("atan2")(_math("atan2"))
element_code("asinh")(_math("asinh"))
element_code("acosh")(_math("acosh"))
element_code("atanh")(_math("atanh"))
element_code("equal")(_compare("==", "=="))
element_code("not_equal")(_compare("!=", "!=", unordered=True))
element_code("less")(_compare("<", "<"))
element_code("less_equal")(_compare("<=", "<="))
element_code("greater")(_compare(">", ">"))
element_code("greater_equal")(_compare(">=", ">="))
element_code("logical_and")(_logical("and_"))
element_code("logical_or")(_logical("or_"))
element_code("logical_not")(_logical_not)
element_code("where")(_where)
element_code("cast")(_cast)
element_code("identity")(_pass_through)
element_code("stop_gradient")(_pass_through)
element_code("broadcast_to")(_pass_through)
element_code("broadcast_like")(_pass_through)
element_code("full_like")(_full_like)
# math ops (tf-math)
element_code("round")(_round)
element_code("floor")(_rounding("llvm.floor"))
element_code("ceil")(_rounding("llvm.ceil"))
element_code("is_nan")(_is_nan_code)
element_code("is_inf")(_magnitude_test("=="))
element_code("is_finite")(_magnitude_test("<"))
element_code("pow", fallible=lambda dtype: dtype.is_integer and not dtype.is_unsigned)(_pow)  # an integer to a negative power


def lower_scalar(b: ir.IRBuilder, op: str, args: list, in_types: list[DType], out_type: DType, attrs: dict,
                 flag_error: Callable[[ir.Value, int], None]):
    """The IR value of one element of ``op`` applied to the element values ``args``; an element the
    op refuses (its code is ``fallible`` for ``out_type``) calls ``flag_error(condition, error_code)``."""
    opdef = get_op(op)
    code: Lowering | None = opdef.implementations.get(ELEMENT)
    if code is None:
        result = _lower_decomposed(b, opdef, args, in_types, attrs, flag_error)
    elif code.fallible(out_type):
        result = code.emit(b, args, in_types, out_type, attrs, flag_error)
    else:
        result = code.emit(b, args, in_types, out_type, attrs)
    return round_to(b, result, out_type)


def _lower_decomposed(b: ir.IRBuilder, opdef: OpDef, args: list, in_types: list[DType], attrs: dict, flag_error):
    """The element code of an op without its own, from its ``decomposition`` into other ops: the
    decomposition is traced on scalars and each of its nodes lowered in turn."""
    # float16 operands are float32 values in registers: the decomposition computes in float32 and its
    # result is rounded once, as the reference backend computes the op
    types = [float32 if t == float16 else t for t in in_types]
    graph = build_region(f"{opdef.name}_decomposed", [TensorType((), t) for t in types],
                         lambda *xs: [opdef.decomposition(*xs, **attrs)])
    values = dict(zip(graph.inputs, args))
    for node in graph.nodes:
        out = node.outputs[0]
        if node.op == "constant":
            values[out] = constant(out.dtype, node.attrs["value"].reshape(-1)[0])
        else:
            values[out] = lower_scalar(b, node.op, [values[v] for v in node.inputs], [v.dtype for v in node.inputs],
                                       out.dtype, node.attrs, flag_error)
    return values[graph.outputs[0]]
