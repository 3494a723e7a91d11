"""The team of ``backends/llvm/teams.py``: in a graph that calls BLAS, graphc's kernels run on the
OpenMP threads of the BLAS (MKL's), each product alone on the calling thread between runs of the
team. The test environment's BLAS (SciPy's OpenBLAS) has no such threads: these tests give the
runtime GNU's OpenMP runtime (libgomp) instead, which the generated code cannot tell apart.

Results on the team are bit for bit those of one thread (each kernel splits its work the same way
whatever the number of threads, and the products are the same calls); errors flagged on the team
are raised with no variable changed; several Python threads may call at once; a team smaller than
asked for still finishes."""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import blas, runtime
from graphc.ir.errors import InvalidArgumentError

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

OPENMP_NAMES = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")


def _libgomp_table():
    """libgomp's functions as ``blas.openmp_functions`` gives them (kept for the whole session: the
    executables made with it hold its address), or None without libgomp."""
    try:
        library = ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None
    return (ctypes.c_int64 * 3)(*[ctypes.cast(getattr(library, name), ctypes.c_void_p).value for name in OPENMP_NAMES])


_LIBGOMP = _libgomp_table()


@pytest.fixture
def team(monkeypatch):
    """The team the runtime hands kernels to: the chosen BLAS's, else libgomp's."""
    if runtime.num_threads() < 2:
        pytest.skip("one thread on this machine (GRAPHC_NUM_THREADS=1 or one core)")
    if not blas.openmp_functions():
        if _LIBGOMP is None:
            pytest.skip("neither the BLAS nor this machine has an OpenMP runtime (libgomp)")
        monkeypatch.setattr(blas, "openmp_functions", lambda: ctypes.addressof(_LIBGOMP))


@pytest.fixture
def no_team(monkeypatch):
    monkeypatch.setattr(blas, "openmp_functions", lambda: 0)


# -- graphs that call BLAS -----------------------------------------------------------------------------
def dense_step():
    """An MLP training step: products, their gradients and SGD updates of variables."""
    rng = np.random.default_rng(0)
    ws = [gc.Variable(rng.normal(0, 0.1, s).astype(np.float32)) for s in ((300, 257), (257, 10))]
    bs = [gc.Variable(np.zeros(s, np.float32)) for s in (257, 10)]

    def step(x, labels):
        with gc.GradientTape() as tape:
            h = gc.nn.relu(gc.matmul(x, ws[0]) + bs[0])
            logits = gc.matmul(h, ws[1]) + bs[1]
            loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        for v, g in zip(ws + bs, tape.gradient(loss, ws + bs)):
            v.assign_sub(0.1 * g)
        return loss, logits

    x = rng.normal(size=(191, 300)).astype(np.float32)
    labels = rng.integers(0, 10, 191).astype(np.int32)
    return step, (x, labels), ws + bs


def conv_step():
    """A convolution's forward and gradients: patches, pooling, the patches' adjoint, shallow products,
    a narrow one (the first layer's 8 filters, with the batch unknown) and BLAS's (the second layer's 24)."""
    rng = np.random.default_rng(1)
    f1 = gc.Variable(rng.normal(0, 0.3, (3, 3, 1, 8)).astype(np.float32))
    f2 = gc.Variable(rng.normal(0, 0.1, (3, 3, 8, 24)).astype(np.float32))

    def step(images):
        with gc.GradientTape() as tape:
            h = gc.nn.max_pool2d(gc.nn.relu(gc.nn.conv2d(images, f1)), 2)
            h = gc.nn.relu(gc.nn.conv2d(h, f2, padding="same"))
            loss = gc.reduce_sum(h * h)
        grads = tape.gradient(loss, [f1, f2])
        for v, g in zip((f1, f2), grads):
            v.assign_sub(1e-4 * g)
        return loss, h

    return step, (rng.normal(size=(17, 20, 20, 1)).astype(np.float32),), [f1, f2]


def batched_products():
    """Batched products with a broadcast operand and an epilogue; an integer product (graphc's loops)."""
    rng = np.random.default_rng(2)

    def step(a, b, i, j):
        return gc.tanh(gc.matmul(a, b)) * 2.0 + 1.0, gc.matmul(i, j) + 1

    return step, (rng.normal(size=(6, 97, 130)).astype(np.float32), rng.normal(size=(130, 70)).astype(np.float32),
                  rng.integers(-9, 9, (300, 40)).astype(np.int32), rng.integers(-9, 9, (40, 50)).astype(np.int32)), []


def product_in_a_loop():
    """A top-level product and one inside a while loop (it runs on the team's first thread, whose BLAS
    calls are then single-threaded)."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, (200, 200)).astype(np.float32)

    def step(x):
        h = gc.matmul(x, w)
        _, h = gc.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, gc.tanh(gc.matmul(h, w))), [gc.constant(0), h])
        return h + 1.0

    return step, (rng.normal(size=(300, 200)).astype(np.float32),), []


GRAPHS = [dense_step, conv_step, batched_products, product_in_a_loop]


def _run(make, signature=None, calls=2, backend=None):
    """The results of ``calls`` calls of a fresh compiled step and the variables' values after them."""
    step, args, variables = make()
    f = gc.function(step, input_signature=signature, **({"backend": backend} if backend else {}))
    results = [[r.numpy() for r in gc.nest.flatten(f(*args))] for _ in range(calls)]
    return results, [v.numpy() for v in variables], f, args


def _unknown_batch(args):
    return [gc.TensorSpec([None, *a.shape[1:]], a.dtype) for a in args]


@pytest.mark.parametrize("make", GRAPHS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("sizes", ["static", "unknown"])
def test_a_step_on_the_team_is_bit_for_bit_the_step_on_one_thread(make, sizes, team, monkeypatch):
    signature = _unknown_batch(make()[1]) if sizes == "unknown" else None
    got, got_variables, f, args = _run(make, signature)
    executable = f.get_concrete_function(*args).compiled().executable
    assert executable._openmp, "the step did not run on the team"
    assert "@\"graphc.team\"" in executable.llvm_ir()
    monkeypatch.setattr(blas, "openmp_functions", lambda: 0)
    want, want_variables, f1, _ = _run(make, signature)
    assert not f1.get_concrete_function(*args).compiled().executable._openmp
    for g, w in zip(got + [got_variables], want + [want_variables]):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    reference, reference_variables, _, _ = _run(make, signature, backend="numpy")
    for g, w in zip(got + [got_variables], reference + [reference_variables]):
        for a, b in zip(g, w):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


def test_the_entry_is_called_once_with_the_teams_size(team):
    step, args, _ = dense_step()
    f = gc.function(step)
    f(*args)
    executable = f.get_concrete_function(*args).compiled().executable
    calls, real = [], executable._entry
    executable._entry = lambda tid, nthreads, *rest: (calls.append((tid, nthreads)), real(tid, nthreads, *rest))[1]
    f(*args)
    assert calls == [(0, runtime.num_threads())]


def _function_body(ir_text: str, name: str) -> str:
    start = re.search(rf'^define [^\n]*@"{re.escape(name)}"\(', ir_text, re.MULTILINE).start()
    return ir_text[start:ir_text.index("\n}", start)]


@pytest.mark.parametrize("make", [dense_step, batched_products], ids=lambda m: m.__name__)
def test_a_products_epilogue_runs_on_the_team_and_the_product_alone(make, team):
    """The ops a kernel applies to a BLAS product (bias, activation, an SGD update) are a kernel of their
    own, called by every thread of the team; the product is called from the entry, on the calling thread."""
    step, args, _ = make()
    ir_text = gc.function(step).get_concrete_function(*args).llvm_ir()
    products = set(re.findall(r'@"(node\d+_fused)\.product"\(', ir_text))
    epilogues = set(re.findall(r'@"(node\d+_fused)\.epilogue"\(', ir_text))
    assert products and epilogues and epilogues <= products
    calls = {name: set(re.findall(r'call [^@]*@"([^"]+)"', _function_body(ir_text, name)))
             for name in ("graphc_entry", "graphc.team")}
    assert {f"{p}.product" for p in products} <= calls["graphc_entry"] - calls["graphc.team"]
    assert {f"{e}.epilogue" for e in epilogues} <= calls["graphc.team"] - calls["graphc_entry"]


@pytest.mark.parametrize("step", [
    pytest.param(lambda x, w: gc.tanh(x) * 2.0, id="no-product"),
    pytest.param(lambda x, w: gc.matmul(x, w[:4]) + 1.0, id="shallow-product"),
])
def test_graphs_without_a_blas_call_at_their_top_have_no_team_path(step, team):
    x, w = np.ones((500, 4), np.float32), np.ones((64, 64), np.float32)
    cf = gc.function(step).get_concrete_function(x, w)
    assert "@\"graphc.team\"" not in cf.llvm_ir()
    assert not cf.compiled().executable._openmp


# -- errors, threads, a smaller team ----------------------------------------------------------------------
def test_an_error_flagged_on_the_team_is_raised_and_changes_no_variable(team):
    rng = np.random.default_rng(4)
    w = gc.Variable(rng.normal(size=(64, 128)).astype(np.float32))

    @gc.function
    def step(x, index):
        h = gc.nn.relu(gc.matmul(x, w))
        picked = gc.gather(h, index)  # index out of range: flagged by the team's first thread
        w.assign_sub(0.1 * gc.matmul(gc.transpose(x), h))
        return gc.reduce_sum(picked * 2.0)

    x = rng.normal(size=(300, 64)).astype(np.float32)
    good, bad = np.arange(10, dtype=np.int32), np.array([3, 300], np.int32)
    step(x, good)
    assert step.get_concrete_function(x, good).compiled().executable._openmp
    before = w.numpy()
    with pytest.raises(InvalidArgumentError, match="index out of range"):
        step(x, bad)
    np.testing.assert_array_equal(w.numpy(), before)
    step(x, good)  # (the error words were cleared)
    assert not np.array_equal(w.numpy(), before)


def test_python_threads_calling_at_once_each_get_their_own_team(team):
    step, args, _ = batched_products()
    f = gc.function(step)
    want = [r.numpy() for r in f(*args)]
    failures = []

    def call():
        for _ in range(15):
            got = [r.numpy() for r in f(*args)]
            if not all(np.array_equal(a, b) for a, b in zip(got, want)):
                failures.append(got)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and not failures


CHILD = textwrap.dedent(
    """
    import ctypes, sys
    import numpy as np
    import graphc as gc
    from graphc.backends.llvm import blas
    if not blas.openmp_functions():  # (libgomp beside MKL's OpenMP: a forked child hung in MKL's product)
        library = ctypes.CDLL("libgomp.so.1")
        table = (ctypes.c_int64 * 3)(*[ctypes.cast(getattr(library, n), ctypes.c_void_p).value
                                       for n in ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")])
        blas.openmp_functions = lambda: ctypes.addressof(table)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(400, 300)).astype(np.float32), rng.normal(size=(300, 200)).astype(np.float32)
    f = gc.function(lambda x: gc.reduce_sum(gc.tanh(gc.matmul(x, w)) * 3.0, axis=0))
    got = f(x).numpy()
    assert f.get_concrete_function(x).compiled().executable._openmp
    np.testing.assert_allclose(got, np.sum(np.tanh(x @ w) * 3.0, axis=0), rtol=1e-3, atol=1e-3)
    print("ok")
    """
)


@pytest.mark.parametrize("limit", ["1", "junk"])
def test_a_team_smaller_than_asked_for_still_finishes(limit, tmp_path, team):
    """OMP_THREAD_LIMIT=1 gives a team of one thread: the kernels read the team's size, so no barrier
    waits for a thread that never comes (a junk value is ignored by the OpenMP runtime)."""
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    env = {**os.environ, "OMP_THREAD_LIMIT": limit, "GRAPHC_CACHE": "0", "GRAPHC_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and result.stdout.endswith("ok\n"), result.stderr[-2000:]


FORKED = CHILD.replace('print("ok")', textwrap.dedent(
    """
    def right(_=None):
        return bool(np.allclose(f(x).numpy(), got, rtol=1e-5, atol=1e-5))
    """))


def test_a_child_forked_after_the_team_ran_computes_on_its_calling_thread(tmp_path, team, forks):
    """GNU's OpenMP (libgomp, the team here) keeps no state across fork: a child's first parallel region
    waited forever for the parent's threads. A forked child, and each worker of a fork pool, runs the
    graph without the team; the parent keeps it."""
    end, printed = forks
    path = tmp_path / "forked.py"
    path.write_text(FORKED + end)
    env = {**os.environ, "GRAPHC_CACHE": "0", "GRAPHC_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0 and result.stdout.split() == printed, result.stderr[-2000:]


# -- which runtime ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not blas._mkl_runtime(), reason="MKL is not installed (pip install 'graphc[mkl]')")
@pytest.mark.parametrize("layer, has_team", [(None, True), ("", True), ("INTEL", True), ("intel", True), ("GNU", True),
                                             ("SEQUENTIAL", False), ("sequential", False), ("banana", False)])
def test_mkl_hands_over_its_openmp_threads_only_where_it_has_them(layer, has_team, tmp_path):
    """A layer graphc does not know (MKL runs its default) gets no team: graphc's kernels on one thread."""
    script = "from graphc.backends.llvm import blas; print(blas.blas_name(), bool(blas.openmp_functions()))"
    env = {name: value for name, value in os.environ.items() if name != "MKL_THREADING_LAYER"}
    env |= {"GRAPHC_BLAS": "mkl"} | ({"MKL_THREADING_LAYER": layer} if layer is not None else {})
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mkl", str(has_team)]


def test_a_blas_without_openmp_threads_has_no_team(no_team):
    step, args, _ = dense_step()
    f = gc.function(step)
    f(*args)
    assert not f.get_concrete_function(*args).compiled().executable._openmp
