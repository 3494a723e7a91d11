"""The two float formats the math functions come in, each with its constants and polynomials."""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from .coefficients import (
    ERF_P_F32, ERF_P_F64, ERFC_PIECES_F32, ERFC_PIECES_F64, EXPM1_Q_F32, EXPM1_Q_F64, LOG_R_F32, LOG_R_F64,
    TANH_P_F32, TANH_P_F64)


@dataclass(frozen=True)
class FloatFormat:
    """The constants of one floating-point format."""
    name: str
    bits: int               # storage width (= width of the matching integer type)
    mant: int               # explicit significand bits
    ln2_hi: float           # ln2 with trailing zero bits: n*ln2_hi is exact for every exponent n
    ln2_lo: float
    exp_clamp: tuple        # exp's argument range: beyond it the result is 0 or inf anyway
    expm1_low: float        # expm1(x) rounds to -1 below this
    tiny: float             # below this expm1(x) and log1p(x) round to x
    tanh_clamp: float       # tanh(x) rounds to +-1 above this
    erf_clamp: float        # erf(x) rounds to +-1 above this
    sub_scale: int          # log scales denormals by 2^sub_scale
    expm1_q: tuple
    log_r: tuple
    tanh_p: tuple
    erf_p: tuple
    erfc_pieces: tuple

    @property
    def ty(self):
        return ir.FloatType() if self.bits == 32 else ir.DoubleType()

    @property
    def ity(self):
        return ir.IntType(self.bits)

    @property
    def bias(self):
        return (1 << (self.bits - self.mant - 2)) - 1


F64 = FloatFormat(
    "f64", 64, 52, 6.93147180369123816490e-01, 1.90821492927058770002e-10, (-746.0, 710.0),
    -40.0, 2.0 ** -54, 20.0, 6.0, 54, EXPM1_Q_F64, LOG_R_F64, TANH_P_F64, ERF_P_F64,
    ERFC_PIECES_F64)
F32 = FloatFormat(
    "f32", 32, 23, 0.693145751953125, 1.428606765330187045e-06, (-104.0, 89.0),
    -18.0, 2.0 ** -25, 10.0, 4.0, 25, EXPM1_Q_F32, LOG_R_F32, TANH_P_F32, ERF_P_F32,
    ERFC_PIECES_F32)


def format_of(ty: ir.Type) -> FloatFormat:
    """The format of the LLVM type ``ty`` (float or double)."""
    if isinstance(ty, ir.DoubleType):
        return F64
    if isinstance(ty, ir.FloatType):
        return F32
    raise TypeError(f"math functions take float or double, not {ty}")
