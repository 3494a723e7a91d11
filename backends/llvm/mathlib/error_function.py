"""erf.

Below |x| = 1 an odd polynomial, its last steps in double-words; above, 1 - exp(-x^2) R(|x|) with
exp(-x^2) from the exact square and R = erfc(x) exp(x^2) a piecewise polynomial whose coefficients
are chosen by ``select``.
"""
from __future__ import annotations

from .arithmetic import FloatArithmetic
from .exponential import exp_pair


def _piecewise_polynomial(m: FloatArithmetic, x, pieces):
    """P_i(x - centre_i) for the last piece i whose start is <= x; one Horner evaluation, with the
    coefficients chosen by select."""
    centre, coeffs = m.c(pieces[0][1]), [m.c(v) for v in pieces[0][2]]
    for start, piece_centre, piece_coeffs in pieces[1:]:
        here = m.cmp(">=", x, m.c(start))
        centre = m.select(here, m.c(piece_centre), centre)
        coeffs = [m.select(here, m.c(v), old) for v, old in zip(piece_coeffs, coeffs)]
    return m.horner(m.sub(x, centre), coeffs)


def erf(m: FloatArithmetic, x):
    fmt = m.fmt
    a = m.fabs(x)
    # a + a P(a^2) with the last steps in double-words (the final rounding is then the only large
    # error); below 2^(100 - bias) products may be denormal, where one fma is already exact enough
    z_hi, z_lo = m.two_prod(a, a)
    q = m.horner(z_hi, fmt.erf_p[1:])
    zq_hi, zq_lo = m.two_prod(z_hi, q)
    p_hi, p_lo = m.two_sum(m.c(fmt.erf_p[0]), zq_hi)
    p_lo = m.add(p_lo, m.fma(z_lo, q, zq_lo))
    t_hi, t_lo = m.two_prod(a, p_hi)
    s_hi, s_lo = m.fast_two_sum(a, t_hi)
    small = m.add(s_hi, m.add(s_lo, m.fma(a, p_lo, t_lo)))
    small = m.select(m.cmp("<", a, m.c(2.0 ** (100 - fmt.bias))), m.fma(a, p_hi, a), small)
    # 1 - exp(-a^2) R(a)
    ac = m.minnum(a, m.c(fmt.erf_clamp))
    r = _piecewise_polynomial(m, ac, fmt.erfc_pieces)
    sq_hi, sq_lo = m.two_prod(ac, ac)
    e_hi, e_lo = exp_pair(m, m.neg(sq_hi), m.neg(sq_lo))
    c_hi, c_lo = m.two_prod(e_hi, r)
    c_lo = m.fma(e_lo, r, c_lo)
    one_minus, err = m.fast_two_sum(m.c(1.0), m.neg(c_hi))
    large = m.add(one_minus, m.sub(err, c_lo))
    result = m.copysign(m.select(m.cmp("<", a, m.c(1.0)), small, large), x)
    return m.keep_nan(x, result)

