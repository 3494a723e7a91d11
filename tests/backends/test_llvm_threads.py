"""Threads in the LLVM backend: large kernels split across worker threads (with the same results whatever
the number of threads), small ones stay on the calling thread, one compiled function serves several
Python threads at once, and native code runs without the GIL."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import runtime

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

# Kernels of every kind, big enough for the worker threads, with sizes that split unevenly.
KERNELS = textwrap.dedent(
    """
    import numpy as np
    import graphc as gc

    def elementwise(x, y):
        return gc.tanh(x) * y + 1.0

    def row_softmax(x, y):
        return gc.nn.softmax(x + y, axis=-1)

    def column_sums(x, y):
        return gc.reduce_sum(x * y, axis=0) + gc.reduce_max(x, axis=0)

    def matmul_epilogue(x, y):
        return gc.nn.relu(gc.matmul(x, gc.transpose(y)[:, :300]) + 0.5)

    def total(x, y):
        return gc.reduce_sum(gc.exp(x) * y)

    def convolution_and_adjoint(x, y):  # patches, a shallow product (graphc's loops), the patches' adjoint
        images, filters = gc.reshape(x, [11, 47, 1031, 1]), gc.reshape(y[:9, :4], [3, 3, 1, 4])
        out = gc.nn.conv2d(images, filters, padding="same")
        return gc.nn.conv2d_transpose(out, filters, [11, 47, 1031, 1], padding="same")

    def copies(x, y):  # a strided slice, a transpose, and a slice's gradient (``scatter_slice``)
        with gc.GradientTape() as tape:
            tape.watch(x)
            picked = gc.transpose(x[3:-2:2, ::-3])
            loss = gc.reduce_sum(gc.tanh(picked) * 3.0)
        return tape.gradient(loss, x) + picked[0, 0]

    def integer_matmul(x, y):
        return gc.matmul(gc.cast(x[:, :64] * 10.0, "int32"), gc.cast(y[:64, :300] * 10.0, "int32"))

    KERNELS = [elementwise, row_softmax, column_sums, matmul_epilogue, total, convolution_and_adjoint, copies,
               integer_matmul]

    def inputs(seed=0):
        rng = np.random.default_rng(seed)
        return [rng.uniform(-2, 2, (517, 1031)).astype(np.float32) for _ in range(2)]
    """
)
namespace: dict = {}
exec(compile(KERNELS, "kernels", "exec"), namespace)
KERNEL_FUNCTIONS = namespace["KERNELS"]
inputs = namespace["inputs"]


def run_in_subprocess(script: str, tmp_path, timeout=120, **env) -> str:
    """Runs ``script`` (after the kernel definitions) in a fresh Python with ``env`` added; its stdout."""
    path = tmp_path / "child.py"
    path.write_text(KERNELS + textwrap.dedent(script))
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


class EntryRecorder:
    """Wraps an executable's native entry: records (thread id, number of threads) of every call."""

    def __init__(self, executable):
        self.calls, self._real, self._executable = [], executable._entry, executable
        executable._entry = self

    def __call__(self, tid, nthreads, *args):
        self.calls.append((tid, nthreads))
        return self._real(tid, nthreads, *args)

    def restore(self):
        self._executable._entry = self._real


# -- splitting work ------------------------------------------------------------------------------------
# The work of a call counts each kernel's largest operand, so a reduction of a large input to a small
# result splits too; with sizes known only at run time the call's own sizes decide.
SPLIT = [pytest.param(f, id=f.__name__) for f in KERNEL_FUNCTIONS]
SPLIT_UNKNOWN = [pytest.param(f, id=f"{f.__name__}-unknown-sizes") for f in KERNEL_FUNCTIONS]


@pytest.mark.parametrize("kernel", SPLIT + SPLIT_UNKNOWN)
def test_large_kernels_split_across_the_worker_threads(kernel, request):
    if runtime.num_threads() == 1:
        pytest.skip("one thread on this machine (GRAPHC_NUM_THREADS=1 or one core)")
    x, y = inputs()
    unknown = request.node.callspec.id.endswith("unknown-sizes")
    f = gc.function(kernel, input_signature=[gc.TensorSpec([None, None], "float32")] * 2 if unknown else None)
    want = gc.function(kernel, backend="numpy")(x, y).numpy()
    executable = f.get_concrete_function(x, y).compiled().executable
    recorder = EntryRecorder(executable)
    try:
        got = f(x, y).numpy()
    finally:
        recorder.restore()
    if kernel.__name__ == "matmul_epilogue":  # BLAS's rounding: within a few ulp of the sum of |terms|
        terms = np.abs(x) @ np.abs(y.T)[:, :300]
        assert np.all(np.abs(got - want) <= 4 * np.finfo(np.float32).eps * terms + 2e-5)
    else:
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    threads = runtime.num_threads()
    if kernel.__name__ == "matmul_epilogue" and executable._openmp:  # one call, handing the work to BLAS's team
        assert recorder.calls == [(0, threads)]
    elif kernel.__name__ == "matmul_epilogue":  # graphs calling a BLAS of its own threads run on one thread
        assert all(count == 1 for _, count in recorder.calls)  # one thread (or the one-thread wrapper)
    else:
        assert sorted(recorder.calls) == [(tid, threads) for tid in range(threads)]


@pytest.mark.parametrize("signature", [None, [gc.TensorSpec([None], "float32")]], ids=["static", "unknown-size"])
def test_small_graphs_stay_on_the_calling_thread(signature, monkeypatch):
    def no_pool():
        raise AssertionError("a small graph asked for the worker threads")

    monkeypatch.setattr(runtime, "_worker_pool", no_pool)
    x = np.arange(64, dtype=np.float32)
    np.testing.assert_array_equal(gc.function(lambda v: v * 2.0 + 1.0, input_signature=signature)(x).numpy(), x * 2 + 1)


def test_the_barrier_is_one_function_the_kernels_call():
    """Its code is not copied after every kernel: that was most of the entry function and 11% of
    LLVM's time on W3's module."""
    def two_kernels(x, y):
        return gc.nn.softmax(gc.tanh(x) * y, axis=-1) + gc.reduce_sum(x, axis=0)

    x = np.ones((300, 700), np.float32)
    cf = gc.function(two_kernels).get_concrete_function(x, x)
    optimized = cf.llvm_ir(optimized=True)
    assert len(re.findall(r'^define internal .*@"?graphc\.barrier"?\(', optimized, re.MULTILINE)) == 1
    entry = re.search(r'^define void @"?graphc_entry"?.*?^}', optimized, re.MULTILINE | re.DOTALL).group(0)
    assert len(re.findall(r'call .*@"?graphc\.barrier"?\(', entry)) >= len(cf.graphs["fused"].kernels) >= 2
    assert "atomicrmw" not in entry


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_threads(tmp_path):
    """Bit for bit: each row (or column) is summed by one thread in the documented order."""
    script = """
        import sys
        from graphc.backends.llvm import runtime
        x, y = inputs()
        results = {f.__name__: gc.function(f)(x, y).numpy() for f in KERNELS}
        np.savez(sys.argv[0] + f".{runtime.num_threads()}.npz", **results)
    """
    for threads in ("1", "3"):
        run_in_subprocess(script, tmp_path, GRAPHC_NUM_THREADS=threads)
    one, three = (np.load(tmp_path / f"child.py.{n}.npz") for n in (1, 3))
    x, y = inputs()
    for kernel in KERNEL_FUNCTIONS:
        name = kernel.__name__
        np.testing.assert_array_equal(one[name], three[name], err_msg=name)
        np.testing.assert_array_equal(gc.function(kernel)(x, y).numpy(), one[name], err_msg=name)


# -- several Python threads at once --------------------------------------------------------------------
CONCURRENT = [
    # name, function, signature, inputs of call i
    ("small-static", lambda a, b: gc.reduce_sum(a * b, axis=1) + a[:, 0], None,
     lambda i: [np.full((4, 8), i, np.float32), np.arange(32, dtype=np.float32).reshape(4, 8)]),
    ("large-static-parallel", namespace["row_softmax"], None,
     lambda i: [np.full((300, 257), i % 7, np.float32), np.tile(np.arange(257, dtype=np.float32) / 100, (300, 1))]),
    ("unknown-sizes", lambda a, b: gc.reduce_sum(a * b, axis=1) + a[:, 0],
     [gc.TensorSpec([None, None], "float32")] * 2,
     lambda i: [np.full((1 + i % 5, 3 + i % 11), i, np.float32), np.ones((1 + i % 5, 3 + i % 11), np.float32)]),
]


@pytest.mark.parametrize("name,fn,signature,make", CONCURRENT, ids=[c[0] for c in CONCURRENT])
def test_one_function_called_from_many_python_threads(name, fn, signature, make):
    native = gc.function(fn, input_signature=signature)
    reference = gc.function(fn, input_signature=signature, backend="numpy")
    calls = range(240)
    expected = {i: reference(*make(i)).numpy() for i in calls}

    def call(i):
        return i, native(*make(i)).numpy()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for i, got in pool.map(call, calls):
            np.testing.assert_allclose(got, expected[i], rtol=1e-6, err_msg=f"call {i}")
    assert native.trace_count == 1


def test_concurrent_parallel_calls_never_deadlock(tmp_path):
    """Three worker threads and callers whose task submissions interleave (forced by a pause after
    each submission): the workers must never all wait for siblings still queued behind them."""
    script = """
        import time
        from concurrent.futures import ThreadPoolExecutor
        from graphc.backends.llvm import runtime

        real_pool = runtime._worker_pool

        class PausingPool:
            def __init__(self, pool):
                self.pool = pool

            def submit(self, *args):
                future = self.pool.submit(*args)
                time.sleep(0.002)  # lets another caller submit in between
                return future

        runtime._worker_pool = lambda: PausingPool(real_pool())
        x, y = inputs()
        f = gc.function(elementwise)
        want = np.tanh(x) * y + 1
        with ThreadPoolExecutor(4) as callers:
            errors = list(callers.map(lambda i: float(np.abs(f(x, y).numpy() - want).max()), range(24)))
        print(max(errors))
    """
    out = run_in_subprocess(script, tmp_path, timeout=90, GRAPHC_NUM_THREADS="3")
    assert float(out) < 1e-5


# -- the GIL ------------------------------------------------------------------------------------------
def _long_call(x):
    for _ in range(8):
        x = gc.sin(x) * 0.5 + gc.cos(x)
    return gc.reduce_sum(x)


def _paused_fraction(f, *args, attempts: int = 3) -> float:
    """The longest pause of a Python loop on this thread while another thread calls ``f(*args)``, over
    the call's duration: 1 or more when the call holds the GIL (the loop stops for all of it). The
    least of a few attempts, as a loaded machine may deschedule the loop too."""
    fractions = []
    for _ in range(attempts):
        f(*args)
        start = time.perf_counter()
        f(*args)
        duration = time.perf_counter() - start
        assert duration > 0.02, "the call must be long enough to tell"
        done = threading.Event()

        def background():
            f(*args)
            done.set()

        worker = threading.Thread(target=background)
        ticks = [time.perf_counter()]
        worker.start()  # (under the GIL, the new thread may run the whole call before start returns)
        while not done.is_set():
            ticks.append(time.perf_counter())
        worker.join()
        fractions.append((max(np.diff(ticks)) if len(ticks) > 1 else duration) / duration)
        if fractions[-1] < 0.5:
            break
    return min(fractions)


FORK_AFTER_PARALLEL_CALLS = textwrap.dedent(
    """
    import numpy as np, graphc as gc
    x = np.random.default_rng(0).normal(size=(1 << 21,)).astype(np.float32)
    f = gc.function(lambda v: gc.tanh(v) * 2.0 + 1.0)
    want = f(x).numpy()  # the worker threads have run
    assert f.get_concrete_function(x).compiled().executable._parallel
    def right(_=None):
        return bool(np.array_equal(f(x).numpy(), want))
    """
)


def test_a_child_forked_after_parallel_calls_computes_right(forks):
    """The parent's worker threads do not exist in a forked child: the child makes its own (its first
    parallel call used to wait for the parent's forever), as does each worker of a fork pool."""
    end, printed = forks
    env = {**os.environ, "GRAPHC_NUM_THREADS": "2", "GRAPHC_CACHE": "0"}
    result = subprocess.run([sys.executable, "-c", FORK_AFTER_PARALLEL_CALLS + end], capture_output=True, text=True,
                            timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == printed


def test_native_code_runs_without_the_gil():
    """While one thread is inside a long native call, another keeps running Python: the longest pause
    of its loop stays far below the call's duration (it would span the whole call under the GIL)."""
    assert _paused_fraction(gc.function(_long_call), np.linspace(-1, 1, 1 << 21, dtype=np.float32)) < 0.5


def test_a_long_loop_on_small_tensors_runs_without_the_gil():
    """Graphs of small tensors keep the GIL during their (short) native call, but not those with loops,
    which may run long (``runtime._holds_gil``)."""
    f = gc.function(lambda n: gc.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s * 0.5 + 1.0), (0, 0.0))[0])
    n = np.array(20_000_000, np.int32)
    assert f(n).numpy() == 20_000_000
    assert _paused_fraction(f, n) < 0.5


# -- variables shared by threads ----------------------------------------------------------------------
# Readers and writers of one variable race on both backends, eagerly and compiled, with a small
# variable and one large enough that the LLVM backend runs each call on its worker threads. A read
# must see one whole value (max == min), one that was assigned, and keep it; no assign_add is lost;
# functions sharing several variables never deadlock (every thread has a deadline).
SIZES = {"small": 8, "parallel": 2 * runtime.PARALLEL_THRESHOLD}
DEADLINE = 120  # seconds for every thread of one race to finish; a deadlock fails rather than hangs


def run_threads(workers: list) -> None:
    """Runs each callable on a thread of its own; re-raises the first error, fails past the deadline."""
    errors: list[BaseException] = []

    def guarded(work):
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + DEADLINE
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"threads still running after {DEADLINE} s: a deadlock"
    if errors:
        raise errors[0]


def race_cases(rounds: int, slow: bool):
    marks = [pytest.mark.slow] if slow else []
    return [
        pytest.param(backend, threads, size, rounds, marks=marks, id=f"{backend}-{threads}threads-{size}-{rounds}rounds")
        for backend in ("llvm", "numpy") for threads in (2, 8) for size in SIZES
    ]


RACES = race_cases(rounds=6, slow=False) + race_cases(rounds=300, slow=True)


def reads_of(v: gc.Variable, backend: str) -> list:
    """Every way to read ``v``: compiled, ``read_value`` and ``numpy()`` (each returns an array)."""
    compiled = gc.function(lambda: v + 0.0, backend=backend)
    return [lambda: compiled().numpy(), lambda: v.read_value().numpy(), v.numpy]


def writes_of(v: gc.Variable, backend: str) -> list:
    """Every way to assign ``v`` a uniform value k: eager ``assign`` and compiled ``assign``."""
    compiled = gc.function(lambda k: v.assign(gc.broadcast_to(k, v.shape)), backend=backend)
    return [lambda k: v.assign(np.full(v.shape, k, np.float32)), lambda k: compiled(np.float32(k))]


def check_whole(array: np.ndarray, allowed) -> float:
    """The value of a uniform read; fails if the read mixes values or sees one never assigned."""
    low, high = float(array.min()), float(array.max())
    assert low == high, f"a read mixed values: min {low}, max {high}"
    assert allowed(low), f"a read saw {low}, which was never assigned"
    return low


@pytest.mark.parametrize("backend,threads,size,rounds", RACES)
def test_every_read_sees_one_whole_assigned_value(backend, threads, size, rounds):
    v = gc.Variable(np.zeros(SIZES[size], np.float32))
    reads, writes = reads_of(v, backend), writes_of(v, backend)
    for read in reads:
        read()  # traced and compiled before the race

    def reader(seed):
        def work():
            held = []  # earlier reads keep their values whatever is assigned after them
            for i in range(rounds * len(reads)):
                array = reads[(seed + i) % len(reads)]()
                held.append((array, check_whole(array, lambda x: x == int(x) and 0 <= x < 1000)))
            for array, value in held:
                assert (array == value).all(), "a read changed after it was made"
        return work

    def writer(seed):
        def work():
            for i in range(rounds * len(reads)):
                writes[(seed + i) % len(writes)]((seed * 131 + i) % 1000)
        return work

    run_threads([reader(s) if s % 2 else writer(s) for s in range(threads)])


@pytest.mark.parametrize("backend,threads,size,rounds", RACES)
def test_concurrent_assign_add_loses_no_update(backend, threads, size, rounds):
    """Compiled and eager assign_add on every thread: every increment lands, and reads in between
    see whole counts."""
    v = gc.Variable(np.zeros(SIZES[size], np.float32))
    compiled = gc.function(lambda d: v.assign_add(gc.broadcast_to(d, v.shape)), backend=backend)
    adds = [lambda: compiled(np.float32(1)), lambda: v.assign_add(np.ones(v.shape, np.float32))]
    read = reads_of(v, backend)[0]
    per_thread = 2 * rounds
    total = threads * per_thread

    def adder(seed):
        def work():
            for i in range(per_thread):
                adds[(seed + i) % len(adds)]()
                check_whole(read(), lambda x: 1 <= x <= total)
        return work

    run_threads([adder(s) for s in range(threads)])
    assert check_whole(v.numpy(), lambda x: True) == total


@pytest.mark.parametrize("backend,threads,size,rounds", RACES)
def test_functions_sharing_variables_commit_together_and_never_deadlock(backend, threads, size, rounds):
    """Transfers between three variables, each function reading and assigning several of them in
    its own order, race with readers of all three: no call waits forever, no transfer is lost, and
    every compiled read sees the three values of one instant (their sum never changes)."""
    n = SIZES[size]
    a, b, c = (gc.Variable(np.full(n, 1000, np.float32), name=name) for name in "abc")

    def transfer(source, target):
        def move(amount):
            source.assign_sub(gc.broadcast_to(amount, source.shape))
            target.assign_add(gc.broadcast_to(amount, target.shape))
        return gc.function(move, backend=backend)

    moves = [transfer(x, y) for x, y in ((a, b), (b, c), (c, a), (b, a), (c, b), (a, c))]

    @gc.function(backend=backend)
    def rotate():
        old_a, old_b, old_c = a + 0.0, b + 0.0, c + 0.0
        a.assign(old_b)
        b.assign(old_c)
        c.assign(old_a)

    total = gc.function(lambda: a + b + c, backend=backend)

    def mover(seed):
        def work():
            for i in range(2 * rounds):
                moves[(seed + i) % len(moves)](np.float32(1 + i % 3))
                if i % 5 == 0:
                    rotate()
        return work

    def reader():
        for _ in range(2 * rounds):
            check_whole(total().numpy(), lambda x: x == 3000)

    run_threads([mover(s) if s % 2 == 0 else reader for s in range(threads)])
    assert sum(check_whole(x.numpy(), lambda x: True) for x in (a, b, c)) == 3000


HOLDERS = {
    "tensor": lambda v: v.read_value(),
    "array": lambda v: v.read_value().numpy(),
    "view": lambda v: v.read_value().numpy()[:],
    "memoryview": lambda v: memoryview(v.read_value().numpy()),
}


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("holder", HOLDERS)
def test_a_read_keeps_its_value_while_later_calls_assign(backend, holder):
    """Compiled assignments reuse the storage of earlier values only once nobody holds them."""
    v = gc.Variable(np.arange(SIZES["small"], dtype=np.float32))
    step = gc.function(lambda: v.assign_add(gc.ones_like(v)), backend=backend)
    held = []
    for i in range(6):
        held.append((HOLDERS[holder](v), np.arange(SIZES["small"], dtype=np.float32) + i))
        step()
    for value, expected in held:
        np.testing.assert_array_equal(np.asarray(value), expected)
