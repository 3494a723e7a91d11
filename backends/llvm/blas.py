"""Where compiled code finds BLAS: the sgemm and dgemm bound at load time to the symbols the code
calls (``GEMM_SYMBOLS``). Apart from ``matmul`` (which emits the calls) so that running cached code
never imports the code generator.

``GRAPHC_BLAS`` chooses the library: ``auto`` (the default) takes Intel MKL's runtime library when
the ``mkl`` package is installed (``pip install 'graphc[mkl]'``) and SciPy's OpenBLAS otherwise;
``scipy``, ``mkl``, or the path of any library exporting Fortran's LP64 ``sgemm_`` and ``dgemm_``.
A library is used only after a small product through it gives the right numbers; otherwise a
warning names it and SciPy's BLAS runs. Compiled code does not depend on the choice (the symbols
are bound when it is loaded), only the rounding of its products does.

MKL runs its products on the threads of an OpenMP runtime; graphc's kernels between them run on the
same threads (``openmp_functions``, ``teams``). With any other library, a graph that calls BLAS runs
its kernels on one thread.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import logging
import os
import sys
import threading
from typing import NamedTuple

from graphc.ir import environment

GEMM_SYMBOLS = {"float32": "graphc_blas_sgemm", "float64": "graphc_blas_dgemm"}
_ROUTINES = (("sgemm", GEMM_SYMBOLS["float32"], ctypes.c_float), ("dgemm", GEMM_SYMBOLS["float64"], ctypes.c_double))
MKL_RUNTIMES = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so")
SHALLOW_DEPTH, SHALLOW_COLUMNS = 16, 256  # see is_shallow
NARROW_COLUMNS, NARROW_DEPTH = 16, 4096  # see is_narrow
EXPECTED = [11.0, 14.0, 10.0, 14.0]  # the check's product, column-major

log = logging.getLogger("graphc.blas")


_lock = threading.Lock()
_loader: threading.Thread | None = None  # see load_in_background


def is_gemm_kernel(node) -> bool:
    """Whether ``node`` is a fused kernel whose product calls BLAS (``is_gemm``)."""
    body = node.attrs.get("body") if node.op == "fused" and node.attrs.get("kind") == "matmul" else None
    return body is not None and any(is_gemm(n) for n in body.nodes)


def is_gemm(node) -> bool:
    """Whether ``node`` is a product that calls BLAS (``calls_gemm``)."""
    return node.op == "matmul" and calls_gemm(node.outputs[0].dtype.name, node.inputs[0].type.shape[-1],
                                              node.outputs[0].type.shape[-1])


def calls_gemm(dtype_name: str, k, n) -> bool:
    """Whether a product of this dtype, inner dimension ``k`` and ``n`` columns calls BLAS."""
    return dtype_name in GEMM_SYMBOLS and not is_shallow(k, n) and not is_narrow(k, n)


def is_shallow(k, n) -> bool:
    """Whether a float product of static inner dimension ``k`` and ``n`` columns runs as loops of its
    own instead of a gemm call: one with at most SHALLOW_DEPTH products per element and at most
    SHALLOW_COLUMNS columns (the forward product of a first convolution layer, ``[N*OH*OW, 9] @
    [9, F]``). OpenBLAS spends such products packing and, with two threads, waiting for its
    threads: W6's ``[43264, 9] @ [9, 32]`` took 1.5-2.9 Mcycles on one BLAS thread, 0.8-0.9 on
    two, 16-27 on two at load 3 (its threads wait for each other across the other jobs'
    time slices); these loops 1.0-1.1 on one thread, 5-8 at load 3."""
    return isinstance(k, int) and isinstance(n, int) and 1 <= k <= SHALLOW_DEPTH and n <= SHALLOW_COLUMNS


def is_narrow(k, n) -> bool:
    """Whether a float product of static ``n`` columns, at most NARROW_COLUMNS, and a static inner
    dimension ``k`` below NARROW_DEPTH runs as loops of its own instead of a gemm call
    (``matmul._narrow_loops``): a last layer's products with ten classes. MKL ran W3b's
    ``[1024, 512] @ [512, 10]`` (the weight gradient, its first operand transposed) at about 27
    GFLOP/s in the training step, a tenth of its speed on the square products. Deeper products, a
    convolution's filter gradient over many positions, stay with BLAS: the loops took 584-608 us
    for ``[72, 10816] @ [10816, 16]`` on one thread, MKL 372-381; so does an inner dimension known
    only at run time (a weight gradient over a batch of unknown size may be such a product)."""
    return isinstance(n, int) and 1 <= n <= NARROW_COLUMNS and isinstance(k, int) and k < NARROW_DEPTH


class _Blas(NamedTuple):
    symbols: dict[str, int]  # GEMM_SYMBOLS' names -> addresses
    openmp: object  # see openmp_functions: a ctypes array, or None
    gnu_mkl: object = None  # MKL's runtime (ctypes) when it runs on GNU's OpenMP: see _after_fork_in_child


def blas_symbols() -> dict[str, int]:
    """Symbol name -> address of the chosen BLAS's sgemm and dgemm (Fortran's interface).

    SciPy's is found without importing SciPy when its BLAS can be opened directly (importing
    ``scipy.linalg.cython_blas`` takes about 200 ms of a first call), else from SciPy's own table.
    The library is loaded and checked once per process, by whichever thread asks first (threads
    compiling at once wait for it)."""
    return _loaded().symbols


def openmp_functions() -> int:
    """The address of three addresses in the OpenMP runtime whose threads run the chosen BLAS's
    products (``GOMP_parallel``, ``omp_get_thread_num``, ``omp_get_num_threads``; ``teams``), or 0
    when the BLAS has no such threads: SciPy's OpenBLAS runs threads of its own, and MKL's
    sequential or TBB layers (``MKL_THREADING_LAYER``) none of OpenMP's."""
    table = _loaded().openmp
    return 0 if table is None else ctypes.addressof(table)


def _loaded() -> _Blas:
    with _lock:
        return _load()


def load_in_background() -> None:
    """Starts loading MKL on a thread of its own when it is the BLAS asked for, unless it is loaded
    or loading already. A function being traced for the LLVM backend calls this at its first
    product, so that the library loads while Python traces and optimises (MKL's load and check: 12
    ms of W3's first call). Any other BLAS loads when first needed: SciPy's OpenBLAS starts its
    threads as it loads, and they took a core from the trace and the compiler (W3's first call, warm
    cache 37.8 -> 45 ms, cold 315 -> 343 ms, medians of 7). A failure is left to the thread that
    needs the BLAS, which raises it or warns then (``_load`` keeps only a success). Forking waits for
    the loading thread (``_before_fork``)."""
    global _loader
    if _loader is None and not _load.cache_info().currsize and _is_mkl(_requested_library()):
        _loader = threading.Thread(target=_load_quietly, name="graphc-blas-load")
        _loader.start()


def _load_quietly() -> None:
    try:
        _loaded()
    except Exception:  # (raised again to whoever needs the BLAS: see load_in_background)
        pass


@functools.cache
def _load() -> _Blas:
    chosen = chosen_blas()
    if chosen is not None:
        return chosen
    return _Blas(blas_symbols_from_library() or blas_symbols_from_scipy(), None)


def _openmp_of_mkl(mkl_path: str):
    """The functions ``openmp_functions`` names, of the OpenMP runtime MKL's threading layer has
    loaded (Intel's beside MKL, GNU's with ``MKL_THREADING_LAYER=GNU``), as a ctypes array; None
    when it has loaded none."""
    runtime = {"INTEL": os.path.join(os.path.dirname(mkl_path), "libiomp5.so"), "GNU": "libgomp.so.1"}.get(_mkl_layer())
    try:
        library = ctypes.CDLL(runtime, mode=os.RTLD_NOLOAD | os.RTLD_LAZY) if runtime else None
        names = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
        addresses = [ctypes.cast(getattr(library, name), ctypes.c_void_p).value for name in names] if library else []
    except (OSError, AttributeError):  # not loaded (RTLD_NOLOAD), or not such a runtime
        return None
    return (ctypes.c_int64 * 3)(*addresses) if addresses else None


def _mkl_layer() -> str:
    """The threading layer MKL loads (``MKL_THREADING_LAYER``; empty or unset: MKL's default, Intel's)."""
    return (os.environ.get("MKL_THREADING_LAYER", "").strip() or "INTEL").upper()


def _before_fork() -> None:
    loader = _loader
    if loader is not None and loader is not threading.current_thread():
        loader.join()  # (a child forked while MKL loads could find the dynamic loader's locks held)


def _after_fork_in_child() -> None:
    """Fresh locks; and MKL on GNU's OpenMP held to one thread: its first product in a child forked
    after MKL had run threads waited forever (GNU's runtime is not made for fork; Intel's is)."""
    global _lock, _loader
    _lock = threading.Lock()  # (a fork while another thread loads the BLAS would leave it held forever)
    _loader = None
    mkl = _load().gnu_mkl if _load.cache_info().currsize else None
    if mkl is not None:
        mkl.MKL_Set_Num_Threads(1)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def blas_name() -> str:
    """Which BLAS compiled matmuls call: ``"mkl"``, ``"scipy"`` or the chosen library's path."""
    chosen = _chosen_library()
    return "scipy" if chosen is None else "mkl" if _is_mkl(chosen) else chosen


def _is_mkl(path: str | None) -> bool:
    return path is not None and os.path.basename(path).startswith("libmkl_rt")


def chosen_blas() -> _Blas | None:
    """The routines of the library ``GRAPHC_BLAS`` chooses, or None for SciPy's."""
    path = _chosen_library()
    if path is None:
        return None
    library = ctypes.CDLL(path)
    openmp = None
    if hasattr(library, "MKL_Set_Interface_Layer"):
        library.MKL_Set_Interface_Layer(0)  # LP64: 32-bit integers, whatever MKL_INTERFACE_LAYER says
        if "GRAPHC_NUM_THREADS" in os.environ:  # MKL's own default is one thread per core
            library.MKL_Set_Num_Threads(environment.value("GRAPHC_NUM_THREADS"))
        openmp = _openmp_of_mkl(path)  # (the check's product has loaded MKL's threading layer)
    gnu_mkl = library if hasattr(library, "MKL_Set_Num_Threads") and _mkl_layer() == "GNU" else None
    return _Blas(_routines(library), openmp, gnu_mkl)


@functools.cache
def _chosen_library() -> str | None:
    """The path of the library to use, or None for SciPy's (also when the chosen one fails its check)."""
    path = _requested_library()
    if path is None:
        if environment.value("GRAPHC_BLAS") == "mkl":
            log.warning("graphc: GRAPHC_BLAS=mkl but no MKL runtime library was found (pip install 'graphc[mkl]'); "
                        "SciPy's BLAS runs")
        return None
    problem = _check(path)
    if problem:
        log.warning("graphc: the BLAS %s cannot be used (%s); SciPy's BLAS runs", path, problem)
        return None
    return path


def _requested_library() -> str | None:
    """The path of the library ``GRAPHC_BLAS`` asks for (MKL's runtime for auto or mkl, when found),
    not yet checked; None for SciPy's."""
    choice = environment.value("GRAPHC_BLAS")
    return _mkl_runtime() if choice in ("auto", "mkl") else None if choice == "scipy" else choice


def _mkl_runtime() -> str | None:
    """MKL's runtime library as the ``mkl`` wheel installs it (in the environment's ``lib``)."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for name in MKL_RUNTIMES:
            path = os.path.join(prefix, "lib", name)
            if os.path.isfile(path):
                return path
    return None


def _routines(library, prefixes=("", "scipy_")) -> dict[str, int] | None:
    """``library``'s sgemm and dgemm (under any of ``prefixes``) by their symbols, or None."""
    for prefix in prefixes:
        try:
            found = {symbol: getattr(library, f"{prefix}{routine}_") for routine, symbol, _ in _ROUTINES}
        except AttributeError:
            continue
        return {symbol: ctypes.cast(fn, ctypes.c_void_p).value for symbol, fn in found.items()}
    return None


def _check(path: str) -> str | None:
    """Why the library at ``path`` cannot serve as BLAS, or None: it must load, export both routines
    and compute a 2x3 by 3x2 product right through Fortran's LP64 interface."""
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        return f"it does not load: {error}"
    if hasattr(library, "MKL_Set_Interface_Layer"):
        library.MKL_Set_Interface_Layer(0)
    routines = _routines(library)
    if routines is None:
        return "it exports no sgemm_ and dgemm_"
    for routine, symbol, scalar in _ROUTINES:
        a, b = (scalar * 6)(1, 2, 3, 4, 5, 6), (scalar * 6)(1, 0, 2, 1, 3, 0)  # column-major 2x3 and 3x2
        c = (scalar * 4)(-1, -1, -1, -1)
        n2, n3, one, zero, no = ctypes.c_int(2), ctypes.c_int(3), scalar(1), scalar(0), ctypes.c_char(b"N")
        gemm = ctypes.CFUNCTYPE(None)(routines[symbol])
        gemm(ctypes.byref(no), ctypes.byref(no), ctypes.byref(n2), ctypes.byref(n2), ctypes.byref(n3), ctypes.byref(one),
             a, ctypes.byref(n2), b, ctypes.byref(n3), ctypes.byref(zero), c, ctypes.byref(n2))
        if list(c) != EXPECTED:
            return f"its {routine}_ computed {list(c)} for {EXPECTED}: not Fortran's LP64 interface"
    return None


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
            routines = _routines(library, ("scipy_", ""))
            if routines is not None:
                return routines
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
    for routine, symbol, _ in _ROUTINES:
        capsule = cython_blas.__pyx_capi__[routine]
        symbols[symbol] = get_pointer(capsule, get_name(capsule))
    return symbols
