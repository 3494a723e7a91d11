"""``FloatArithmetic``: the terse notation the math functions are written in.

One method per operation (``m.add``, ``m.fma``, ``m.select``, ``m.two_prod`` ...), each appending
its LLVM instruction at the builder's position, in one float format and the integer type of the
same width. The algorithms read like the formulas they implement, and emit only straight-line,
vectorisable code: arithmetic, comparisons, ``select``, bit casts and intrinsics.
"""
from __future__ import annotations

import math

from llvmlite import ir

from .. import target
from .formats import F64, FloatFormat


class FloatArithmetic:
    """IR construction in one float format (and the integer type of the same width)."""

    def __init__(self, builder: ir.IRBuilder, fmt: FloatFormat):
        self.b, self.fmt = builder, fmt
        self.ty, self.ity = fmt.ty, fmt.ity

    def widened(self) -> FloatArithmetic:
        """The same builder in float64."""
        return FloatArithmetic(self.b, F64)

    def via_float64(self, body, *args):
        """Evaluates ``body(m, *args)`` in float64 and rounds its result once to this format."""
        if self.fmt is F64:
            return body(self, *args)
        w = self.widened()
        return self.b.fptrunc(body(w, *[self.b.fpext(arg, w.ty) for arg in args]), self.ty)

    # constants
    def c(self, value):
        return ir.Constant(self.ty, value)

    def ci(self, value):
        return ir.Constant(self.ity, value)

    def nan(self):
        return self.c(math.nan)

    def inf(self):
        return self.c(math.inf)

    # float arithmetic
    def add(self, a, b): return self.b.fadd(a, b)
    def sub(self, a, b): return self.b.fsub(a, b)
    def mul(self, a, b): return self.b.fmul(a, b)
    def div(self, a, b): return self.b.fdiv(a, b)
    def neg(self, a): return self.b.fneg(a)

    def _intrinsic(self, name, *args, overloaded=1):
        """A call of intrinsic ``name``, returning the first argument's type, its name suffixed with
        the types of its first ``overloaded`` arguments (``llvm.fma.f32``, ``llvm.ldexp.f32.i32``)."""
        full = name + "".join(f".{a.type.intrinsic_name}" for a in args[:overloaded])
        fn = self.b.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(args[0].type, [a.type for a in args]), full)
        return self.b.call(fn, list(args))

    def fma(self, a, b, c): return self._intrinsic("llvm.fma", a, b, c)
    def fabs(self, a): return self._intrinsic("llvm.fabs", a)
    def copysign(self, a, b): return self._intrinsic("llvm.copysign", a, b)
    def rint(self, a): return self._intrinsic("llvm.rint", a)
    def minnum(self, a, b): return self._intrinsic("llvm.minnum", a, b)
    def maxnum(self, a, b): return self._intrinsic("llvm.maxnum", a, b)
    def sqrt(self, a): return self._intrinsic("llvm.sqrt", a)
    def fshl(self, a, b, s): return self._intrinsic("llvm.fshl", a, b, s)

    def horner(self, x, coeffs):
        """sum coeffs[i] x^i; coefficients may be Python floats or IR values."""
        as_value = lambda v: v if isinstance(v, ir.Value) else self.c(v)
        acc = as_value(coeffs[-1])
        for coeff in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, as_value(coeff))
        return acc

    # comparisons and selection
    def cmp(self, op, a, b): return self.b.fcmp_ordered(op, a, b)
    def isnan(self, a): return self.b.fcmp_unordered("uno", a, a)
    def select(self, cond, a, b): return self.b.select(cond, a, b)
    def and_(self, a, b): return self.b.and_(a, b)
    def or_(self, a, b): return self.b.or_(a, b)
    def not_(self, a): return self.b.not_(a)

    def keep_nan(self, x, result):
        """``result``, or ``x`` itself where ``x`` is NaN."""
        return self.select(self.isnan(x), x, result)

    # the float bits and integer operations
    def bits(self, a): return self.b.bitcast(a, self.ity)
    def from_bits(self, i): return self.b.bitcast(i, self.ty)
    def iadd(self, a, b): return self.b.add(a, b)
    def isub(self, a, b): return self.b.sub(a, b)
    def imul(self, a, b): return self.b.mul(a, b)
    def iand(self, a, b): return self.b.and_(a, b)
    def ior(self, a, b): return self.b.or_(a, b)
    def shl(self, a, n): return self.b.shl(a, n)
    def lshr(self, a, n): return self.b.lshr(a, n)
    def ashr(self, a, n): return self.b.ashr(a, n)
    def to_float(self, i): return self.b.sitofp(i, self.ty)
    def to_int(self, a): return self.b.fptosi(a, self.ity)   # only on values known to be in range

    def pow2(self, n):
        """2^n for an integer n inside the normal exponent range."""
        return self.from_bits(self.shl(self.iadd(n, self.ci(self.fmt.bias)), self.ci(self.fmt.mant)))

    def scale(self, p, n):
        """p * 2^n rounded once, so right for denormal and overflowing results: ``llvm.ldexp`` on
        hosts with AVX-512 (one ``vscalefps``; elsewhere LLVM would call libm), else two exact-or-
        once-rounded multiplications by powers of two built from the bits."""
        if target.has_avx512():
            i32 = ir.IntType(32)
            exponent = n if n.type == i32 else self.b.trunc(n, i32)   # |n| < 2^11
            return self._intrinsic("llvm.ldexp", p, exponent, overloaded=2)
        half = self.ashr(n, self.ci(1))
        return self.mul(self.mul(p, self.pow2(half)), self.pow2(self.isub(n, half)))

    # error-free transformations (double-word arithmetic)
    def two_sum(self, a, b):
        s = self.add(a, b)
        bb = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))

    def fast_two_sum(self, a, b):
        """Exact a + b = s + e when |a| >= |b| (or a == 0)."""
        s = self.add(a, b)
        return s, self.sub(b, self.sub(s, a))

    def two_prod(self, a, b):
        p = self.mul(a, b)
        return p, self.fma(a, b, self.neg(p))

    def divide_double_word(self, n_hi, n_lo, d_hi, d_lo):
        """(n_hi + n_lo) / (d_hi + d_lo) as a double-word, rounded nearly correctly, with one division."""
        inv = self.div(self.c(1.0), d_hi)
        y = self.mul(n_hi, inv)
        residual = self.add(self.sub(self.fma(self.neg(y), d_hi, n_hi), self.mul(y, d_lo)), n_lo)
        return y, self.mul(residual, inv)
