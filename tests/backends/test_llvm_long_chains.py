"""Long chains of elementwise ops compile in time about linear in their length, and exactly.

- a math function called many times in one module is called, not inlined, past its first few calls:
  the results are bit-identical to inlining it everywhere, and vectorised loops call its vector
  variant (so run-time speed stays that of inlined code);
- a chain of thousands of ops compiles, split into kernels of bounded size, and gives the
  interpreter's result.
(Compile time itself is measured by ``make bench`` (W7), not asserted here.)
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import mathlib
from graphc.ir.passes.fusion import MAX_KERNEL_NODES

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

STEPS = mathlib.INLINED_USES + 2  # the last two calls of each function outlined


def power(x):  # pow takes two vectors: a variant of two arguments
    return gc.pow(gc.abs(x) + 0.5, x)


# sin: the largest body (a table gather in float64); power: two arguments; the others under -m slow
FUNCTIONS = [gc.sin, power] + [pytest.param(f, marks=pytest.mark.slow) for f in
                               (gc.cos, gc.exp, gc.expm1, gc.tanh, gc.sigmoid, gc.log1p)]


def _chain(fn, steps: int):
    def chain(x):
        for _ in range(steps):
            x = fn(x) * 0.75 + 0.125
        return x

    return chain


def _inputs(dtype) -> np.ndarray:
    x = np.linspace(-4, 4, 1031).astype(dtype)  # not a multiple of any vector width
    return np.concatenate([x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)])


@pytest.fixture(autouse=True)
def _compile_afresh(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: getattr(f, "__name__", None))
def test_outlined_math_calls_give_the_bits_of_inlined_ones(monkeypatch, fn, dtype):
    x = _inputs(dtype)
    outlined = np.asarray(gc.function(_chain(fn, STEPS))(x))
    monkeypatch.setattr(mathlib, "INLINED_USES", 10**9)
    inlined = np.asarray(gc.function(_chain(fn, STEPS))(x))
    np.testing.assert_array_equal(outlined, inlined)


@pytest.mark.parametrize("dtype,suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_vectorised_loops_call_the_vector_variant_of_an_outlined_function(dtype, suffix):
    cf = gc.function(_chain(gc.sin, STEPS)).get_concrete_function(_inputs(dtype))
    before, after = cf.llvm_ir(), cf.llvm_ir(optimized=True)
    outlined_calls = re.findall(rf'call [^\n]*@"graphc\.sin\.{suffix}\.outlined"\(', before)
    assert len(outlined_calls) == STEPS - mathlib.INLINED_USES
    assert re.search(rf'call [^\n]*@"?graphc\.sin\.{suffix}\.v\d+"?\(', after), "the loop calls a vector variant"


def test_sqrt_is_always_inlined():
    cf = gc.function(_chain(gc.sqrt, STEPS)).get_concrete_function(_inputs(np.float32))
    assert ".outlined" not in cf.llvm_ir()


@pytest.mark.slow
def test_a_chain_of_3000_ops_compiles_in_bounded_kernels_and_gives_the_interpreters_result():
    def chain(x):
        for i in range(3000):
            x = x * 1.0001 if i % 2 == 0 else x - 0.001
        return x

    x = np.linspace(-2, 2, 4099, dtype=np.float32)
    cf = gc.function(chain).get_concrete_function(x)
    kernels = cf.graphs["fused"].kernels
    assert len(kernels) >= 3000 / MAX_KERNEL_NODES
    assert all(len(k.attrs["body"].nodes) <= 2 * MAX_KERNEL_NODES for k in kernels)  # constants copied in
    np.testing.assert_array_equal(cf(x), gc.function(chain, backend="numpy")(x))


def test_a_kernel_computing_in_place_reads_and_writes_through_one_slot():
    """One pointer for both: LLVM then vectorises the loop without a run-time overlap check (that
    check fails for a buffer updated in place, and the scalar loop ran instead)."""
    from graphc.backends.llvm.codegen import CodeGen

    def chain(x):
        for i in range(3 * MAX_KERNEL_NODES):
            x = x * 1.0001 if i % 2 == 0 else x - 0.001
        return x

    x = np.linspace(-2, 2, 4099, dtype=np.float32)
    cf = gc.function(chain).get_concrete_function(x)
    fused = cf.graphs["fused"]
    in_place = [b for b in cf.memory_plan.buffers if b.inplace_of]
    assert in_place, "the chain's middle kernels compute in place"
    codegen = CodeGen(fused)
    codegen.layout()
    names = {f"%{i}": v for i, v in enumerate(fused.values())}
    for b in in_place:
        assert codegen.graph_layout.slot_of[names[b.name]] == codegen.graph_layout.slot_of[names[b.inplace_of]]
    np.testing.assert_array_equal(cf(x), gc.function(chain, backend="numpy")(x))
