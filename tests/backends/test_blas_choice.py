"""``GRAPHC_BLAS`` chooses the library compiled matmuls call: MKL when ``graphc[mkl]`` is installed,
SciPy's OpenBLAS otherwise, or any library exporting Fortran's LP64 ``sgemm_``/``dgemm_``. A library
that fails the check (does not load, exports no such routines, the ILP64 interface) gives a warning
naming it, and SciPy's BLAS runs: products stay right whatever the variable says. Each case runs in
a fresh process (the choice is made once per process)."""
import glob
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy

from graphc.backends.llvm import blas

PROBE = """
import numpy as np, graphc as gc
from graphc.backends.llvm.blas import blas_name
rng = np.random.default_rng(0)
for dtype, tolerance in ((np.float32, 1e-4), (np.float64, 1e-12)):
    a, b = rng.standard_normal((37, 300)).astype(dtype), rng.standard_normal((300, 19)).astype(dtype)
    got = gc.function(lambda a, b: gc.matmul(a, b))(a, b).numpy()
    assert np.abs(got - a @ b).max() <= tolerance * (np.abs(a) @ np.abs(b)).max(), dtype
print("BLAS", blas_name())
"""

SCIPY_LIBS = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
NUMPY_LIBS = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")


def _run(value: str | None, script: str = PROBE, timeout: float = 300, **extra) -> subprocess.CompletedProcess:
    """``script`` in a fresh process with ``GRAPHC_BLAS=value`` (unset for None) and ``extra`` set."""
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_BLAS"}
    if value is not None:
        env["GRAPHC_BLAS"] = value
    env.update(extra)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


def _one(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    if not found:
        pytest.skip(f"no library matches {pattern}")
    return found[0]


def test_scipy_is_scipys_openblas():
    done = _run("scipy")
    assert "BLAS scipy" in done.stdout and "graphc:" not in done.stderr


def test_auto_takes_mkl_exactly_when_it_is_installed():
    done = _run(None)
    expected = "mkl" if blas._mkl_runtime() else "scipy"
    assert f"BLAS {expected}" in done.stdout and "graphc:" not in done.stderr


def test_a_path_to_an_lp64_blas_is_used():
    """SciPy's own OpenBLAS, named by its file (its routines carry SciPy's ``scipy_`` prefix)."""
    path = _one(os.path.join(SCIPY_LIBS, "libscipy_openblas*.so"))
    done = _run(path)
    assert f"BLAS {path}" in done.stdout and "graphc:" not in done.stderr


@pytest.mark.parametrize("kind", ["not-blas", "ilp64", "not-a-library"])
def test_a_library_that_fails_the_check_is_named_and_scipys_runs(kind, tmp_path):
    if kind == "not-blas":
        path = _one("/lib/x86_64-linux-gnu/libc.so.6") if os.path.exists("/lib/x86_64-linux-gnu") else _one("/lib*/libc.so.6")
        reason = "it exports no sgemm_ and dgemm_"
    elif kind == "ilp64":  # NumPy's OpenBLAS takes 64-bit integers: its routines are named ..._64_
        path = _one(os.path.join(NUMPY_LIBS, "libscipy_openblas64_*.so"))
        reason = "it exports no sgemm_ and dgemm_"
    else:
        path = str(tmp_path / "libfake.so")
        with open(path, "wb") as f:
            f.write(b"\x7fELF" + os.urandom(200))
        reason = "it does not load"
    done = _run(path)
    assert "BLAS scipy" in done.stdout
    assert f"the BLAS {path} cannot be used ({reason}" in done.stderr and "SciPy's BLAS runs" in done.stderr


@pytest.mark.parametrize("value", ["openblas", "/no/such/library.so", "mkl; rm -rf /", "auto2", "", "  "])
def test_junk_values_warn_and_the_default_applies(value):
    """(Empty or blank is the default without a word, as for every GRAPHC_ variable.)"""
    done = _run(value)
    expected = "mkl" if blas._mkl_runtime() else "scipy"
    assert f"BLAS {expected}" in done.stdout
    assert ("GRAPHC_BLAS" in done.stderr) == bool(value.strip())


def test_mkl_asked_for_but_missing_names_the_install_command():
    if blas._mkl_runtime():
        done = _run("mkl", MKL_INTERFACE_LAYER="ILP64")  # graphc sets MKL's LP64 layer itself
        assert "BLAS mkl" in done.stdout
        return
    done = _run("mkl")
    assert "BLAS scipy" in done.stdout and "pip install 'graphc[mkl]'" in done.stderr


# -- when the BLAS is loaded: only for code that calls it, once per process however many threads ask
LOADING = """
import os, sys
import numpy as np, graphc as gc
from graphc.backends.llvm import blas
x = np.ones((40, 40), np.float32)
np.testing.assert_allclose(gc.function(lambda v: gc.exp(v) * 2.0)(x).numpy(), np.exp(x) * 2, rtol=1e-6)
print("after elementwise", blas._load.cache_info().misses)
np.testing.assert_allclose(gc.function(lambda v: gc.nn.relu(v @ v))(x).numpy(), x @ x)
print("after matmul", blas._load.cache_info().misses)
"""


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_the_blas_is_loaded_only_for_code_that_calls_it(cache, tmp_path):
    env = {"GRAPHC_CACHE_DIR": str(tmp_path)}
    if cache == "warm":
        _run(None, LOADING, **env)  # fills the cache: this run loads the object code
    out = _run(None, LOADING, **env).stdout
    assert "after elementwise 0" in out and "after matmul 1" in out


def test_threads_asking_at_once_load_the_blas_once():
    script = """
        import threading
        from graphc.backends.llvm import blas
        start, results = threading.Barrier(8), []
        def ask():
            start.wait()
            results.append(blas.blas_symbols())
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert len(results) == 8 and all(r == results[0] for r in results) and len(results[0]) == 2
        print("loads", blas._load.cache_info().misses)
    """
    assert "loads 1" in _run(None, textwrap.dedent(script)).stdout


def test_a_library_that_fails_its_check_when_first_needed_warns_and_scipys_runs(tmp_path):
    junk = tmp_path / "libjunk.so"
    junk.write_bytes(b"\x7fELF not a library")
    out = _run(str(junk), LOADING, GRAPHC_CACHE_DIR=str(tmp_path))
    assert "after elementwise 0" in out.stdout and "after matmul 1" in out.stdout
    assert str(junk) in out.stderr and "SciPy's BLAS runs" in out.stderr


def test_a_fork_while_the_blas_loads_leaves_the_child_able_to_load_it():
    script = """
        import os
        from graphc.backends.llvm import blas
        blas._lock.acquire()  # as the loading thread holds it
        pid = os.fork()
        if pid == 0:
            os._exit(0 if len(blas.blas_symbols()) == 2 else 1)
        blas._lock.release()
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """
    assert "child 0" in _run(None, textwrap.dedent(script)).stdout


# -- forking after MKL has run its threads: Intel's OpenMP is made for it, GNU's is not (MKL then runs
# on one thread in the child, ``blas._after_fork_in_child``)
FORK_AFTER_PRODUCTS = """
import numpy as np, graphc as gc
x = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
f = gc.function(lambda v: gc.tanh(gc.exp(gc.sin(v @ v) * 0.1) @ v) + 1.0)  # a kernel between two products
expected = np.tanh(np.exp(np.sin(x @ x) * 0.1) @ x) + 1.0
f(x)  # MKL's threads and graphc's team have run
def right(_=None):
    return bool(np.allclose(f(x).numpy(), expected, rtol=1e-3, atol=1e-3))
"""


@pytest.mark.parametrize("layer", ["GNU", "INTEL", ""])
def test_a_child_forked_after_mkl_ran_its_threads_computes_right(layer, forks):
    if not blas._mkl_runtime():
        pytest.skip("MKL is not installed (pip install 'graphc[mkl]')")
    end, printed = forks
    out = _run(None, FORK_AFTER_PRODUCTS + end, timeout=120, MKL_THREADING_LAYER=layer, GRAPHC_CACHE="0").stdout
    assert out.split() == printed


# -- loading in the background: a trace starts it at its first product, for the LLVM backend and MKL
# only. The scripts below make any BLAS load so (BACKGROUND), so that the mechanics run where MKL is
# not installed (CI) too.
BACKGROUND = """
import numpy as np, graphc as gc
from graphc.backends.llvm import blas
blas._is_mkl = lambda path: True
"""


# a load as long as MKL's on a slow machine: what the script does next surely happens during it
SLOW_LOAD = """
import time
chosen = blas.chosen_blas
def slow():
    time.sleep(0.3)
    return chosen()
blas.chosen_blas = slow
"""


def _background(script: str, slow: bool = False, **extra) -> subprocess.CompletedProcess:
    """``script`` (indented) after BACKGROUND, and after SLOW_LOAD when ``slow``."""
    return _run(None, BACKGROUND + (SLOW_LOAD if slow else "") + textwrap.dedent(script), **extra)


@pytest.mark.parametrize("value", ["auto", "scipy"])
def test_only_mkl_loads_in_the_background(value):
    script = """
        import numpy as np, graphc as gc
        from graphc.backends.llvm import blas
        gc.function(lambda v: v @ v).get_concrete_function(np.ones((8, 8), np.float32))
        print("loading", blas._loader is not None)
    """
    expected = value == "auto" and blas._mkl_runtime() is not None
    assert f"loading {expected}" in _run(value, textwrap.dedent(script)).stdout


def test_a_trace_starts_loading_the_blas_at_its_first_product_and_only_then():
    script = """
        x = np.ones((8, 8), np.float32)
        gc.function(lambda v: gc.exp(v) + 1.0).get_concrete_function(x)
        gc.function(lambda v: v @ v, backend="numpy").get_concrete_function(x)
        print("without a product or LLVM", blas._loader is None)
        gc.function(lambda v: gc.exp(v @ v)).get_concrete_function(x)  # traced, not compiled
        blas._loader.join()
        print("after a product's trace", blas._load.cache_info().currsize)
        gc.function(lambda v: v @ v.T).get_concrete_function(x)
        print("loads", blas._load.cache_info().misses)
    """
    out = _background(script).stdout
    assert "without a product or LLVM True" in out and "after a product's trace 1" in out and "loads 1" in out


def test_a_product_only_inside_a_loop_body_starts_the_load_too():
    script = """
        def body(i, acc):
            return i + 1, gc.tanh(acc @ acc)
        f = gc.function(lambda v: gc.while_loop(lambda i, acc: i < 3, body, (gc.constant(0), v))[1])
        f.get_concrete_function(np.ones((8, 8), np.float32))
        print("loading", blas._loader is not None)
    """
    assert "loading True" in _background(script).stdout


def test_threads_tracing_products_at_once_load_the_blas_once_and_compute_right():
    script = """
        import threading
        x = np.arange(900, dtype=np.float32).reshape(30, 30) / 900
        start, right = threading.Barrier(8), []
        def trace_and_call(k):
            start.wait()
            f = gc.function(lambda v: gc.tanh(v @ v) * k)
            right.append(np.allclose(f(x).numpy(), np.tanh(x @ x) * k, rtol=1e-5, atol=1e-6))
        threads = [threading.Thread(target=trace_and_call, args=(k,)) for k in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("right", sum(right), "loads", blas._load.cache_info().misses)
    """
    assert "right 8 loads 1" in _background(script).stdout


def test_a_background_load_that_fails_raises_where_the_blas_is_needed_and_prints_nothing_itself():
    script = """
        def broken():
            raise OSError("no BLAS today")
        blas.chosen_blas = broken
        f = gc.function(lambda v: v @ v)
        x = np.ones((40, 40), np.float32)
        f.get_concrete_function(x)
        blas._loader.join()
        try:
            f(x)
        except gc.errors.InternalCompilerError as error:
            print("raised", "no BLAS today" in str(error))
    """
    done = _background(script, GRAPHC_CACHE="0")
    assert "raised True" in done.stdout and "Traceback" not in done.stderr and "Exception in thread" not in done.stderr


def test_a_fork_just_after_a_trace_waits_for_the_load_and_the_child_computes():
    script = """
        import os
        x = np.arange(1600, dtype=np.float32).reshape(40, 40) / 1000
        f = gc.function(lambda v: gc.nn.relu(v @ v))
        f.get_concrete_function(x)  # starts the load; the fork comes at once
        pid = os.fork()
        if pid == 0:
            loaded = blas._load.cache_info().currsize == 1 and blas._loader is None
            os._exit(0 if loaded and np.allclose(f(x).numpy(), x @ x, rtol=1e-5) else 1)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """
    assert "child 0" in _background(script, slow=True).stdout


def test_a_process_that_exits_while_the_blas_loads_exits_cleanly():
    script = """
        gc.function(lambda v: v @ v).get_concrete_function(np.ones((4, 4), np.float32))
        print("loading", blas._loader.is_alive())
    """
    done = _background(script, slow=True)
    assert done.stdout.strip() == "loading True" and done.stderr == ""
