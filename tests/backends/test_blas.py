"""The BLAS routines native matmuls call: found without importing SciPy where its BLAS can be opened
directly, else through SciPy's table; both compute what NumPy does."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import numpy as np
import pytest

from graphc.backends.llvm.blas import GEMM_SYMBOLS, blas_symbols_from_library, blas_symbols_from_scipy

_INT = ctypes.POINTER(ctypes.c_int)


def _gemm(address: int, dtype):
    """The Fortran-interface gemm at ``address`` as a Python function of two C-ordered matrices."""
    scalar = ctypes.POINTER(ctypes.c_float if dtype == np.float32 else ctypes.c_double)
    signature = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, _INT, _INT, _INT, scalar, scalar, _INT,
                                 scalar, _INT, scalar, scalar, _INT)
    gemm = signature(address)

    def product(a, b):
        m, k = a.shape
        n = b.shape[1]
        c = np.zeros((m, n), dtype)
        ints = [ctypes.byref(ctypes.c_int(v)) for v in (n, m, k, n, k, n)]
        one, zero = np.ones(1, dtype), np.zeros(1, dtype)
        ptr = lambda x: x.ctypes.data_as(scalar)  # noqa: E731
        # C = A @ B in row-major is C^T = B^T @ A^T in BLAS's column-major
        gemm(b"N", b"N", ints[0], ints[1], ints[2], ptr(one), ptr(b), ints[3], ptr(a), ints[4], ptr(zero), ptr(c), ints[5])
        return c

    return product


@pytest.mark.parametrize("source", [blas_symbols_from_library, blas_symbols_from_scipy], ids=["library", "scipy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_both_ways_of_finding_gemm_give_a_gemm_that_agrees_with_numpy(source, dtype):
    symbols = source()
    assert symbols is not None and set(symbols) == set(GEMM_SYMBOLS.values())
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 7)).astype(dtype), rng.normal(size=(7, 3)).astype(dtype)
    symbol = GEMM_SYMBOLS[np.dtype(dtype).name]
    np.testing.assert_allclose(_gemm(symbols[symbol], dtype)(a, b), a @ b, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_compiled_matmul_runs_without_importing_scipy():
    code = """
import sys, numpy as np, graphc as gc
a = np.arange(6, dtype=np.float32).reshape(2, 3)
print(np.array_equal(gc.function(lambda x: x @ x.T)(a).numpy(), a @ a.T), "scipy" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"GRAPHC_CACHE": "0", "PATH": "/usr/bin:/bin"})
    assert run.stdout.split() == ["True", "False"], run.stdout + run.stderr
