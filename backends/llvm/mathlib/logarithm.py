"""log and log1p, and the split of a float into exponent and fraction that pow shares.

x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), from the bits (denormals scaled first);
log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with s = f/(2+f) (the fdlibm scheme); log1p adds the
rounding error c of u = 1 + x as c/u.
"""
from __future__ import annotations

import math

from .arithmetic import FloatArithmetic

_SQRT_HALF_BITS = {"f64": 0x3FE6A09E667F3BCD, "f32": 0x3F3504F3}


def split_exponent(m: FloatArithmetic, x, allow_denormal):
    """(k, f) with x = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2)); x positive and finite."""
    fmt = m.fmt
    k_adjust = m.ci(0)
    if allow_denormal:
        denormal = m.cmp("<", x, m.c(2.0 ** (1 - fmt.bias)))
        x = m.select(denormal, m.mul(x, m.c(2.0 ** fmt.sub_scale)), x)
        k_adjust = m.b.select(denormal, m.ci(-fmt.sub_scale), m.ci(0))
    ix = m.bits(x)
    offset = m.isub(ix, m.ci(_SQRT_HALF_BITS[fmt.name]))
    k = m.iadd(m.ashr(offset, m.ci(fmt.mant)), k_adjust)
    iz = m.isub(ix, m.iand(offset, m.ci(-1 << fmt.mant)))
    return m.to_float(k), m.sub(m.from_bits(iz), m.c(1.0))


def _log_of_parts(m: FloatArithmetic, k, f, correction=None):
    """k ln2 + log(1 + f) (+ correction), the fdlibm scheme."""
    fmt = m.fmt
    hfsq = m.mul(m.mul(f, f), m.c(0.5))
    s = m.div(f, m.add(f, m.c(2.0)))
    z = m.mul(s, s)
    r = m.mul(z, m.horner(z, fmt.log_r))
    low = m.mul(k, m.c(fmt.ln2_lo))
    if correction is not None:
        low = m.add(low, correction)
    inner = m.sub(hfsq, m.fma(s, m.add(hfsq, r), low))
    return m.fma(k, m.c(fmt.ln2_hi), m.sub(f, inner))


def _log_specials(m: FloatArithmetic, x, zero_at, result):
    """NaN below ``zero_at``, -inf at it, inf at inf, NaN through."""
    result = m.select(m.cmp("==", x, m.inf()), x, result)
    result = m.select(m.cmp("==", x, m.c(zero_at)), m.c(-math.inf), result)
    result = m.select(m.cmp("<", x, m.c(zero_at)), m.nan(), result)
    return m.keep_nan(x, result)


def log(m: FloatArithmetic, x):
    k, f = split_exponent(m, x, allow_denormal=True)
    return _log_specials(m, x, 0.0, _log_of_parts(m, k, f))


def log1p(m: FloatArithmetic, x):
    u = m.add(x, m.c(1.0))
    # the rounding error of u = 1 + x, exactly (Fast2Sum with the larger operand first)
    c = m.select(m.cmp("<", m.fabs(x), m.c(1.0)),
                 m.sub(x, m.sub(u, m.c(1.0))), m.sub(m.c(1.0), m.sub(u, x)))
    k, f = split_exponent(m, u, allow_denormal=False)
    result = _log_of_parts(m, k, f, correction=m.div(c, u))
    result = m.select(m.cmp("==", x, m.c(0.0)), x, result)      # keeps -0
    return _log_specials(m, x, -1.0, result)

