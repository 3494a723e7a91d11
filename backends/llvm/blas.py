"""Where compiled code finds BLAS: SciPy's sgemm and dgemm, bound at load time to the symbols the
code calls (``GEMM_SYMBOLS``). Apart from ``matmul`` (which emits the calls) so that running cached
code never imports the code generator."""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

GEMM_SYMBOLS = {"float32": "graphc_blas_sgemm", "float64": "graphc_blas_dgemm"}


@functools.cache
def blas_symbols() -> dict[str, int]:
    """Symbol name -> address of SciPy's sgemm and dgemm (Fortran's interface, as BLAS exports it).

    Found without importing SciPy when its BLAS can be opened directly (importing
    ``scipy.linalg.cython_blas`` takes about 200 ms of a first call), else from SciPy's own table."""
    return blas_symbols_from_library() or blas_symbols_from_scipy()


def blas_symbols_from_library() -> dict[str, int] | None:
    """The routines of the BLAS that SciPy's ``cython_blas`` extension links to, looked up in that
    extension's shared library opened as a plain library (its module is not initialised), or None.
    SciPy's wheels prefix the routines with ``scipy_``; other builds export plain ``sgemm_``."""
    spec = importlib.util.find_spec("scipy")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in _extension_files(os.path.join(folder, "linalg"), "cython_blas"):
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in ("scipy_", ""):
                try:
                    routines = {symbol: getattr(library, f"{prefix}{routine}_")
                                for routine, symbol in (("sgemm", GEMM_SYMBOLS["float32"]), ("dgemm", GEMM_SYMBOLS["float64"]))}
                except AttributeError:
                    continue
                return {symbol: ctypes.cast(fn, ctypes.c_void_p).value for symbol, fn in routines.items()}
    return None


def _extension_files(folder: str, module: str) -> list[str]:
    """The shared libraries of extension ``module`` in ``folder`` (``module.*.so``; without ``glob``,
    whose import took 0.3 ms of a first call)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in sorted(names)
            if n.startswith(module + ".") and n.endswith(".so") and len(n) >= len(module) + 4]


def blas_symbols_from_scipy() -> dict[str, int]:
    """SciPy's sgemm and dgemm as ``scipy.linalg.cython_blas`` exports them (as numba finds them)."""
    from scipy.linalg import cython_blas

    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    symbols = {}
    for routine, symbol in (("sgemm", GEMM_SYMBOLS["float32"]), ("dgemm", GEMM_SYMBOLS["float64"])):
        capsule = cython_blas.__pyx_capi__[routine]
        symbols[symbol] = get_pointer(capsule, get_name(capsule))
    return symbols
