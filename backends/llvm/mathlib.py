"""Vectorisable transcendental functions, emitted as LLVM IR.

``math_function(module, name, ty)`` returns the internal function ``graphc.<name>.<f32|f64>``
(created once per module). Every function is straight-line code: arithmetic, comparisons,
``select``, bit casts, integer operations on the float bits, and intrinsics that vectorise
(``llvm.fma``, ``llvm.fabs``, ``llvm.copysign``, ``llvm.rint``, ``llvm.minnum``, ``llvm.maxnum``,
``llvm.sqrt``, ``llvm.fshl``), marked ``alwaysinline``, so that once inlined into a loop LLVM's loop
vectoriser sees plain arithmetic. Nothing calls libm. The only memory read is the table of the bits
of 2/pi used by float64 sin and cos (a gather, ``vpgatherqq`` on AVX-512).

Algorithms (``fma`` is required to be a real fused multiply-add, as on every x86-64 with FMA3):

* exp, expm1: n = rint(x/ln2), r = x - n*ln2 in two pieces (Cody-Waite) with the rounding error of r
  carried along; expm1(r) = r + r^2/2 + r^3 Q'(r) as a double-word, its first two terms exact; 2^n
  applied in two halves so that denormal results are rounded once and overflow gives inf.
* log, log1p: x = 2^k z with z in [sqrt(1/2), sqrt(2)) from the bits (denormals pre-scaled),
  log(z) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f) (the fdlibm scheme); log1p adds the rounding
  error of 1+x as c/u.
* tanh, sigmoid: from exp(-|x|) as a double-word, with one corrected division; tanh uses an odd
  polynomial below |x| = 1/4.
* erf: odd polynomial below |x| = 1, its last steps in double-words; above, 1 - exp(-x^2) R(|x|)
  with exp(-x^2) from the exact square and R = erfc*exp(x^2) a piecewise polynomial whose
  coefficients are chosen by ``select``.
* sin, cos: Payne-Hanek reduction for every argument, in 64-bit integers: the significand times a
  window of 2/pi aligned with ``llvm.fshl`` (float64: 53 bits times 192 bits, four words gathered
  from a 20-word table, 64x64-bit products from 32-bit limbs; float32: 24 bits times 128 bits, three
  words chosen by ``select`` among five). The fraction becomes a double-word r in [-pi/4, pi/4] and
  the fdlibm kernels finish. Right for every finite argument: the reduction keeps ~126 fraction
  bits, the hardest double (|x mod pi/2| ~ 2^-61) needs ~120.
* pow: exp(y * log|x|) with log|x| as a double-word (about 2^-70 relative), the product y*log|x| as
  a double-word, and exp taking the low word as its correction; C99 special cases by ``select``.
* float32 sin, cos and pow evaluate the float64 algorithm and round once more (half the vector width
  of a native float32 version, but correctly rounded almost everywhere); the others are native
  float32 code with their own polynomials.

Polynomial coefficients: minimax (Remez exchange) fits computed offline with mpmath at 60 digits on
the stated interval and weight, then rounded to the target precision; each table's comment gives the
interval and the weighted error of the fit. They are literals here; nothing is computed at import.

Accuracy (``python -m graphc.backends.llvm.math_accuracy``, LLVM 22.1, znver5): the largest error
in ulp of the exact result, over all special values, dense edge regions (overflow and underflow
thresholds, denormals, interval boundaries, multiples of pi/2, the hardest double for the pi/2
reduction), 2^22 samples in each function's critical range (where its polynomial pieces meet) and a
sweep of the whole range: every 97th float32 bit pattern (44 million values; sin and cos float32 also
all 2^32), 2^21 random float64 bit patterns plus 2^20 values in the function's useful range plus 2^19
small ones; pow on 2^21 (x, y) pairs whose result spans the whole range, bases near 1 with large
exponents, integer powers of negative bases, and every pair of 38 special values. Float64 maxima
include a further 2^24-sample scan of the critical ranges. References: float64 for float32, x87
long double for float64 (erf: an all-positive series in long double). "bound" is what the tests
assert. "NumPy" is NumPy's / SciPy's own error on the same inputs in the same dtype (np.exp ...,
scipy.special.erf and expit, 1 / np.sqrt): its float32 SIMD functions reach 1.4 to 3.7 ulp, its
float64 cos 8 ulp for huge arguments, SciPy's erf 2.9 ulp, and SciPy's expit returns 0 instead of
the denormal results of sigmoid below about -708 (f64) and -87 (f32).

    function  float32: ulp  bound  NumPy   | float64: ulp  bound  NumPy
    exp                0.750  0.8    2.37  |          0.750  0.8    0.72
    log                0.835  0.9    3.66  |          0.858  0.9    0.62
    log1p              0.835  0.9    1.92  |          0.853  0.9    0.62
    expm1              0.707  0.8    2.53  |          0.707  0.8    0.52
    tanh               0.539  0.6    1.37  |          0.541  0.6    1.19
    sigmoid            0.750  0.8    2e6   |          0.750  0.8    1e15
    sin                0.500  0.6    1.45  |          0.800  0.9    0.52
    cos                0.500  0.6    1.46  |          0.826  0.9    7.95
    erf                0.844  0.9    0.50  |          0.941  1.0    2.92
    pow                0.500  0.6    1.01  |          0.748  0.8    0.75
    sqrt               0.500  0.5    0.50  |          0.500  0.5    0.50
    rsqrt              1.490  1.5    1.49  |          1.491  1.5    1.49

0.75 for exp and sigmoid comes from denormal results (the significand is rounded, then rounded again
to the denormal grid). rsqrt is 1/sqrt(x) rounded twice, on purpose bit-identical to NumPy's
1 / np.sqrt(x); sqrt is bit-identical to np.sqrt. The float32 functions that go through float64 are
correctly rounded except in rare double-rounding cases. Every loop vectorises to 512-bit code on
znver5 (the tests check it).
"""
from __future__ import annotations

import math
import weakref
from collections import Counter
from dataclasses import dataclass

from llvmlite import ir

__all__ = ["FUNCTIONS", "math_function"]

#: name -> number of arguments of every function ``math_function`` provides.
FUNCTIONS = {
    "exp": 1, "log": 1, "log1p": 1, "expm1": 1, "tanh": 1, "sigmoid": 1, "sin": 1, "cos": 1,
    "erf": 1, "pow": 2, "sqrt": 1, "rsqrt": 1,
}

_ATTRIBUTES = ("alwaysinline", "nounwind", "readnone", "norecurse")

# A module gets its first INLINED_USES calls of a function inlined; later calls go to one outlined
# copy, and in vectorised loops to its vector variants: a kernel of 1,500 sin calls then compiles sin
# four times (scalar and three vector widths) instead of 1,500 times (about 30 ms each).
INLINED_USES = 4
_NEVER_OUTLINED = ("sqrt", "rsqrt")  # one or two instructions: a call would cost more
_VECTOR_BITS = (128, 256, 512)
_uses: "weakref.WeakKeyDictionary[ir.Module, Counter]" = weakref.WeakKeyDictionary()


def math_function(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The function of ``module`` computing ``name`` at float type ``ty``, for one more call.

    That is ``graphc.<name>.<f32|f64>``, inlined at the call, for the module's first ``INLINED_USES``
    calls; for later calls the outlined ``graphc.<name>.<f32|f64>.outlined``, which LLVM's loop
    vectoriser replaces by a vector variant in vectorised loops (each created once per module)."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown math function {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
    fmt = _format_of(ty)
    inline = _inline_function(module, name, fmt)
    uses = _uses.setdefault(module, Counter())
    uses[inline.name] += 1
    if uses[inline.name] <= INLINED_USES or name in _NEVER_OUTLINED:
        return inline
    return _outlined_function(module, inline, fmt)


def _inline_function(module: ir.Module, name: str, fmt: "_Format") -> ir.Function:
    symbol = f"graphc.{name}.{fmt.name}"
    existing = module.globals.get(symbol)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(fmt.ty, [fmt.ty] * FUNCTIONS[name]), symbol)
    fn.linkage = "internal"
    for attribute in _ATTRIBUTES:
        fn.attributes.add(attribute)
    em = _Emitter(ir.IRBuilder(fn.append_basic_block("entry")), fmt)
    em.b.ret(_BODIES[name](em, *fn.args))
    return fn


class _OutlinedAttributes(ir.values.FunctionAttributes):
    """Function attributes that also take LLVM string attributes (``"key"="value"``), which
    llvmlite's own set rejects."""

    def add(self, name):
        if name.startswith('"'):
            set.add(self, name)
        else:
            super().add(name)


def _outlined_function(module: ir.Module, inline: ir.Function, fmt: "_Format") -> ir.Function:
    """``<inline>.outlined``: never inlined; names its vector variants for the loop vectoriser
    (the ``vector-function-abi-variant`` attribute, LLVM's own mangling ``_ZGV_LLVM_N<lanes>v...``)."""
    symbol = inline.name + ".outlined"
    existing = module.globals.get(symbol)
    if existing is not None:
        return existing
    variants = [_vector_variant(module, inline, bits // fmt.bits) for bits in _VECTOR_BITS]
    arity = len(inline.args)
    mangled = ",".join(f"_ZGV_LLVM_N{v.args[0].type.count}{'v' * arity}_{symbol}({v.name})" for v in variants)
    fn = ir.Function(module, inline.function_type, symbol)
    fn.linkage = "internal"
    fn.attributes = _OutlinedAttributes(["noinline", "nounwind", "readnone", "norecurse"])
    fn.attributes.add(f'"vector-function-abi-variant"="{mangled}"')
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(b.call(inline, list(fn.args)))
    return fn


def _vector_variant(module: ir.Module, inline: ir.Function, lanes: int) -> ir.Function:
    """``<inline>.v<lanes>``: the function on vectors of ``lanes``, a loop over the lanes that LLVM
    vectorises. Linkage ``weak_odr``: kept until the vectoriser has placed its calls, though
    nothing calls it before."""
    ty = inline.function_type.return_type
    vector = ir.VectorType(ty, lanes)
    fn = ir.Function(module, ir.FunctionType(vector, [vector] * len(inline.args)), f"{inline.name}.v{lanes}")
    fn.linkage = "weak_odr"
    for attribute in ("noinline", "nounwind", "norecurse"):
        fn.attributes.add(attribute)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    array = ir.ArrayType(ty, lanes)
    arguments = []
    for arg in fn.args:
        slot = b.alloca(array)
        b.store(arg, b.bitcast(slot, vector.as_pointer()))
        arguments.append(slot)
    result = b.alloca(array)
    zero = ir.Constant(ir.IntType(64), 0)
    loop, done = fn.append_basic_block("lane"), fn.append_basic_block("done")
    start = b.block
    b.branch(loop)
    b.position_at_end(loop)
    lane = b.phi(ir.IntType(64))
    lane.add_incoming(zero, start)
    values = [b.load(b.gep(slot, [zero, lane], inbounds=True)) for slot in arguments]
    b.store(b.call(inline, values), b.gep(result, [zero, lane], inbounds=True))
    following = b.add(lane, ir.Constant(ir.IntType(64), 1))
    lane.add_incoming(following, loop)
    b.cbranch(b.icmp_unsigned("<", following, ir.Constant(ir.IntType(64), lanes)), loop, done)
    b.position_at_end(done)
    b.ret(b.load(b.bitcast(result, vector.as_pointer())))
    return fn


# ----------------------------------------------------------------------------------------------
# Coefficients. Q, R, P ... are minimax polynomials (Remez, mpmath, 60 digits), rounded to the
# target precision. "error" is the weighted minimax error of the fit before rounding.

# expm1(r) = r + r^2 Q(r), |r| <= ln2/2 (1.0001): absolute error of Q 2^-59.3 (f64), 2^-29.5 (f32).
_EXPM1_Q_F64 = (
    0.5, 0.1666666666666667, 0.041666666666666685, 0.008333333333326134, 0.0013888888888874398,
    0.00019841269874822188, 2.480158734734124e-05, 2.755725539847213e-06, 2.7557252910958726e-07,
    2.5105217646327192e-08, 2.0921589829137796e-09)
_EXPM1_Q_F32 = (
    0.5, 0.1666666716337204, 0.04166646674275398, 0.00833328627049923, 0.0013933652080595493,
    0.0001990758755709976)

# log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f), R(z) = sum c_k z^k, k >= 1, on
# z in [0, (3-2 sqrt2)^2 (1.0002)]: absolute error 2^-58.5 (f64), 2^-35.9 (f32).
_LOG_R_F64 = (
    0.6666666666666734, 0.39999999999413965, 0.28571428742562294, 0.22222198553773753,
    0.18183565407733074, 0.1531402110878422, 0.1479626124748802)
_LOG_R_F32 = (0.6666666865348816, 0.4000034034252167, 0.2853604555130005, 0.23617561161518097)

# pow's double-word log: log(1+f) = 2s + 2/3 s^3 + s^5 T(s^2), same interval: absolute error of T
# 2^-58.9, i.e. 2^-70 relative to log(1+f). T[0] ~ 2/5 is applied exactly (double-word 2/5).
_POW_LOG_T_F64 = (
    0.4, 0.28571428571429375, 0.2222222222165098, 0.18181818336401417, 0.15384594863797357,
    0.13334809652926205, 0.11706112834910044, 0.11724386817711896)

# tanh(x) = x + x^3 P(x^2), |x| <= 1/4: relative error 2^-59.2 (f64), 2^-29.9 (f32).
_TANH_SMALL = 0.25
_TANH_P_F64 = (
    -0.3333333333333333, 0.13333333333333022, -0.05396825396720279, 0.021869488401092946,
    -0.008863226999616476, 0.003591834919505126, -0.0014502326071092536, 0.0005337220464403301)
_TANH_P_F32 = (-0.3333333432674408, 0.13333281874656677, -0.05392703786492348, 0.020800674334168434)

# sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= pi/4 (1.001): relative errors
# 2^-66.2 and 2^-59.4.
_SIN_S = (
    -0.16666666666666666, 0.008333333333333331, -0.0001984126984126502, 2.755731921930353e-06,
    -2.5052106220024738e-08, 1.605852964458105e-10, -7.586580487904591e-13)
_COS_C = (
    0.041666666666666664, -0.0013888888888887382, 2.4801587298744435e-05, -2.755731726062817e-07,
    2.0876143942503467e-09, -1.1382464188417552e-11)

# erf(x) = x + x P(x^2), |x| <= 1: absolute error of P 2^-62.8 (f64), 2^-29.7 (f32; its coefficients
# were rounded one at a time, lowest first, refitting the others after each: plain rounding cost
# 0.25 ulp of erf near 1).
_ERF_P_F64 = (
    0.1283791670955126, -0.3761263890318375, 0.11283791670954885, -0.02686617064507787,
    0.00522397762482839, -0.0008548326981423647, 0.00012055331132901249, -1.4925595771175466e-05,
    1.646100846598155e-06, -1.6350396137750307e-07, 1.4660328388975263e-08,
    -1.1374955262337807e-09, 5.960685761418987e-11)
_ERF_P_F32 = (
    0.12837916612625122, -0.3761262893676758, 0.11283618211746216, -0.02685512602329254,
    0.005190733354538679, -0.0008030750323086977, 7.920303323771805e-05)

# erfc(a) exp(a^2) = P_i(a - mid_i) on [lo_i, hi_i], relative error per piece (f64):
# [1, 1.625] 2^-56.3, [1.625, 2.5] 2^-53.3, [2.5, 4.125] 2^-46.2, [4.125, 6] 2^-49.6 -- each well
# below what erfc's share of erf = 1 - erfc needs there; (f32): [1, 2.25] 2^-26.6, [2.25, 4] 2^-27.1.
_ERFC_PIECES_F64 = (
    (1.0, 1.3125, (
        0.3551767864976341, -0.19604010253922294, 0.09787415191490015, -0.04505351876727707,
        0.019370704267065147, -0.007851787766895352, 0.0030217442348972833,
        -0.0011102138308139882, 0.00039114830128879205, -0.0001326297301459022,
        4.339697451387383e-05, -1.3750980596407844e-05, 4.354390436600403e-06,
        -1.2936683150823769e-06)),
    (1.625, 2.0625, (
        0.2488804961841624, -0.1017471203358428, 0.03902706049147529, -0.01416920538143854,
        0.004901537197078181, -0.0016239139657110494, 0.0005174048511285256,
        -0.00015907611188548294, 4.732803815097337e-05, -1.3658496701827148e-05,
        3.8280594255327985e-06, -1.0459190296981478e-06, 2.914768143882349e-07,
        -7.539698720082216e-08)),
    (2.5, 3.3125, (
        0.16343509664662428, -0.04562165181163814, 0.012313375020273638, -0.0032223980373688055,
        0.0008195907680198477, -0.00020300145711659774, 4.9049414169906295e-05,
        -1.1578580568430238e-05, 2.6741288444533112e-06, -6.04810920496292e-07,
        1.334992166680815e-07, -2.907826306588477e-08, 6.901431779864825e-09,
        -1.4378165432500948e-09)),
    (4.125, 5.0625, (
        0.10938694058485891, -0.020836393673817347, 0.0039026976111438036, -0.0007193246782184843,
        0.00013055821410107242, -2.3349488292673974e-05, 4.117141363577106e-06,
        -7.16128638974036e-07, 1.2294102744054015e-07, -2.0838446451472033e-08,
        3.4792679396473382e-09, -5.758477900233964e-10, 1.0229401548571384e-10,
        -1.64794312119955e-11)),
)
_ERFC_PIECES_F32 = (
    (1.0, 1.625, (
        0.30226120352745056, -0.14603018760681152, 0.06496208906173706, -0.02697937935590744,
        0.010561577044427395, -0.003912678454071283, 0.001391140976920724,
        -0.0005202212487347424, 0.00016767496708780527)),
    (2.25, 3.125, (
        0.17244435846805573, -0.05060195550322533, 0.014313207007944584, -0.003915673587471247,
        0.0010387215297669172, -0.00026683570467866957, 6.70657173031941e-05,
        -1.8160031686420552e-05, 4.302580691728508e-06)),
)

# The bits of 2/pi, most significant first (1216 bits), after one zero word of padding.
_TWO_OVER_PI_HEX = (
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e0"
    "06492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f4"
    "9c845f8bbdf9283b1ff897ffde05980fef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d"
    "7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d"
    "a9e391615ee61b086599855f14a06840")
_PIO2_WORDS = (0,) + tuple(int(_TWO_OVER_PI_HEX[16 * i:16 * i + 16], 16) for i in range(19))
_PIO2_HI, _PIO2_LO = 1.5707963267948966, 6.123233995736766e-17  # pi/2 as a double-word


@dataclass(frozen=True)
class _Format:
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


_F64 = _Format(
    "f64", 64, 52, 6.93147180369123816490e-01, 1.90821492927058770002e-10, (-746.0, 710.0),
    -40.0, 2.0 ** -54, 20.0, 6.0, 54, _EXPM1_Q_F64, _LOG_R_F64, _TANH_P_F64, _ERF_P_F64,
    _ERFC_PIECES_F64)
_F32 = _Format(
    "f32", 32, 23, 0.693145751953125, 1.428606765330187045e-06, (-104.0, 89.0),
    -18.0, 2.0 ** -25, 10.0, 4.0, 25, _EXPM1_Q_F32, _LOG_R_F32, _TANH_P_F32, _ERF_P_F32,
    _ERFC_PIECES_F32)


def _format_of(ty) -> _Format:
    if isinstance(ty, ir.DoubleType):
        return _F64
    if isinstance(ty, ir.FloatType):
        return _F32
    raise TypeError(f"math functions take float or double, not {ty}")


# ----------------------------------------------------------------------------------------------
class _Emitter:
    """Terse IR construction in one float format (and the integer type of the same width)."""

    def __init__(self, builder: ir.IRBuilder, fmt: _Format):
        self.b, self.fmt = builder, fmt
        self.ty, self.ity = fmt.ty, fmt.ity

    def widened(self) -> "_Emitter":
        return _Emitter(self.b, _F64)

    # constants
    def c(self, value):
        return ir.Constant(self.ty, value)

    def ci(self, value):
        return ir.Constant(self.ity, value)

    # float arithmetic
    def add(self, a, b): return self.b.fadd(a, b)
    def sub(self, a, b): return self.b.fsub(a, b)
    def mul(self, a, b): return self.b.fmul(a, b)
    def div(self, a, b): return self.b.fdiv(a, b)
    def neg(self, a): return self.b.fneg(a)

    def _intrinsic(self, name, *args):
        ty = args[0].type
        full = f"{name}.{ty.intrinsic_name}"
        fn = self.b.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(ty, [ty] * len(args)), full)
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
        """p * 2^n in two exact-or-once-rounded steps: right for denormal and overflowing results."""
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

    def nan(self):
        return self.c(math.nan)

    def inf(self):
        return self.c(math.inf)


# ----------------------------------------------------------------------------------------------
# exp family

def _expm1_reduced(m: _Emitter, x, x_lo=None):
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


def _exp_double_word(m: _Emitter, x, x_lo=None):
    """(n, p_hi, p_lo) with exp(x + x_lo) = 2^n (p_hi + p_lo), p in [0.7, 1.42]."""
    n, e_hi, e_lo = _expm1_reduced(m, x, x_lo)
    p_hi, p_lo = m.fast_two_sum(m.c(1.0), e_hi)
    return n, p_hi, m.add(p_lo, e_lo)


def _nan_through(m: _Emitter, x, result):
    return m.select(m.isnan(x), x, result)


def _exp(m: _Emitter, x):
    n, p_hi, p_lo = _exp_double_word(m, x)
    return _nan_through(m, x, m.scale(m.add(p_hi, p_lo), n))


def _expm1(m: _Emitter, x):
    fmt = m.fmt
    n, e_hi, e_lo = _expm1_reduced(m, m.maxnum(x, m.c(fmt.expm1_low)))
    # 2^n (1 + e) - 1 = 2 (h e + (h - 1/2)) with h = 2^(n-1): halving keeps h finite at n = 1024.
    h = m.pow2(m.isub(n, m.ci(1)))
    a_hi, a_lo = m.fast_two_sum(h, m.c(-0.5))       # h - 1/2 is inexact once h > 2^mant
    s_hi, s_lo = m.two_sum(a_hi, m.mul(h, e_hi))
    y = m.mul(m.add(s_hi, m.add(s_lo, m.fma(h, e_lo, a_lo))), m.c(2.0))
    small = m.cmp("<", m.fabs(x), m.c(fmt.tiny))
    return _nan_through(m, x, m.select(small, x, y))


def _exp_pair(m: _Emitter, x, x_lo=None):
    """exp(x + x_lo) as a double-word (hi, lo); hi is rounded once even when denormal."""
    n, p_hi, p_lo = _exp_double_word(m, x, x_lo)
    return m.scale(p_hi, n), m.scale(p_lo, n)


def _one_plus(m: _Emitter, hi, lo):
    """1 + (hi + lo) as a double-word, for 0 <= hi <= 1."""
    s, err = m.fast_two_sum(m.c(1.0), hi)
    return s, m.add(err, lo)


def _divide_double_word(m: _Emitter, n_hi, n_lo, d_hi, d_lo):
    """(n_hi + n_lo) / (d_hi + d_lo), rounded nearly correctly, with one division."""
    inv = m.div(m.c(1.0), d_hi)
    y = m.mul(n_hi, inv)
    residual = m.add(m.sub(m.fma(m.neg(y), d_hi, n_hi), m.mul(y, d_lo)), n_lo)
    return y, m.mul(residual, inv)


def _sigmoid(m: _Emitter, x):
    e_hi, e_lo = _exp_pair(m, m.neg(m.fabs(x)))
    d_hi, d_lo = _one_plus(m, e_hi, e_lo)
    negative = m.cmp("<", x, m.c(0.0))
    n_hi = m.select(negative, e_hi, m.c(1.0))
    n_lo = m.select(negative, e_lo, m.c(0.0))
    y, y_lo = _divide_double_word(m, n_hi, n_lo, d_hi, d_lo)
    return _nan_through(m, x, m.add(y, y_lo))


def _tanh(m: _Emitter, x):
    fmt = m.fmt
    a = m.fabs(x)
    # |x| >= 1/4: tanh = 1 - 2E/(1 + E), E = exp(-2|x|) as a double-word
    e_hi, e_lo = _exp_pair(m, m.mul(m.minnum(a, m.c(fmt.tanh_clamp)), m.c(-2.0)))
    d_hi, d_lo = _one_plus(m, e_hi, e_lo)
    q_hi, q_lo = _divide_double_word(m, m.mul(e_hi, m.c(2.0)), m.mul(e_lo, m.c(2.0)), d_hi, d_lo)
    t_hi, t_lo = m.fast_two_sum(m.c(1.0), m.neg(q_hi))
    large = m.add(t_hi, m.sub(t_lo, q_lo))
    # |x| < 1/4: x + x^3 P(x^2)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.horner(z, fmt.tanh_p), a)
    result = m.copysign(m.select(m.cmp("<", a, m.c(_TANH_SMALL)), small, large), x)
    return _nan_through(m, x, result)


# ----------------------------------------------------------------------------------------------
# log family

_SQRT_HALF_BITS = {"f64": 0x3FE6A09E667F3BCD, "f32": 0x3F3504F3}


def _split_exponent(m: _Emitter, x, allow_denormal):
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


def _log_of_parts(m: _Emitter, k, f, correction=None):
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


def _log_specials(m: _Emitter, x, zero_at, result):
    """NaN below ``zero_at``, -inf at it, inf at inf, NaN through."""
    result = m.select(m.cmp("==", x, m.inf()), x, result)
    result = m.select(m.cmp("==", x, m.c(zero_at)), m.c(-math.inf), result)
    result = m.select(m.cmp("<", x, m.c(zero_at)), m.nan(), result)
    return _nan_through(m, x, result)


def _log(m: _Emitter, x):
    k, f = _split_exponent(m, x, allow_denormal=True)
    return _log_specials(m, x, 0.0, _log_of_parts(m, k, f))


def _log1p(m: _Emitter, x):
    u = m.add(x, m.c(1.0))
    # the rounding error of u = 1 + x, exactly (Fast2Sum with the larger operand first)
    c = m.select(m.cmp("<", m.fabs(x), m.c(1.0)),
                 m.sub(x, m.sub(u, m.c(1.0))), m.sub(m.c(1.0), m.sub(u, x)))
    k, f = _split_exponent(m, u, allow_denormal=False)
    result = _log_of_parts(m, k, f, correction=m.div(c, u))
    result = m.select(m.cmp("==", x, m.c(0.0)), x, result)      # keeps -0
    return _log_specials(m, x, -1.0, result)


# ----------------------------------------------------------------------------------------------
# erf

def _piecewise_polynomial(m: _Emitter, x, pieces):
    """P_i(x - centre_i) for the last piece i whose start is <= x; one Horner evaluation, with the
    coefficients chosen by select."""
    centre, coeffs = m.c(pieces[0][1]), [m.c(v) for v in pieces[0][2]]
    for start, piece_centre, piece_coeffs in pieces[1:]:
        here = m.cmp(">=", x, m.c(start))
        centre = m.select(here, m.c(piece_centre), centre)
        coeffs = [m.select(here, m.c(v), old) for v, old in zip(piece_coeffs, coeffs)]
    return m.horner(m.sub(x, centre), coeffs)


def _erf(m: _Emitter, x):
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
    e_hi, e_lo = _exp_pair(m, m.neg(sq_hi), m.neg(sq_lo))
    c_hi, c_lo = m.two_prod(e_hi, r)
    c_lo = m.fma(e_lo, r, c_lo)
    one_minus, err = m.fast_two_sum(m.c(1.0), m.neg(c_hi))
    large = m.add(one_minus, m.sub(err, c_lo))
    result = m.copysign(m.select(m.cmp("<", a, m.c(1.0)), small, large), x)
    return _nan_through(m, x, result)


# ----------------------------------------------------------------------------------------------
# sin, cos (float64 arithmetic; float32 widens)

def _mul_hi_u64(m: _Emitter, a, b):
    """High 64 bits of a * b for a < 2^53, from 32-bit limbs (vpmuludq)."""
    low32 = m.ci(0xFFFFFFFF)
    s32 = m.ci(32)
    a_lo, a_hi = m.iand(a, low32), m.lshr(a, s32)
    b_lo, b_hi = m.iand(b, low32), m.lshr(b, s32)
    mid = m.iadd(m.imul(a_lo, b_hi), m.lshr(m.imul(a_lo, b_lo), s32))
    mid2 = m.iadd(m.iand(mid, low32), m.imul(a_hi, b_lo))
    return m.iadd(m.iadd(m.imul(a_hi, b_hi), m.lshr(mid, s32)), m.lshr(mid2, s32))


def _two_over_pi_words(m: _Emitter, j, count, last_j):
    """The words j .. j+count-1 of the padded bits of 2/pi, for 0 <= j <= last_j: gathers from a
    constant table, or a chain of selects when only a few positions are possible."""
    def signed(word):
        return word - (1 << 64) if word >> 63 else word

    if last_j < 4:
        words = []
        for i in range(count):
            word = m.ci(signed(_PIO2_WORDS[i]))
            for k in range(1, last_j + 1):
                word = m.b.select(m.b.icmp_unsigned("==", j, m.ci(k)), m.ci(signed(_PIO2_WORDS[k + i])), word)
            words.append(word)
        return words
    module = m.b.module
    table = module.globals.get("graphc.two_over_pi")
    if table is None:
        array = ir.ArrayType(m.ity, len(_PIO2_WORDS))
        table = ir.GlobalVariable(module, array, "graphc.two_over_pi")
        table.global_constant = True
        table.linkage = "internal"
        table.initializer = ir.Constant(array, [signed(w) for w in _PIO2_WORDS])
    zero = m.ci(0)
    return [m.b.load(m.b.gep(table, [zero, m.iadd(j, m.ci(i))], inbounds=True)) for i in range(count)]


@dataclass(frozen=True)
class _Reduction:
    """How much of 2/pi the reduction of one source format needs."""
    drop_bits: int      # the significand is M >> drop_bits: 53 significant bits for f64, 24 for f32
    words: int          # the window of 2/pi, in 64-bit words
    last_j: int         # the largest word index of the window's start (for the largest finite input)


_REDUCTIONS = {"f64": _Reduction(0, 3, 16), "f32": _Reduction(29, 2, 2)}


def _reduce_pio2(m: _Emitter, a, source: _Format):
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
    r_hi, r_err = m.two_prod(f_hi, m.c(_PIO2_HI))
    r_lo = m.add(r_err, m.fma(f_hi, m.c(_PIO2_LO), m.mul(f_lo, m.c(_PIO2_HI))))
    return q, r_hi, r_lo


def _kernel_sin(m: _Emitter, x, y):
    z = m.mul(x, x)
    v = m.mul(z, x)
    r = m.horner(z, _SIN_S[1:])
    inner = m.sub(m.mul(z, m.sub(m.mul(y, m.c(0.5)), m.mul(v, r))), y)
    return m.sub(x, m.fma(m.neg(v), m.c(_SIN_S[0]), inner))


def _kernel_cos(m: _Emitter, x, y):
    z = m.mul(x, x)
    r = m.mul(z, m.horner(z, _COS_C))
    hz = m.mul(z, m.c(0.5))
    w = m.sub(m.c(1.0), hz)
    return m.add(w, m.add(m.sub(m.sub(m.c(1.0), w), hz), m.fma(z, r, m.neg(m.mul(x, y)))))


def _sin_cos(m: _Emitter, x, quadrant_shift, source: _Format):
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
    value = m.select(use_cos, _kernel_cos(m, r_hi, r_lo), _kernel_sin(m, r_hi, r_lo))
    value = m.select(negate, m.neg(value), value)
    if quadrant_shift == 0:     # sin is odd: flip with the sign of x (keeps sin(-0) = -0)
        sign = m.iand(m.bits(x), m.ci(-1 << 63))
        value = m.from_bits(m.b.xor(m.bits(value), sign))
    value = m.select(finite, value, m.nan())
    return _nan_through(m, x, value)


def _via_float64(m: _Emitter, body, *args):
    """Evaluates ``body`` in float64 and rounds its result once to the function's format."""
    if m.fmt is _F64:
        return body(m, *args)
    w = m.widened()
    return m.b.fptrunc(body(w, *[m.b.fpext(arg, w.ty) for arg in args]), m.ty)


def _sin(m: _Emitter, x):
    return _via_float64(m, lambda w, x: _sin_cos(w, x, 0, m.fmt), x)


def _cos(m: _Emitter, x):
    return _via_float64(m, lambda w, x: _sin_cos(w, x, 1, m.fmt), x)


# ----------------------------------------------------------------------------------------------
# pow (float64 arithmetic; float32 widens)

def _dd_mul(m: _Emitter, a_hi, a_lo, b_hi, b_lo):
    p_hi, p_lo = m.two_prod(a_hi, b_hi)
    return p_hi, m.fma(a_hi, b_lo, m.fma(a_lo, b_hi, p_lo))


def _log_double_word(m: _Emitter, ax):
    """log(ax) as a double-word, about 2^-70 relative, for positive finite ax."""
    k, f = _split_exponent(m, ax, allow_denormal=True)
    d_hi, d_lo = m.fast_two_sum(m.c(2.0), f)
    s = _divide_double_word(m, f, m.c(0.0), d_hi, d_lo)              # s = f / (2 + f)
    # log(1 + f) = 2s + 2/3 s^3 + 2/5 s^5 + s^7 T'(s^2): the first three terms as double-words
    s2 = _dd_mul(m, *s, *s)
    s3 = _dd_mul(m, *s2, *s)
    third = _dd_mul(m, m.c(2 / 3), m.c(3.700743415417188e-17), *s3)      # 2/3 as a double-word
    fifth = _dd_mul(m, m.c(0.4), m.c(-2.220446049250313e-17), *_dd_mul(m, *s3, *s2))
    tail = m.mul(m.mul(s3[0], m.mul(s2[0], s2[0])), m.horner(s2[0], _POW_LOG_T_F64[1:]))
    k_lo, k_err = m.two_prod(k, m.c(_F64.ln2_lo))
    hi, lo = m.two_sum(m.mul(k, m.c(_F64.ln2_hi)), m.add(s[0], s[0]))  # k ln2_hi is exact
    small = [k_lo, m.add(s[1], s[1]), tail, k_err]
    for term in (third, fifth):
        hi, err = m.two_sum(hi, term[0])
        small += [err, term[1]]
    for term in small:
        lo = m.add(lo, term)
    return m.fast_two_sum(hi, lo)


def _pow(m: _Emitter, x, y):
    # float32 too goes through the double-word log: a plain one would be accurate enough in ulp, but
    # would break exact ties such as 2^-150 (which must round to 0) about half of the time.
    return _via_float64(m, _pow_float64, x, y)


def _pow_float64(m: _Emitter, x, y):
    ax = m.fabs(x)
    l_hi, l_lo = _log_double_word(m, ax)
    p_hi, p_lo = m.two_prod(y, l_hi)
    p_lo = m.fma(y, l_lo, p_lo)
    p_lo = m.select(m.cmp("<", m.fabs(p_hi), m.c(1000.0)), p_lo, m.c(0.0))   # no inf - inf
    n, e_hi, e_lo = _exp_double_word(m, p_hi, p_lo)
    result = m.scale(m.add(e_hi, e_lo), n)
    return _pow_specials(m, x, y, ax, result)


def _pow_specials(m: _Emitter, x, y, ax, result):
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


# ----------------------------------------------------------------------------------------------

def _sqrt(m: _Emitter, x):
    return m.sqrt(x)


def _rsqrt(m: _Emitter, x):
    return m.div(m.c(1.0), m.sqrt(x))


_BODIES = {
    "exp": _exp, "log": _log, "log1p": _log1p, "expm1": _expm1, "tanh": _tanh,
    "sigmoid": _sigmoid, "sin": _sin, "cos": _cos, "erf": _erf, "pow": _pow, "sqrt": _sqrt,
    "rsqrt": _rsqrt,
}
