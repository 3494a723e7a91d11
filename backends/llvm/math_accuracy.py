"""Accuracy and vectorisation harness for ``mathlib``.

Every function is compiled (O3, host CPU) into an elementwise loop and run on large arrays; the
results are compared with references of higher precision (float64 for float32, x87 long double for
float64; erf in long double by an all-positive series) and with NumPy / SciPy in the same dtype.
Errors are in ulp of the format, measured at the exact result (so 0.5 means correctly rounded).

    python -m graphc.backends.llvm.math_accuracy            # full sweep (a few minutes)
    python -m graphc.backends.llvm.math_accuracy --quick    # the sample the tests use (seconds)
    python -m graphc.backends.llvm.math_accuracy --functions sin,cos --dtypes float32 --stride 1

One line per function and dtype says where the largest errors are, and which vector registers the
loop's packed arithmetic uses; the output ends with the accuracy table README shows, in Markdown.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import re
import time
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from scipy import special

from . import target
from .mathlib import FUNCTIONS, math_function

DTYPES = {"float32": np.float32, "float64": np.float64}
_IR_TYPES = {np.float32: ir.FloatType(), np.float64: ir.DoubleType()}
_SUFFIX = {np.float32: "f32", np.float64: "f64"}
_HIGH = {np.float32: np.float64, np.float64: np.longdouble}
_UINT = {np.float32: np.uint32, np.float64: np.uint64}

#: The bound (ulp of the exact result) the test suite asserts for every function and dtype: the
#: full sweep's maximum (README's table) rounded up. sqrt is correctly rounded; rsqrt is 1/sqrt(x)
#: rounded twice, exactly as NumPy's 1 / np.sqrt(x), so up to 1.5 ulp of the exact value.
_FLOAT32_AND_FLOAT64_BOUNDS = {
    "exp": (0.8, 0.8), "log": (0.9, 0.9), "log1p": (0.9, 0.9), "expm1": (0.8, 0.8), "tanh": (0.6, 0.6),
    "sigmoid": (0.8, 0.8), "sin": (0.6, 0.9), "cos": (0.6, 0.9), "erf": (0.9, 1.0), "pow": (0.6, 0.8),
    "sqrt": (0.5, 0.5), "rsqrt": (1.5, 1.5),
    "atan": (0.6, 0.7), "atan2": (0.6, 0.8), "asin": (0.6, 0.7), "acos": (0.6, 0.7), "asinh": (0.6, 0.6),
    "acosh": (0.6, 0.6), "atanh": (0.6, 0.6),
}
BOUNDS = {(name, dtype): bound for name, pair in _FLOAT32_AND_FLOAT64_BOUNDS.items()
          for dtype, bound in zip(DTYPES, pair)}


# ----------------------------------------------------------------------------------------------
# compiling the loops

def _loop_name(name: str, dtype) -> str:
    return f"graphc_math_{name}_{_SUFFIX[dtype]}"


def _emit_loop(module: ir.Module, name: str, dtype) -> None:
    """void loop(T *out, const T *a[, const T *b], i64 n): out[i] = name(a[i][, b[i]])."""
    ty, i64 = _IR_TYPES[dtype], ir.IntType(64)
    arity = FUNCTIONS[name]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ty.as_pointer()] * (1 + arity) + [i64]),
                     _loop_name(name, dtype))
    for pointer in fn.args[:-1]:
        pointer.add_attribute("noalias")
    out, inputs, n = fn.args[0], fn.args[1:-1], fn.args[-1]
    entry, body, done = (fn.append_basic_block(label) for label in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    values = [b.load(b.gep(p, [i], inbounds=True)) for p in inputs]
    b.store(b.call(math_function(module, name, ty), values), b.gep(out, [i], inbounds=True))
    step = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(step, body)
    b.cbranch(b.icmp_signed("<", step, n), body, done)
    b.position_at_end(done)
    b.ret_void()


class CompiledMath:
    """Elementwise loops over every (function, dtype), JIT-compiled for the host."""

    def __init__(self, names=tuple(FUNCTIONS), dtypes=(np.float32, np.float64)):
        module = ir.Module("graphc_math_accuracy")
        self._keys = [(name, dtype) for dtype in dtypes for name in names]
        for name, dtype in self._keys:
            _emit_loop(module, name, dtype)
        optimized = target.optimize(str(module))
        self.assembly = target.emit_assembly(optimized)
        self._code = target.LoadedCode([target.emit_object(optimized)], {})
        self._loops = {}
        for name, dtype in self._keys:
            signature = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (1 + FUNCTIONS[name]), ctypes.c_int64)
            self._loops[name, dtype] = signature(self._code.address(_loop_name(name, dtype)))

    def __call__(self, name: str, *arrays: np.ndarray) -> np.ndarray:
        dtype = arrays[0].dtype.type
        arrays = [np.ascontiguousarray(a, dtype) for a in arrays]
        out = np.empty_like(arrays[0])
        self._loops[name, dtype](out.ctypes.data, *[a.ctypes.data for a in arrays], out.size)
        return out

    def loop_assembly(self, name: str, dtype) -> str:
        """The assembly of one loop function."""
        symbol = _loop_name(name, dtype)
        start = re.search(rf"^{re.escape(symbol)}:", self.assembly, re.M)
        end = self.assembly.find(".Lfunc_end", start.end())
        return self.assembly[start.end():end]

    def vector_instructions(self, name: str, dtype, registers: str = "yz") -> int:
        """Number of packed floating-point arithmetic instructions on ``registers`` (x, y, z mm)."""
        ops = r"(?:add|sub|mul|div|sqrt|f[n]?m(?:add|sub)\d*|rndscale|range|min|max)"
        packed = rf"^\s*v{ops}p[sd]\b.*%[{registers}]mm"
        return len(re.findall(packed, self.loop_assembly(name, dtype), re.M))

    def vector_width(self, name: str, dtype) -> str:
        """The widest registers the loop's packed arithmetic uses ("zmm", "ymm", "xmm" or "scalar")."""
        for register in "zyx":
            if self.vector_instructions(name, dtype, register):
                return f"{register}mm"
        return "scalar"

    def calls(self, name: str, dtype) -> list[str]:
        """The call instructions left in the loop (none when everything was inlined)."""
        return re.findall(r"^\s*call\w*\s+(\S+)", self.loop_assembly(name, dtype), re.M)


@functools.cache
def compiled() -> CompiledMath:
    return CompiledMath()


# ----------------------------------------------------------------------------------------------
# inputs

def _bits_to(dtype, bits) -> np.ndarray:
    return np.asarray(bits, _UINT[dtype]).view(dtype)


def _neighbours(dtype, points, count) -> np.ndarray:
    """``count`` consecutive floats on each side of each point (through zero and inf)."""
    finfo = np.finfo(dtype)
    points = np.asarray(points, dtype)
    signed = np.int64 if dtype is np.float64 else np.int32
    ordered = points.view(signed).astype(np.int64)
    ordered = np.where(ordered < 0, np.int64(np.iinfo(signed).min) - ordered, ordered)
    steps = np.arange(-count, count + 1, dtype=np.int64)
    near = (ordered[:, None] + steps[None, :]).ravel()
    near = np.where(near < 0, np.int64(np.iinfo(signed).min) - near, near).astype(signed)
    values = near.view(dtype)
    return values[np.abs(values) <= finfo.max]


def special_values(dtype) -> np.ndarray:
    finfo = np.finfo(dtype)
    tiny = finfo.smallest_subnormal
    base = [0.0, np.inf, np.nan, tiny, 2 * tiny, 3 * tiny, finfo.smallest_normal - tiny,
            finfo.smallest_normal, finfo.max, finfo.eps, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 100.0,
            np.pi / 4, np.pi / 2, np.pi, 2 * np.pi]
    base = np.array(base, dtype)
    return np.concatenate([base, -base])


_EDGES = {
    # points around which the harness looks at every neighbouring float
    "exp": {np.float32: [88.72, -87.34, -103.28, -103.97, 0.3466],
            np.float64: [709.78, -708.4, -745.13, -744.44, 0.3466]},
    "expm1": {np.float32: [-18.0, -17.33, 0.3466, 88.72, 1e-8],
              np.float64: [-40.0, -37.4, 0.3466, 709.78, 1e-17]},
    "log": {np.float32: [1.0, 0.7071, 1.4142, 1.17549435e-38],
            np.float64: [1.0, 0.7071, 1.4142, 2.2250738585072014e-308]},
    "log1p": {np.float32: [-1.0, -0.2929, 0.4142, 1.0, 1e-8], np.float64: [-1.0, -0.2929, 0.4142, 1.0, 1e-17]},
    "tanh": {np.float32: [0.25, 0.55, 9.01, 10.0], np.float64: [0.25, 0.55, 19.06, 20.0]},
    "sigmoid": {np.float32: [0.0, -87.3, -103.9, 16.6], np.float64: [0.0, -708.4, -745.1, 36.7]},
    "erf": {np.float32: [1.0, 2.25, 3.92, 4.0], np.float64: [1.0, 1.625, 2.5, 4.125, 5.92, 6.0]},
    "sin": {np.float32: [np.pi / 4, np.pi / 2, np.pi, 1e5, 1e10, 1e20, 1e38],
            np.float64: [np.pi / 4, np.pi / 2, np.pi, 1e5, 1e10, 1e22, 1e100, 1e300,
                         6381956970095103 * 2.0 ** 797]},      # the double closest to a multiple of pi/2
    "sqrt": {np.float32: [1.0, 4.0], np.float64: [1.0, 4.0]},
}
_EDGES.update({
    "atan": {dt: [0.41421356, 2.41421356, 1.0, 2.0 ** 60] for dt in DTYPES.values()},
    "asin": {dt: [1.0, 0.5, 0.7071] for dt in DTYPES.values()},
    "asinh": {dt: [2.0 ** -28, 1.0, 2.0 ** 28] for dt in DTYPES.values()},
    "acosh": {dt: [1.0, 2.0, 2.0 ** 28] for dt in DTYPES.values()},
    "atanh": {dt: [1.0, 0.5, 1e-8] for dt in DTYPES.values()},
})
_EDGES["acos"] = _EDGES["asin"]
_EDGES["cos"] = _EDGES["sin"]
_EDGES["rsqrt"] = _EDGES["sqrt"]

# value ranges where a function is "interesting" (uniform samples there, beside the bit sweep)
_RANGES = {
    "exp": (-750, 750), "expm1": (-50, 50), "log": (0, 10), "log1p": (-1, 10), "tanh": (-25, 25),
    "sigmoid": (-750, 50), "erf": (-7, 7), "sin": (-1000, 1000), "cos": (-1000, 1000),
    "sqrt": (0, 10), "rsqrt": (0, 10), "atan": (-100, 100), "atan2": (-10, 10), "asin": (-1, 1),
    "acos": (-1, 1), "asinh": (-1e4, 1e4), "acosh": (1, 1e4), "atanh": (-1, 1),
}


# narrow ranges where the largest errors sit (interval ends of the polynomials, cancellation): sampled
# densely, since a sweep of the whole range visits them only sparsely
_CRITICAL = {
    "exp": (-1, 1), "expm1": (0.2, 0.7), "log": (0.7, 1.42), "log1p": (-0.3, 0.42), "tanh": (0.2, 0.6),
    "sigmoid": (-5, 5), "erf": (0.8, 1.3), "sin": (0, 10), "cos": (0, 10), "sqrt": (1, 4), "rsqrt": (1, 4),
    "atan": (0.3, 2.6), "atan2": (-2, 2), "asin": (0.4, 1), "acos": (-1, 1), "asinh": (-3, 3), "acosh": (1, 3),
    "atanh": (-0.6, 0.6),
}


def unary_inputs(name: str, dtype, quick: bool) -> np.ndarray:
    """Special values, edge regions and random samples (float32's bit sweep is apart: ``float32_sweep``).
    The quick sample is a part of the full one."""
    rng = np.random.default_rng(1234)
    keep = (lambda a: a[: a.size // 16]) if quick else (lambda a: a)
    edges = _neighbours(dtype, _EDGES.get(name, {}).get(dtype, []), 300 if quick else 3000)
    parts = [special_values(dtype), edges]
    if dtype is np.float64:
        parts.append(keep(_bits_to(dtype, rng.integers(0, 2 ** 64, 2 ** 21, dtype=np.uint64))))
    lo, hi = _RANGES[name]
    parts.append(keep(rng.uniform(lo, hi, 2 ** 20)))
    parts.append(keep(rng.uniform(*_CRITICAL[name], 2 ** 22)))
    parts.append(keep(rng.uniform(-1, 1, 2 ** 19) * 2.0 ** rng.integers(-60, 1, 2 ** 19)))
    return np.concatenate([p.astype(dtype) for p in parts])


def float32_sweep(stride: int, chunk: int):
    """Every ``stride``-th float32 bit pattern, in arrays of at most ``chunk`` values."""
    step = chunk * stride
    for start in range(0, 2 ** 32, step):
        bits = np.arange(start, min(start + step, 2 ** 32), stride, dtype=np.uint64)
        yield _bits_to(np.float32, bits.astype(np.uint32))


def pow_inputs(dtype, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) pairs: every pair of special values, and random pairs (the quick ones are a part)."""
    rng = np.random.default_rng(4321)
    finfo = np.finfo(dtype)
    tiny = finfo.smallest_subnormal
    specials = np.array([0.0, np.inf, np.nan, 1.0, 0.5, 2.0, 3.0, 2.5, 0.75, 1.25, tiny,
                         finfo.smallest_normal, finfo.max, 1 + finfo.eps, 1 - finfo.epsneg,
                         2.0 ** finfo.nmant - 1, 2.0 ** (finfo.nmant + 1), 1e30, 7.0], dtype)
    specials = np.concatenate([specials, -specials])
    grid_x, grid_y = (a.ravel() for a in np.meshgrid(specials, specials))
    n = 2 ** 21
    keep = (lambda a: a[: a.size // 16]) if quick else (lambda a: a)
    # |x| anywhere, y chosen so that x^y lands anywhere in (and a little beyond) the float range
    x = _bits_to(dtype, rng.integers(0, np.iinfo(_UINT[dtype]).max, n, dtype=np.uint64).astype(_UINT[dtype]))
    t = rng.uniform(0, 1, n)
    x = x[np.isfinite(x) & (x != 0) & (np.abs(x) != 1)]
    log_max = np.log(float(finfo.max))
    t = (-1.1 * (log_max + 40) + t * 1.1 * (2 * log_max + 40))[: x.size]
    with np.errstate(all="ignore"):
        y = (t / np.log(np.abs(x.astype(np.float64)))).astype(dtype)
    integral = x < 0                       # negative bases: integer exponents (odd and even)
    y[integral] = np.rint(y[integral])
    # bases near 1 with large exponents, and small integer powers
    near_one = (1 + rng.uniform(-1e-3, 1e-3, n // 8)).astype(dtype)
    big_y = rng.uniform(-1e5, 1e5, n // 8).astype(dtype)
    ints_x = rng.uniform(-20, 20, n // 8).astype(dtype)
    ints_y = rng.integers(-60, 60, n // 8).astype(dtype)
    return (np.concatenate([grid_x] + [keep(a) for a in (x, near_one, ints_x)]).astype(dtype),
            np.concatenate([grid_y] + [keep(a) for a in (y, big_y, ints_y)]).astype(dtype))


# ----------------------------------------------------------------------------------------------
# references

def atan2_inputs(dtype, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pairs: every pair of special values, random floats of any magnitude, ratios near 1,
    tan(pi/8) and tan(3pi/8) (the reduction's boundaries), and points of a square around 0."""
    rng = np.random.default_rng(2468)
    specials = special_values(dtype)
    grid_y, grid_x = (a.ravel() for a in np.meshgrid(specials, specials))
    n = 2 ** 20
    keep = (lambda a: a[: a.size // 16]) if quick else (lambda a: a)
    y = _bits_to(dtype, rng.integers(0, np.iinfo(_UINT[dtype]).max, n, dtype=np.uint64).astype(_UINT[dtype]))
    x = _bits_to(dtype, rng.integers(0, np.iinfo(_UINT[dtype]).max, n, dtype=np.uint64).astype(_UINT[dtype]))
    x2 = rng.uniform(-1e3, 1e3, n)
    ratio = rng.choice([1.0, np.sqrt(2) - 1, np.sqrt(2) + 1], n) * (1 + rng.uniform(-1e-3, 1e-3, n))
    y2 = x2 * ratio * rng.choice([-1.0, 1.0], n)
    x3, y3 = rng.uniform(*_RANGES["atan2"], (2, n))
    return (np.concatenate([grid_y] + [keep(a).astype(dtype) for a in (y, y2, y3)]),
            np.concatenate([grid_x] + [keep(a).astype(dtype) for a in (x, x2, x3)]))


def _erf_long_double(x: np.ndarray) -> np.ndarray:
    """erf of float64 values in long double: 2/sqrt(pi) exp(-x^2) sum 2^n x^(2n+1) / (2n+1)!!."""
    ld = np.longdouble
    out = np.sign(x).astype(ld)
    a = np.abs(x.astype(np.float64))
    sel = np.flatnonzero(a < 6.5)
    t = a[sel]
    split = t * (2.0 ** 27 + 1)
    hi = split - (split - t)                       # Veltkamp: t = hi + lo, 26 + 27 bits
    lo = t - hi
    h, m, l2 = ld(hi) * ld(hi), 2 * ld(hi) * ld(lo), ld(lo) * ld(lo)   # exact in long double
    s1 = h + m
    err = (h - s1) + m + l2
    damp = np.exp(-s1) * (1 - err)
    t, t2 = t.astype(ld), s1 + err
    term, total = t.copy(), t.copy()
    for n in range(int(2 * (t2.max(initial=0) + 40))):
        term = term * (2 * t2) / (2 * n + 3)
        total += term
    two_over_sqrt_pi = 2 / np.sqrt(ld(np.pi) + ld(1.2246467991473532e-16))      # pi in long double
    out[sel] = np.sign(x[sel]).astype(ld) * two_over_sqrt_pi * damp * total
    return np.where(x == 0, x.astype(ld), out)


_NUMPY_NAMES = {"pow": "power", "atan": "arctan", "atan2": "arctan2", "asin": "arcsin", "acos": "arccos",
                "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}


def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def exact(name: str, *arrays: np.ndarray) -> np.ndarray:
    """The function in higher precision (float64 for float32 inputs, long double for float64)."""
    dtype = arrays[0].dtype.type
    with np.errstate(all="ignore"):
        hp = [a.astype(_HIGH[dtype]) for a in arrays]
        if name == "erf":
            return special.erf(hp[0]) if dtype is np.float32 else _erf_long_double(arrays[0])
        if name == "sigmoid":
            return _sigmoid_ref(hp[0])
        if name == "rsqrt":
            return 1 / np.sqrt(hp[0])
        return getattr(np, _NUMPY_NAMES.get(name, name))(*hp)


def numpy_reference(name: str, *arrays: np.ndarray) -> np.ndarray:
    """What NumPy / SciPy compute in the same dtype."""
    with np.errstate(all="ignore"):
        if name == "erf":
            return special.erf(arrays[0])
        if name == "sigmoid":
            return special.expit(arrays[0])
        if name == "rsqrt":
            return 1 / np.sqrt(arrays[0])
        return getattr(np, _NUMPY_NAMES.get(name, name))(*arrays)


# ----------------------------------------------------------------------------------------------
# measuring

def ulp_error(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|result - reference| in ulp of result's format at the reference; mismatched inf, NaN or the
    sign of a zero count as inf."""
    dtype = result.dtype.type
    finfo = np.finfo(dtype)
    hp = reference.dtype.type
    with np.errstate(all="ignore"):
        rounded = reference.astype(dtype)
        nan_r, nan_e = np.isnan(result), np.isnan(reference)
        special_case = np.isinf(result) | np.isinf(reference) | nan_r | nan_e
        special_ok = (nan_r & nan_e) | (result == rounded)
        exponent = np.frexp(np.abs(reference))[1].astype(np.int64) - 1
        ulp = np.ldexp(hp(1), np.clip(exponent, finfo.minexp, finfo.maxexp - 1) - finfo.nmant)
        err = (np.abs(result.astype(hp) - reference) / ulp).astype(np.float64)
    err = np.where(special_case, np.where(special_ok, 0.0, np.inf), err)
    zero_sign = (result == 0) & (rounded == 0) & (np.signbit(result) != np.signbit(reference))
    return np.where(zero_sign, np.inf, err)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of floats between a and b in the same format (0 for equal values or two NaNs)."""
    unsigned = _UINT[a.dtype.type]
    top = unsigned(1) << unsigned(8 * a.itemsize - 1)

    def ordered(v):     # float order as unsigned integer order
        i = v.view(unsigned)
        return np.where(i & top, ~i, i | top)

    oa, ob = ordered(a), ordered(b)
    d = (np.maximum(oa, ob) - np.minimum(oa, ob)).astype(np.float64)
    d = np.where((a == 0) & (b == 0), np.where(np.signbit(a) == np.signbit(b), 0.0, 1.0), d)
    return np.where(np.isnan(a) | np.isnan(b), np.where(np.isnan(a) & np.isnan(b), 0.0, np.inf), d)


@dataclass
class Measurement:
    name: str
    dtype: str
    samples: int
    max_ulp: float              # ours, against the exact result
    where: tuple
    max_ulp_numpy: float        # distance from NumPy / SciPy, in floats
    where_numpy: tuple
    numpy_max_ulp: float        # NumPy's / SciPy's own error against the exact result

    def row(self) -> str:
        def at(args):
            return ", ".join(f"{float(a):.17g}" for a in args)
        return (f"{self.name:8s} {self.dtype:8s} {self.max_ulp:8.3f}  at {at(self.where):44s}"
                f" {self.numpy_max_ulp:9.3g} {self.max_ulp_numpy:9.3g}  at {at(self.where_numpy)}")


def input_chunks(name: str, dtype, quick: bool, stride: int, chunk: int):
    """The harness's inputs for one function, as tuples of arrays of at most ``chunk`` values."""
    binary = {"pow": pow_inputs, "atan2": atan2_inputs}
    arrays = binary[name](dtype, quick) if name in binary else (unary_inputs(name, dtype, quick),)
    for start in range(0, arrays[0].size, chunk):
        yield tuple(a[start:start + chunk] for a in arrays)
    if dtype is np.float32 and name not in binary:
        for part in float32_sweep(stride * 169 if quick else stride, chunk):   # quick: part of the full sweep
            yield (part,)


def measure(name: str, dtype_name: str, quick: bool = False, math: CompiledMath | None = None,
            stride: int = 97, chunk: int = 1 << 22) -> Measurement:
    """The largest errors of one function over the harness's inputs (``stride``: float32 sweep step)."""
    math = math or compiled()
    worst, samples = [-1.0, (), -1.0, (), -1.0], 0
    for part in input_chunks(name, DTYPES[dtype_name], quick, stride, chunk):
        result, expected, theirs = math(name, *part), exact(name, *part), numpy_reference(name, *part)
        for slot, err in ((0, ulp_error(result, expected)), (2, ulp_distance(result, theirs))):
            i = int(np.argmax(err))
            if err[i] > worst[slot]:
                worst[slot], worst[slot + 1] = float(err[i]), tuple(a[i] for a in part)
        worst[4] = max(worst[4], float(ulp_error(theirs.astype(result.dtype), expected).max()))
        samples += part[0].size
    return Measurement(name, dtype_name, samples, *worst)


def _numpy_ulp(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0e}".replace("e+0", "e").replace("e+", "e")


def accuracy_table(measurements: dict[tuple[str, str], Measurement]) -> str:
    """The Markdown table of README: per function, and per dtype measured, our largest error, the
    bound the tests assert and NumPy's own largest error (all in ulp of the exact result)."""
    names = list(dict.fromkeys(name for name, _ in measurements))
    dtypes = list(dict.fromkeys(dtype for _, dtype in measurements))
    header = ["function"] + [column for dtype in dtypes for column in (f"{dtype} ulp", "bound", "NumPy")]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for name in names:
        cells = [name]
        for dtype in dtypes:
            m = measurements[name, dtype]
            cells += [f"{m.max_ulp:.3f}", f"{BOUNDS[name, dtype]:.1f}", _numpy_ulp(m.numpy_max_ulp)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller sample the tests use")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--stride", type=int, default=97,
                        help="test every STRIDE-th float32 bit pattern (1: all 2^32, a few minutes each)")
    args = parser.parse_args(argv)
    names, dtypes = args.functions.split(","), args.dtypes.split(",")
    started = time.perf_counter()
    math = CompiledMath(names, [DTYPES[d] for d in dtypes])
    print(f"compiled {len(names) * len(dtypes)} loops in {time.perf_counter() - started:.1f} s "
          f"({target.llvm_version()}, {target.host()[1]})")
    header = f"{'function':8s} {'dtype':8s} {'max ulp':>8s}  {'at':47s} {'NumPy ulp':>9s} {'distance':>9s}  at"
    print(f"{header:130s} vector")
    measurements = {}
    for dtype in dtypes:
        for name in names:
            m = measurements[name, dtype] = measure(name, dtype, args.quick, math, args.stride)
            width = math.vector_width(name, DTYPES[dtype])
            calls = ",".join(math.calls(name, DTYPES[dtype]))
            calls = f" calls {calls}" if calls else ""
            bound = "" if m.max_ulp <= BOUNDS[name, dtype] else f"  ABOVE BOUND {BOUNDS[name, dtype]}"
            print(f"{m.row():130s} {width}{calls}{bound}", flush=True)
    print(f"total {time.perf_counter() - started:.1f} s\n")
    print(accuracy_table(measurements))


if __name__ == "__main__":
    main()
