"""atan, atan2, asin, acos and asinh, acosh, atanh, in float64 for both formats.

atan: |x| is reduced to |t| <= tan(pi/8) by atan(a) = pi/4 + atan((a-1)/(a+1)) for a near 1 and
atan(a) = pi/2 - atan(1/a) above tan(3pi/8), the reduced argument a double-word t + t_lo; then
atan(t) = t + t^3 P(t^2), and the constant, t and the small terms are summed with one error-free
addition, so that the last rounding is the only large error. atan2, asin (atan of x/sqrt(1-x^2))
and acos (atan2 of sqrt(1-x^2) and x) hand the reduction a double-word ratio. asinh, acosh and atanh
are log(v) of a double-word v (x + sqrt(x^2+1), x + sqrt(x^2-1), (1+x)/(1-x)) with pow's
double-word log, log(x) + ln2 for x above 2^28, and x -+ x^3/c below 2^-17. float32 evaluates the float64 algorithm and
rounds once more.
"""
from __future__ import annotations

import math

from llvmlite import ir

from .arithmetic import FloatArithmetic
from .coefficients import ATAN_P, HALF_PI_HI, HALF_PI_LO
from .formats import F64
from .powers import log_double_word

_TAN_PI_8, _TAN_3PI_8 = math.sqrt(2) - 1, math.sqrt(2) + 1
_ATAN_CLAMP = 2.0 ** 60         # atan(a) rounds to pi/2 above this
_TINY = 2.0 ** -600             # a denominator that makes a ratio clamp to _ATAN_CLAMP
_LOG_OF_DOUBLE = 2.0 ** 28      # above this asinh(x) and acosh(x) round to log(x) + ln2
_SMALL = 2.0 ** -17             # below this asinh(x) and atanh(x) are x -+ x^3/6, x + x^3/3 to 2^-70
_FALSE = ir.Constant(ir.IntType(1), 0)


def _quotient(m: FloatArithmetic, n_hi, n_lo, d_hi, d_lo):
    """(n_hi + n_lo) / (d_hi + d_lo) as a double-word, from one correctly rounded division."""
    q = m.div(n_hi, d_hi)
    r = m.fma(m.neg(q), d_hi, n_hi)
    return q, m.div(m.sub(m.add(r, n_lo), m.mul(q, d_lo)), d_hi)


def _sqrt_double_word(m: FloatArithmetic, w_hi, w_lo):
    """sqrt(w_hi + w_lo) as a double-word (0 for 0)."""
    s = m.sqrt(w_hi)
    s_lo = m.div(m.add(m.fma(m.neg(s), s, w_hi), w_lo), m.add(s, s))
    return s, m.select(m.cmp(">", s, m.c(0.0)), s_lo, m.c(0.0))


def _atan_reduce(m: FloatArithmetic, a, a_lo):
    """(b_hi, b_lo, t, t_lo) with atan(a + a_lo) = b + atan(t + t_lo), |t| <= tan(pi/8), for
    a >= 0 (NaN and a above 2^60 reduce as 2^60)."""
    a_lo = m.select(m.cmp("<", a, m.c(_ATAN_CLAMP)), a_lo, m.c(0.0))
    a = m.minnum(a, m.c(_ATAN_CLAMP))
    n_hi, n_lo = m.two_sum(a, m.c(-1.0))
    d_hi, d_lo = m.two_sum(a, m.c(1.0))
    near_one = _quotient(m, n_hi, m.add(n_lo, a_lo), d_hi, m.add(d_lo, a_lo))
    large = _quotient(m, m.c(-1.0), m.c(0.0), a, a_lo)
    is_large = m.cmp(">=", a, m.c(_TAN_3PI_8))
    is_near_one = m.cmp(">", a, m.c(_TAN_PI_8))

    def pick(if_large, if_near_one, otherwise):
        return m.select(is_large, if_large, m.select(is_near_one, if_near_one, otherwise))

    return (pick(m.c(HALF_PI_HI), m.c(HALF_PI_HI / 2), m.c(0.0)), pick(m.c(HALF_PI_LO), m.c(HALF_PI_LO / 2), m.c(0.0)),
            pick(large[0], near_one[0], a), pick(large[1], near_one[1], a_lo))


def _offset_atan(m: FloatArithmetic, c_hi, c_lo, negate, a_hi, a_lo):
    """c + atan(a), or c - atan(a) where ``negate``, for the double-words c (0, pi/2 or pi) and
    a >= 0, rounded once at the end."""
    b_hi, b_lo, t, t_lo = _atan_reduce(m, a_hi, a_lo)
    sign = m.select(negate, m.c(-1.0), m.c(1.0))
    k_hi, k_err = m.two_sum(c_hi, m.mul(sign, b_hi))          # 0, pi/4, pi/2, 3pi/4 or pi
    k_lo = m.add(k_err, m.fma(sign, b_lo, c_lo))
    z = m.mul(t, t)
    tail = m.mul(m.mul(t, z), m.horner(z, ATAN_P))             # atan(t) - t
    low = m.fma(m.neg(t_lo), z, t_lo)                         # t_lo / (1 + t^2) to first order
    hi, lo = m.fast_two_sum(k_hi, m.mul(sign, t))
    return m.add(hi, m.add(lo, m.fma(sign, m.add(tail, low), k_lo)))


def _atan(m: FloatArithmetic, x):
    zero = m.c(0.0)
    return m.keep_nan(x, m.copysign(_offset_atan(m, zero, zero, _FALSE, m.fabs(x), zero), x))


def _one_minus_square(m: FloatArithmetic, a):
    """sqrt(1 - a^2) as a double-word (NaN for a > 1)."""
    p, e = m.two_prod(a, a)
    w_hi, w_lo = m.two_sum(m.c(1.0), m.neg(p))
    return _sqrt_double_word(m, w_hi, m.sub(w_lo, e))


def _asin(m: FloatArithmetic, x):
    a = m.fabs(x)
    s_hi, s_lo = _one_minus_square(m, a)
    q_hi, q_lo = _quotient(m, a, m.c(0.0), m.maxnum(s_hi, m.c(_TINY)), s_lo)
    result = _offset_atan(m, m.c(0.0), m.c(0.0), _FALSE, q_hi, q_lo)
    result = m.select(m.cmp(">", a, m.c(1.0)), m.nan(), m.copysign(result, x))
    return m.keep_nan(x, result)


def _acos(m: FloatArithmetic, x):
    a = m.fabs(x)
    s_hi, s_lo = _one_minus_square(m, a)
    q_hi, q_lo = _quotient(m, s_hi, s_lo, m.maxnum(a, m.c(_TINY)), m.c(0.0))
    negative = m.cmp("<", x, m.c(0.0))
    c_hi = m.select(negative, m.c(2 * HALF_PI_HI), m.c(0.0))
    c_lo = m.select(negative, m.c(2 * HALF_PI_LO), m.c(0.0))
    result = _offset_atan(m, c_hi, c_lo, negative, q_hi, q_lo)
    return m.keep_nan(x, m.select(m.cmp(">", a, m.c(1.0)), m.nan(), result))


def _atan2(m: FloatArithmetic, y, x):
    ay, ax = m.fabs(y), m.fabs(x)
    swap = m.cmp(">", ay, ax)
    num, den = m.select(swap, ax, ay), m.select(swap, ay, ax)
    finite_ratio = m.and_(m.cmp(">", den, m.c(0.0)), m.cmp("<", den, m.inf()))
    q_hi, q_lo = _quotient(m, num, m.c(0.0), m.select(finite_ratio, den, m.c(1.0)), m.c(0.0))
    both_inf = m.cmp("==", num, m.inf())
    q_hi = m.select(finite_ratio, q_hi, m.select(both_inf, m.c(1.0), m.c(0.0)))   # 0/0, x/inf, inf/inf
    q_lo = m.select(finite_ratio, q_lo, m.c(0.0))
    x_negative = m.b.icmp_signed("<", m.bits(x), m.ci(0))                          # -0 included
    # the quadrant: atan(q), pi/2 - atan(q), pi/2 + atan(q), pi - atan(q)
    c_hi = m.select(swap, m.c(HALF_PI_HI), m.select(x_negative, m.c(2 * HALF_PI_HI), m.c(0.0)))
    c_lo = m.select(swap, m.c(HALF_PI_LO), m.select(x_negative, m.c(2 * HALF_PI_LO), m.c(0.0)))
    result = m.copysign(_offset_atan(m, c_hi, c_lo, m.b.xor(swap, x_negative), q_hi, q_lo), y)
    return m.select(m.or_(m.isnan(x), m.isnan(y)), m.nan(), result)


def _log_plus(m: FloatArithmetic, v_hi, v_lo):
    """log(v_hi + v_lo) for v_hi > 0, rounded once: log(v_hi) as a double-word plus v_lo / v_hi."""
    l_hi, l_lo = log_double_word(m, v_hi)
    return m.add(l_hi, m.add(l_lo, m.div(v_lo, v_hi)))


def _log_of_double(m: FloatArithmetic, a):
    """log(2a) without overflow: log(a) as a double-word plus ln2."""
    l_hi, l_lo = log_double_word(m, a)
    hi, lo = m.two_sum(l_hi, m.c(F64.ln2_hi))
    return m.add(hi, m.add(lo, m.add(l_lo, m.c(F64.ln2_lo))))


def _cubic(m: FloatArithmetic, a, c):
    """a + c a^3, for small a (the log of a double-word near 1 rounds twice)."""
    return m.fma(m.mul(a, m.mul(a, a)), m.c(c), a)


def _asinh(m: FloatArithmetic, x):
    a = m.fabs(x)
    moderate = m.minnum(a, m.c(_LOG_OF_DOUBLE))
    p, e = m.two_prod(moderate, moderate)
    w_hi, w_lo = m.two_sum(p, m.c(1.0))
    s_hi, s_lo = _sqrt_double_word(m, w_hi, m.add(w_lo, e))
    v_hi, v_lo = m.fast_two_sum(s_hi, moderate)                 # sqrt(a^2 + 1) + a
    result = m.select(m.cmp(">", a, m.c(_LOG_OF_DOUBLE)), _log_of_double(m, a), _log_plus(m, v_hi, m.add(v_lo, s_lo)))
    result = m.select(m.cmp("<", a, m.c(_SMALL)), _cubic(m, a, -1 / 6), result)
    result = m.select(m.cmp("==", a, m.inf()), a, result)
    return m.keep_nan(x, m.copysign(result, x))


def _acosh(m: FloatArithmetic, x):
    moderate = m.maxnum(m.minnum(x, m.c(_LOG_OF_DOUBLE)), m.c(1.0))
    p, e = m.two_prod(moderate, moderate)
    w_hi, w_lo = m.two_sum(p, m.c(-1.0))                          # exact near 1
    s_hi, s_lo = _sqrt_double_word(m, w_hi, m.add(w_lo, e))
    v_hi, v_lo = m.fast_two_sum(moderate, s_hi)                 # x + sqrt(x^2 - 1)
    result = m.select(m.cmp(">", x, m.c(_LOG_OF_DOUBLE)), _log_of_double(m, x), _log_plus(m, v_hi, m.add(v_lo, s_lo)))
    result = m.select(m.cmp("==", x, m.inf()), x, result)
    return m.keep_nan(x, m.select(m.cmp("<", x, m.c(1.0)), m.nan(), result))


def _atanh(m: FloatArithmetic, x):
    a = m.fabs(x)
    below_one = m.cmp("<", a, m.c(1.0))
    n_hi, n_lo = m.two_sum(m.c(1.0), a)
    d_hi, d_lo = m.two_sum(m.c(1.0), m.neg(a))
    q_hi, q_lo = _quotient(m, n_hi, n_lo, m.select(below_one, d_hi, m.c(1.0)), d_lo)     # (1 + a) / (1 - a)
    result = m.mul(_log_plus(m, q_hi, q_lo), m.c(0.5))
    result = m.select(m.cmp("<", a, m.c(_SMALL)), _cubic(m, a, 1 / 3), result)
    result = m.select(below_one, result, m.select(m.cmp("==", a, m.c(1.0)), m.inf(), m.nan()))
    return m.keep_nan(x, m.copysign(result, x))


def atan(m: FloatArithmetic, x):
    return m.via_float64(_atan, x)


def atan2(m: FloatArithmetic, y, x):
    return m.via_float64(_atan2, y, x)


def asin(m: FloatArithmetic, x):
    return m.via_float64(_asin, x)


def acos(m: FloatArithmetic, x):
    return m.via_float64(_acos, x)


def asinh(m: FloatArithmetic, x):
    return m.via_float64(_asinh, x)


def acosh(m: FloatArithmetic, x):
    return m.via_float64(_acosh, x)


def atanh(m: FloatArithmetic, x):
    return m.via_float64(_atanh, x)
