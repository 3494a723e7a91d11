"""On hosts with AVX-512, kernels prefer 512-bit vectors (``target.with_vector_width``; LLVM's own
default there is 256 bits): every function definition of the module gets the attribute, the module
still parses, and compiled kernels use the wide registers. Elsewhere the IR is left as it is."""
import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import target

IR = """define internal void @"kernel"(i64 %".1") noinline
{
entry:
  ret void
}

define void @"graphc_entry"(i64 %".1")
{
entry:
  call void @"kernel"(i64 %".1")
  ret void
}
"""


@pytest.mark.parametrize("features, wide", [("+sse2,+avx2,+fma", False), ("+avx2,+avx512f,+avx512bw", True),
                                            ("+avx2,-avx512f", False), ("", False)])
def test_the_attribute_follows_the_hosts_avx512(monkeypatch, features, wide):
    triple, cpu, _ = target.host()
    monkeypatch.setattr(target, "host", lambda: (triple, cpu, features))
    text = target.with_vector_width(IR)
    assert text.count('"prefer-vector-width"="512"') == (2 if wide else 0)
    assert text == IR if not wide else text.count("define ") == 2
    assert target.with_vector_width(text) == text  # once only
    target.parse(text).verify()


@pytest.mark.skipif("+avx512f" not in target.host()[2].split(","), reason="the host has no AVX-512")
def test_kernels_use_512_bit_registers_here():
    x = np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32)
    f = gc.function(lambda v: gc.exp(v) * 2.0)
    assert "zmm" in f.get_concrete_function(x).asm()
    np.testing.assert_allclose(f(x).numpy(), np.exp(x.astype(np.float64)) * 2, rtol=2e-6)


# Past its first INLINED_USES calls in a module a math function is outlined, with vector variants
# the loop vectoriser calls (128, 256 and 512 bits). Their lane slots were aligned as one element
# while whole vectors were stored to them: with 512-bit vectors the stores became aligned moves to
# misaligned stack slots and 16 sins in a row crashed the process. Every outlined function, both
# float dtypes, in chains long enough to be outlined, must run and match NumPy.
from graphc.backends.llvm import mathlib  # noqa: E402

OUTLINED = [(name, arity) for name, arity in mathlib.FUNCTIONS.items() if name not in mathlib._NEVER_OUTLINED]
_DOMAIN = {"log": (0.5, 2.0), "log1p": (0.0, 1.0), "acosh": (1.5, 3.0), "asin": (-0.5, 0.5), "acos": (-0.5, 0.5),
           "atanh": (-0.5, 0.5), "pow": (0.5, 1.5)}
_NUMPY = {"sigmoid": lambda x: 1 / (1 + np.exp(-x)), "erf": None, "pow": np.power, "atan2": np.arctan2,
          "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh,
          "atanh": np.arctanh}


def _graphc_op(name):
    return {"sigmoid": gc.nn.sigmoid, "pow": gc.pow, "atan2": gc.atan2, "asin": gc.asin, "acos": gc.acos,
            "atan": gc.atan, "asinh": gc.asinh, "acosh": gc.acosh, "atanh": gc.atanh, "erf": gc.math.erf,
            "rsqrt": gc.math.rsqrt}.get(name) or getattr(gc, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, arity", OUTLINED, ids=[n for n, _ in OUTLINED])
def test_outlined_math_functions_run_in_long_kernels(name, arity, dtype):
    low, high = _DOMAIN.get(name, (-1.0, 1.0))
    xs = [np.linspace(low, high, 1000 + 7, dtype=dtype) for _ in range(arity)]
    op = _graphc_op(name)
    uses = mathlib.INLINED_USES + 12

    def kernel(*args):  # a chain of calls, each on inputs nudged by the last result: all in one kernel
        total = op(*args)
        for k in range(1, uses):
            total = total + op(*[a * (1 + k * 1e-3) + total * 1e-6 for a in args])
        return total

    got = gc.function(kernel)(*xs).numpy()
    reference = _NUMPY.get(name, getattr(np, name, None))
    if reference is None:  # erf: against the NumPy interpreter, the reference backend
        want = gc.function(kernel, backend="numpy")(*xs).numpy()
    else:
        wide = [x.astype(np.float64) for x in xs]
        want = reference(*wide)
        for k in range(1, uses):
            want = want + reference(*[a * (1 + k * 1e-3) + want * 1e-6 for a in wide])
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_vector_variants_align_their_lane_slots_as_a_vector():
    from graphc.backends.llvm.mathlib.formats import format_of
    from graphc.backends.llvm.mathlib.outlining import outlined_function
    from llvmlite import ir

    for ty in (ir.FloatType(), ir.DoubleType()):
        module = ir.Module()
        inline = mathlib._inline_function(module, "sin", format_of(ty))
        outlined_function(module, inline, format_of(ty))
        text = str(module)
        for bits in (128, 256, 512):
            lanes = bits // (32 if ty == ir.FloatType() else 64)
            body = text.split(f'.v{lanes}"(')[1].split("\n}\n")[0]
            allocas = [line for line in body.splitlines() if " alloca " in line]
            assert allocas and all(line.endswith(f"align {bits // 8}") for line in allocas), allocas
