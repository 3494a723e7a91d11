"""pow, sqrt and rsqrt.

pow: exp(y log|x|) with log|x| as a double-word (about 2^-70 relative), the product y log|x| as a
double-word, and exp taking the low word as its correction; the C99 special cases by ``select``.
float32 evaluates the float64 algorithm and rounds once more. sqrt is ``llvm.sqrt``; rsqrt is
1 / sqrt(x), rounded twice exactly as NumPy's ``1 / np.sqrt(x)``.
"""
from __future__ import annotations

from .arithmetic import FloatArithmetic
from .coefficients import POW_LOG_T_F64
from .exponential import exp_parts
from .formats import F64
from .logarithm import split_exponent


def _dd_mul(m: FloatArithmetic, a_hi, a_lo, b_hi, b_lo):
    """(a_hi + a_lo) (b_hi + b_lo) as a double-word."""
    p_hi, p_lo = m.two_prod(a_hi, b_hi)
    return p_hi, m.fma(a_hi, b_lo, m.fma(a_lo, b_hi, p_lo))


def log_double_word(m: FloatArithmetic, ax):
    """log(ax) as a double-word, about 2^-70 relative, for positive finite ax."""
    k, f = split_exponent(m, ax, allow_denormal=True)
    d_hi, d_lo = m.fast_two_sum(m.c(2.0), f)
    s = m.divide_double_word(f, m.c(0.0), d_hi, d_lo)              # s = f / (2 + f)
    # log(1 + f) = 2s + 2/3 s^3 + 2/5 s^5 + s^7 T'(s^2): the first three terms as double-words
    s2 = _dd_mul(m, *s, *s)
    s3 = _dd_mul(m, *s2, *s)
    third = _dd_mul(m, m.c(2 / 3), m.c(3.700743415417188e-17), *s3)      # 2/3 as a double-word
    fifth = _dd_mul(m, m.c(0.4), m.c(-2.220446049250313e-17), *_dd_mul(m, *s3, *s2))
    tail = m.mul(m.mul(s3[0], m.mul(s2[0], s2[0])), m.horner(s2[0], POW_LOG_T_F64[1:]))
    k_lo, k_err = m.two_prod(k, m.c(F64.ln2_lo))
    hi, lo = m.two_sum(m.mul(k, m.c(F64.ln2_hi)), m.add(s[0], s[0]))  # k ln2_hi is exact
    small = [k_lo, m.add(s[1], s[1]), tail, k_err]
    for term in (third, fifth):
        hi, err = m.two_sum(hi, term[0])
        small += [err, term[1]]
    for term in small:
        lo = m.add(lo, term)
    return m.fast_two_sum(hi, lo)


def power(m: FloatArithmetic, x, y):
    # float32 too goes through the double-word log: a plain one would be accurate enough in ulp, but
    # would break exact ties such as 2^-150 (which must round to 0) about half of the time.
    return m.via_float64(_pow_float64, x, y)


def _pow_float64(m: FloatArithmetic, x, y):
    ax = m.fabs(x)
    l_hi, l_lo = log_double_word(m, ax)
    p_hi, p_lo = m.two_prod(y, l_hi)
    p_lo = m.fma(y, l_lo, p_lo)
    p_lo = m.select(m.cmp("<", m.fabs(p_hi), m.c(1000.0)), p_lo, m.c(0.0))   # no inf - inf
    n, e_hi, e_lo = exp_parts(m, p_hi, p_lo)
    result = m.scale(m.add(e_hi, e_lo), n)
    return _pow_specials(m, x, y, ax, result)


def _pow_specials(m: FloatArithmetic, x, y, ax, result):
    """C99 / NumPy pow rules around the finite positive case ``result``."""
    one, zero, inf = m.c(1.0), m.c(0.0), m.inf()
    y_integer = m.cmp("==", m.rint(y), y)
    half_y = m.mul(y, m.c(0.5))
    y_odd = m.and_(y_integer, m.cmp("!=", m.rint(half_y), half_y))
    x_negative = m.cmp("<", x, zero)
    y_negative = m.cmp("<", y, zero)
    result = m.select(m.and_(x_negative, y_odd), m.neg(result), result)
    result = m.select(m.and_(x_negative, m.not_(y_integer)), m.nan(), result)
    # x = +-0 or +-inf: a signed zero or infinity, sign of x only for odd integer y
    magnitude = m.select(m.cmp("==", ax, zero), m.select(y_negative, inf, zero),
                         m.select(y_negative, zero, inf))
    magnitude = m.select(y_odd, m.copysign(magnitude, x), magnitude)
    result = m.select(m.or_(m.cmp("==", ax, zero), m.cmp("==", ax, inf)), magnitude, result)
    # y = +-inf
    y_inf = m.select(m.cmp("==", ax, one), one,
                     m.select(m.b.icmp_unsigned("==", m.cmp("<", ax, one), y_negative), inf, zero))
    result = m.select(m.cmp("==", m.fabs(y), inf), y_inf, result)
    result = m.select(m.or_(m.isnan(x), m.isnan(y)), m.nan(), result)
    return m.select(m.or_(m.cmp("==", y, zero), m.cmp("==", x, one)), one, result)


def sqrt(m: FloatArithmetic, x):
    return m.sqrt(x)


def rsqrt(m: FloatArithmetic, x):
    return m.div(m.c(1.0), m.sqrt(x))

