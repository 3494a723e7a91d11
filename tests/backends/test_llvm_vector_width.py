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
