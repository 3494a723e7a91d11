"""Vectorisable transcendental functions, emitted as LLVM IR.

``math_function(module, name, ty)`` returns the internal function ``graphc.<name>.<f32|f64>``
(created once per module). Every function is straight-line code: arithmetic, comparisons,
``select``, bit casts, integer operations on the float bits, and intrinsics that vectorise
(``llvm.fma``, ``llvm.fabs``, ``llvm.copysign``, ``llvm.rint``, ``llvm.minnum``, ``llvm.maxnum``,
``llvm.sqrt``, ``llvm.fshl``), marked ``alwaysinline``, so that once inlined into a loop LLVM's loop
vectoriser sees plain arithmetic. Nothing calls libm. The only memory read is the table of the bits
of 2/pi used by float64 sin and cos (a gather, ``vpgatherqq`` on AVX-512). ``fma`` is required to
be a real fused multiply-add, as on every x86-64 with FMA3.

Every result is within 0.95 ulp of the exact one, for every argument of either format, with inf,
NaN, -0, denormals and C99's pow cases right; sqrt is correctly rounded, and so are float32 sin,
cos and pow but for rare double roundings; rsqrt is 1 / sqrt(x) rounded twice, bit-identical to
NumPy's ``1 / np.sqrt(x)`` (within 1.5 ulp). ``python -m graphc.backends.llvm.math_accuracy``
measures it; README shows the table.

The algorithms are written in ``arithmetic.FloatArithmetic``'s notation, one module per family
(``exponential``, ``logarithm``, ``error_function``, ``trigonometric``, ``powers``, ``inverse``:
atan, atan2, asin, acos, asinh, acosh, atanh), each stating its method; float32 sin, cos, pow and
the inverse functions evaluate the float64 algorithm, the others are native float32 code with their
own polynomials. ``coefficients`` and ``formats`` hold the data, ``outlining`` the
called copies of functions a module calls often.
"""
from __future__ import annotations

import weakref
from collections import Counter

from llvmlite import ir

from . import error_function, exponential, inverse, logarithm, powers, trigonometric
from .arithmetic import FloatArithmetic
from .formats import FloatFormat, format_of
from .outlining import outlined_function

__all__ = ["FUNCTIONS", "math_function"]

#: name -> number of arguments of every function ``math_function`` provides.
FUNCTIONS = {
    "exp": 1, "log": 1, "log1p": 1, "expm1": 1, "tanh": 1, "sigmoid": 1, "sin": 1, "cos": 1,
    "erf": 1, "pow": 2, "sqrt": 1, "rsqrt": 1,
    "atan": 1, "atan2": 2, "asin": 1, "acos": 1, "asinh": 1, "acosh": 1, "atanh": 1,
}

_ALGORITHMS = {
    "exp": exponential.exp, "log": logarithm.log, "log1p": logarithm.log1p, "expm1": exponential.expm1,
    "tanh": exponential.tanh, "sigmoid": exponential.sigmoid, "sin": trigonometric.sin,
    "cos": trigonometric.cos, "erf": error_function.erf, "pow": powers.power, "sqrt": powers.sqrt,
    "rsqrt": powers.rsqrt, "atan": inverse.atan, "atan2": inverse.atan2, "asin": inverse.asin,
    "acos": inverse.acos, "asinh": inverse.asinh, "acosh": inverse.acosh, "atanh": inverse.atanh,
}

_ATTRIBUTES = ("alwaysinline", "nounwind", "readnone", "norecurse")

# A module gets its first INLINED_USES calls of a function inlined; later calls go to one outlined
# copy, and in vectorised loops to its vector variants: a kernel of 1,500 sin calls then compiles sin
# four times (scalar and three vector widths) instead of 1,500 times (about 30 ms each).
INLINED_USES = 4
_NEVER_OUTLINED = ("sqrt", "rsqrt")  # one or two instructions: a call would cost more
_uses: "weakref.WeakKeyDictionary[ir.Module, Counter]" = weakref.WeakKeyDictionary()


def math_function(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The function of ``module`` computing ``name`` at float type ``ty``, for one more call.

    That is ``graphc.<name>.<f32|f64>``, inlined at the call, for the module's first ``INLINED_USES``
    calls; for later calls the outlined ``graphc.<name>.<f32|f64>.outlined``, which LLVM's loop
    vectoriser replaces by a vector variant in vectorised loops (each created once per module)."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown math function {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
    fmt = format_of(ty)
    inline = _inline_function(module, name, fmt)
    uses = _uses.setdefault(module, Counter())
    uses[inline.name] += 1
    if uses[inline.name] <= INLINED_USES or name in _NEVER_OUTLINED:
        return inline
    return outlined_function(module, inline, fmt)


def _inline_function(module: ir.Module, name: str, fmt: FloatFormat) -> ir.Function:
    symbol = f"graphc.{name}.{fmt.name}"
    existing = module.globals.get(symbol)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(fmt.ty, [fmt.ty] * FUNCTIONS[name]), symbol)
    fn.linkage = "internal"
    for attribute in _ATTRIBUTES:
        fn.attributes.add(attribute)
    m = FloatArithmetic(ir.IRBuilder(fn.append_basic_block("entry")), fmt)
    m.b.ret(_ALGORITHMS[name](m, *fn.args))
    return fn
