"""exp, expm1, sigmoid and tanh, and the double-word exp that erf and pow build on.

exp, expm1: n = rint(x/ln2), r = x - n ln2 in two pieces (Cody-Waite) with the rounding error of r
carried along; expm1(r) = r + r^2/2 + r^3 Q'(r) as a double-word, its first two terms exact (exp
alone keeps only 1 + r exact, which is enough for its own result); 2^n applied rounded once
(``FloatArithmetic.scale``), so that denormal results are right and overflow gives inf.
sigmoid, tanh: from exp(-|x|) as a double-word, with one corrected division; tanh uses an odd
polynomial below |x| = 1/4.
"""
from __future__ import annotations

import math

from .arithmetic import FloatArithmetic
from .coefficients import TANH_SMALL


def _expm1_reduced(m: FloatArithmetic, x, x_lo=None):
    """(n, e_hi, e_lo) with exp(x + x_lo) = 2^n (1 + e_hi + e_lo); x is clamped to exp's range."""
    fmt = m.fmt
    lo, hi = fmt.exp_clamp
    x = m.minnum(m.maxnum(x, m.c(lo)), m.c(hi))     # NaN becomes a number: callers select NaN back
    n = m.rint(m.mul(x, m.c(1 / math.log(2))))
    reduced = m.fma(m.neg(n), m.c(fmt.ln2_hi), x)    # exact (Cody-Waite)
    t_hi, t_lo = m.two_prod(n, m.c(fmt.ln2_lo))
    r, r_err = m.two_sum(reduced, m.neg(t_hi))
    r_err = m.sub(r_err, t_lo)
    if x_lo is not None:
        r_err = m.add(r_err, x_lo)
    # expm1(r) = r + r^2/2 + r^3 Q'(r): the two leading terms exactly, the rest is below 0.01 r
    sq_hi, sq_lo = m.two_prod(r, r)
    half_sq = m.mul(sq_hi, m.c(0.5))
    cubic = m.mul(m.mul(sq_hi, r), m.horner(r, fmt.expm1_q[1:]))
    e_hi, e_lo = m.fast_two_sum(r, half_sq)
    e_lo = m.add(e_lo, m.fma(sq_lo, m.c(0.5), cubic))
    e_hi, e_lo = m.fast_two_sum(e_hi, e_lo)
    e_lo = m.add(e_lo, m.fma(r_err, e_hi, r_err))    # d/dr expm1(r) = exp(r); r_err <= 2^-44
    return m.to_int(n), e_hi, e_lo


def exp_parts(m: FloatArithmetic, x, x_lo=None):
    """(n, p_hi, p_lo) with exp(x + x_lo) = 2^n (p_hi + p_lo), p in [0.7, 1.42]."""
    n, e_hi, e_lo = _expm1_reduced(m, x, x_lo)
    p_hi, p_lo = m.fast_two_sum(m.c(1.0), e_hi)
    return n, p_hi, m.add(p_lo, e_lo)


def exp(m: FloatArithmetic, x):
    """exp alone, in about half the instructions of the double-word ``exp_parts``: only 1 + r is
    kept exact, the small terms r^2 Q(r) and r's rounding error are added to its low part."""
    fmt = m.fmt
    lo, hi = fmt.exp_clamp
    clamped = m.minnum(m.maxnum(x, m.c(lo)), m.c(hi))
    n = m.rint(m.mul(clamped, m.c(1 / math.log(2))))
    minus_n = m.neg(n)
    reduced = m.fma(minus_n, m.c(fmt.ln2_hi), clamped)    # exact (Cody-Waite)
    r = m.fma(minus_n, m.c(fmt.ln2_lo), reduced)
    # reduced - r is exact (Sterbenz) unless reduced is within n ln2_lo of 0, where r's error is tiny anyway
    r_err = m.fma(minus_n, m.c(fmt.ln2_lo), m.sub(reduced, r))
    # exp(r + r_err) = (1 + r) + (r^2 Q(r) + r_err (1 + r)), 1 + r as an exact pair
    small = m.fma(m.mul(r, r), m.horner(r, fmt.expm1_q), m.fma(r_err, r, r_err))
    one_hi, one_lo = m.fast_two_sum(m.c(1.0), r)
    return m.keep_nan(x, m.scale(m.add(one_hi, m.add(one_lo, small)), m.to_int(n)))


def expm1(m: FloatArithmetic, x):
    fmt = m.fmt
    n, e_hi, e_lo = _expm1_reduced(m, m.maxnum(x, m.c(fmt.expm1_low)))
    # 2^n (1 + e) - 1 = 2 (h e + (h - 1/2)) with h = 2^(n-1): halving keeps h finite at n = 1024.
    h = m.pow2(m.isub(n, m.ci(1)))
    a_hi, a_lo = m.fast_two_sum(h, m.c(-0.5))       # h - 1/2 is inexact once h > 2^mant
    s_hi, s_lo = m.two_sum(a_hi, m.mul(h, e_hi))
    y = m.mul(m.add(s_hi, m.add(s_lo, m.fma(h, e_lo, a_lo))), m.c(2.0))
    small = m.cmp("<", m.fabs(x), m.c(fmt.tiny))
    return m.keep_nan(x, m.select(small, x, y))


def exp_pair(m: FloatArithmetic, x, x_lo=None):
    """exp(x + x_lo) as a double-word (hi, lo); hi is rounded once even when denormal."""
    n, p_hi, p_lo = exp_parts(m, x, x_lo)
    return m.scale(p_hi, n), m.scale(p_lo, n)


def _one_plus(m: FloatArithmetic, hi, lo):
    """1 + (hi + lo) as a double-word, for 0 <= hi <= 1."""
    s, err = m.fast_two_sum(m.c(1.0), hi)
    return s, m.add(err, lo)


def sigmoid(m: FloatArithmetic, x):
    e_hi, e_lo = exp_pair(m, m.neg(m.fabs(x)))
    d_hi, d_lo = _one_plus(m, e_hi, e_lo)
    negative = m.cmp("<", x, m.c(0.0))
    n_hi = m.select(negative, e_hi, m.c(1.0))
    n_lo = m.select(negative, e_lo, m.c(0.0))
    y, y_lo = m.divide_double_word(n_hi, n_lo, d_hi, d_lo)
    return m.keep_nan(x, m.add(y, y_lo))


def tanh(m: FloatArithmetic, x):
    fmt = m.fmt
    a = m.fabs(x)
    # |x| >= 1/4: tanh = 1 - 2E/(1 + E), E = exp(-2|x|) as a double-word
    e_hi, e_lo = exp_pair(m, m.mul(m.minnum(a, m.c(fmt.tanh_clamp)), m.c(-2.0)))
    d_hi, d_lo = _one_plus(m, e_hi, e_lo)
    q_hi, q_lo = m.divide_double_word(m.mul(e_hi, m.c(2.0)), m.mul(e_lo, m.c(2.0)), d_hi, d_lo)
    t_hi, t_lo = m.fast_two_sum(m.c(1.0), m.neg(q_hi))
    large = m.add(t_hi, m.sub(t_lo, q_lo))
    # |x| < 1/4: x + x^3 P(x^2)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.horner(z, fmt.tanh_p), a)
    result = m.copysign(m.select(m.cmp("<", a, m.c(TANH_SMALL)), small, large), x)
    return m.keep_nan(x, result)

