"""sin and cos, in float64 arithmetic for both formats.

Payne-Hanek reduction for every argument, in 64-bit integers: the significand times a window of
2/pi aligned with ``llvm.fshl`` (float64: 53 bits times 192 bits, four words gathered from a
20-word table, 64x64-bit products from 32-bit limbs; float32: 24 bits times 128 bits, three words
chosen by ``select`` among five). The fraction becomes a double-word r in [-pi/4, pi/4] and
fdlibm's polynomials finish. Right for every finite argument: the reduction keeps ~126 fraction
bits, the hardest double (|x mod pi/2| ~ 2^-61) needs ~120. float32 evaluates the float64
algorithm and rounds once more: half the vector width of a native float32 version, but correctly
rounded almost everywhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from llvmlite import ir

from .arithmetic import FloatArithmetic
from .coefficients import COS_C, HALF_PI_HI, HALF_PI_LO, SIN_S, TWO_OVER_PI_WORDS
from .formats import FloatFormat


def _mul_hi_u64(m: FloatArithmetic, a, b):
    """High 64 bits of a * b for a < 2^53, from 32-bit limbs (vpmuludq)."""
    low32 = m.ci(0xFFFFFFFF)
    s32 = m.ci(32)
    a_lo, a_hi = m.iand(a, low32), m.lshr(a, s32)
    b_lo, b_hi = m.iand(b, low32), m.lshr(b, s32)
    mid = m.iadd(m.imul(a_lo, b_hi), m.lshr(m.imul(a_lo, b_lo), s32))
    mid2 = m.iadd(m.iand(mid, low32), m.imul(a_hi, b_lo))
    return m.iadd(m.iadd(m.imul(a_hi, b_hi), m.lshr(mid, s32)), m.lshr(mid2, s32))


def _two_over_pi_words(m: FloatArithmetic, j, count, last_j):
    """The words j .. j+count-1 of the padded bits of 2/pi, for 0 <= j <= last_j: gathers from a
    constant table, or a chain of selects when only a few positions are possible."""
    def signed(word):
        return word - (1 << 64) if word >> 63 else word

    if last_j < 4:
        words = []
        for i in range(count):
            word = m.ci(signed(TWO_OVER_PI_WORDS[i]))
            for k in range(1, last_j + 1):
                word = m.b.select(m.b.icmp_unsigned("==", j, m.ci(k)), m.ci(signed(TWO_OVER_PI_WORDS[k + i])), word)
            words.append(word)
        return words
    module = m.b.module
    table = module.globals.get("graphc.two_over_pi")
    if table is None:
        array = ir.ArrayType(m.ity, len(TWO_OVER_PI_WORDS))
        table = ir.GlobalVariable(module, array, "graphc.two_over_pi")
        table.global_constant = True
        table.linkage = "internal"
        table.initializer = ir.Constant(array, [signed(w) for w in TWO_OVER_PI_WORDS])
    zero = m.ci(0)
    return [m.b.load(m.b.gep(table, [zero, m.iadd(j, m.ci(i))], inbounds=True)) for i in range(count)]


@dataclass(frozen=True)
class _Reduction:
    """How much of 2/pi the reduction of one source format needs."""
    drop_bits: int      # the significand is M >> drop_bits: 53 significant bits for f64, 24 for f32
    words: int          # the window of 2/pi, in 64-bit words
    last_j: int         # the largest word index of the window's start (for the largest finite input)


_REDUCTIONS = {"f64": _Reduction(0, 3, 16), "f32": _Reduction(29, 2, 2)}


def _reduce_pio2(m: FloatArithmetic, a, source: FloatFormat):
    """(q, r_hi, r_lo) with a = q pi/2 + r, |r| <= pi/4, for finite a >= 2^-10 of format ``source``,
    in float64 (Payne-Hanek): the significand M times a window W of 2/pi, with M W mod 2^(64 words)
    in 64-bit integers; its top two bits are the quadrant, the rest the fraction."""
    plan = _REDUCTIONS[source.name]
    ia = m.bits(a)
    mant = m.lshr(m.ior(m.iand(ia, m.ci((1 << 52) - 1)), m.ci(1 << 52)), m.ci(plan.drop_bits))
    e = m.isub(m.lshr(ia, m.ci(52)), m.ci(1075 - plan.drop_bits))      # a = M 2^e
    offset = m.iadd(e, m.ci(62))                      # the first bit needed, after 64 bits of padding
    raw = _two_over_pi_words(m, m.lshr(offset, m.ci(6)), plan.words + 1, plan.last_j)
    s = m.iand(offset, m.ci(63))
    window = [m.fshl(raw[plan.words - 1 - k], raw[plan.words - k], s) for k in range(plan.words)]
    # M W mod 2^(64 words), word k of weight 2^(64k), each word from the high half of the product
    # below it plus the low half of its own product plus the carries
    product, carry = [m.imul(mant, window[0])], None
    for k in range(1, plan.words):
        high = _mul_hi_u64(m, mant, window[k - 1])
        word = m.iadd(high, m.imul(mant, window[k]))
        next_carry = m.b.zext(m.b.icmp_unsigned("<", word, high), m.ity)
        if carry is not None:
            with_carry = m.iadd(word, carry)
            next_carry = m.iadd(next_carry, m.b.zext(m.b.icmp_unsigned("<", with_carry, word), m.ity))
            word = with_carry
        product.append(word)
        carry = next_carry
    top, below = product[-1], product[-2]
    # the fraction as a signed 128-bit g = g_hi:g_lo, f = g 2^-128 in [-1/2, 1/2)
    g_hi = m.ior(m.shl(top, m.ci(2)), m.lshr(below, m.ci(62)))
    g_lo = m.shl(below, m.ci(2))
    q = m.iadd(m.lshr(top, m.ci(62)), m.lshr(g_hi, m.ci(63)))
    # split into exactly representable chunks of 43 + 43 + 42 bits
    c2 = m.to_float(m.ashr(g_hi, m.ci(21)))
    c1 = m.to_float(m.iand(m.ior(m.shl(g_hi, m.ci(22)), m.lshr(g_lo, m.ci(42))), m.ci((1 << 43) - 1)))
    c0 = m.to_float(m.iand(g_lo, m.ci((1 << 42) - 1)))
    s_hi, s_lo = m.two_sum(m.mul(c2, m.c(2.0 ** -43)), m.mul(c1, m.c(2.0 ** -86)))
    f_hi, f_lo = m.two_sum(s_hi, m.fma(c0, m.c(2.0 ** -128), s_lo))
    r_hi, r_err = m.two_prod(f_hi, m.c(HALF_PI_HI))
    r_lo = m.add(r_err, m.fma(f_hi, m.c(HALF_PI_LO), m.mul(f_lo, m.c(HALF_PI_HI))))
    return q, r_hi, r_lo


def _sin_of_reduced(m: FloatArithmetic, x, y):
    """sin(x + y) for the double-word x + y, |x| <= pi/4."""
    z = m.mul(x, x)
    v = m.mul(z, x)
    r = m.horner(z, SIN_S[1:])
    inner = m.sub(m.mul(z, m.sub(m.mul(y, m.c(0.5)), m.mul(v, r))), y)
    return m.sub(x, m.fma(m.neg(v), m.c(SIN_S[0]), inner))


def _cos_of_reduced(m: FloatArithmetic, x, y):
    """cos(x + y) for the double-word x + y, |x| <= pi/4."""
    z = m.mul(x, x)
    r = m.mul(z, m.horner(z, COS_C))
    hz = m.mul(z, m.c(0.5))
    w = m.sub(m.c(1.0), hz)
    return m.add(w, m.add(m.sub(m.sub(m.c(1.0), w), hz), m.fma(z, r, m.neg(m.mul(x, y)))))


def _sin_cos(m: FloatArithmetic, x, quadrant_shift, source: FloatFormat):
    """sin (shift 0) or cos (shift 1) of x in float64; x is a value of format ``source``."""
    a = m.fabs(x)
    small = m.cmp("<", a, m.c(math.pi / 4))
    finite = m.cmp("<", a, m.inf())
    q, r_hi, r_lo = _reduce_pio2(m, m.select(m.and_(finite, m.not_(small)), a, m.c(1.0)), source)
    q = m.b.select(small, m.ci(0), q)
    r_hi = m.select(small, a, r_hi)
    r_lo = m.select(small, m.c(0.0), r_lo)
    q = m.iadd(q, m.ci(quadrant_shift))
    use_cos = m.b.trunc(q, ir.IntType(1))
    negate = m.b.trunc(m.lshr(q, m.ci(1)), ir.IntType(1))
    value = m.select(use_cos, _cos_of_reduced(m, r_hi, r_lo), _sin_of_reduced(m, r_hi, r_lo))
    value = m.select(negate, m.neg(value), value)
    if quadrant_shift == 0:     # sin is odd: flip with the sign of x (keeps sin(-0) = -0)
        sign = m.iand(m.bits(x), m.ci(-1 << 63))
        value = m.from_bits(m.b.xor(m.bits(value), sign))
    value = m.select(finite, value, m.nan())
    return m.keep_nan(x, value)


def sin(m: FloatArithmetic, x):
    return m.via_float64(lambda w, x: _sin_cos(w, x, 0, m.fmt), x)


def cos(m: FloatArithmetic, x):
    return m.via_float64(lambda w, x: _sin_cos(w, x, 1, m.fmt), x)

