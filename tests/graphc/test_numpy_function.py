"""gc.numpy_function and gc.py_function: called on every run of a compiled function, in order with
variable assignments, on both backends and eagerly; results checked against Tout; exceptions reach
the caller as they were raised; threads; gradients; the op in passes, text IR and the compile cache."""
from __future__ import annotations

import sys
import threading
import traceback
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.compiler import BackendFallbackWarning
from graphc.ir.errors import ArgumentTypeError, InvalidArgumentError, ShapeError

BACKENDS = ["llvm", "numpy"]


@pytest.fixture(autouse=True)
def no_fallback():
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)
        yield


def compiled(fn, backend, **kwargs):
    return gc.function(fn, backend=backend, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_call_runs_the_function_on_the_current_values(backend):
    seen = []

    def record(x):
        seen.append(x)
        return x * 2

    f = compiled(lambda x: gc.numpy_function(record, [x], gc.TensorSpec([3], gc.float32)) + 1.0, backend)
    for k in range(4):
        x = np.arange(3, dtype=np.float32) + k
        np.testing.assert_array_equal(f(x).numpy(), x * 2 + 1)
    assert len(seen) == 4
    for k, a in enumerate(seen):  # the arguments the function kept are its own copies
        assert type(a) is np.ndarray and a.dtype == np.float32
        np.testing.assert_array_equal(a, np.arange(3) + k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unused_stateful_call_still_runs_and_a_stateless_one_may_be_removed(backend):
    calls = []

    def fn(x):
        gc.numpy_function(lambda a: calls.append("stateful"), [x], [])
        gc.numpy_function(lambda a: calls.append("stateless") or a, [x], gc.float32, stateful=False)
        return x + 1.0

    f = compiled(fn, backend)
    for _ in range(3):
        f(gc.constant(1.0))
    assert calls == ["stateful"] * 3
    fused = f.get_concrete_function(gc.constant(1.0)).graphs["fused"]
    assert [n.op for n in fused.nodes].count("host_call") == 1
    assert "pure_host_call" not in [n.op for n in fused.nodes]


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_see_variable_values_in_program_order(backend):
    v = gc.Variable(1.0)
    seen = []

    def fn():
        gc.numpy_function(lambda a: seen.append(("before", float(a))), [v], [])
        v.assign(v * 3.0)
        gc.numpy_function(lambda a: seen.append(("after", float(a))), [v], [])
        v.assign_add(1.0)
        gc.numpy_function(lambda a: seen.append(("last", float(a))), [v.read_value()], [])

    f = compiled(fn, backend)
    f()
    f()
    assert seen == [("before", 1.0), ("after", 3.0), ("last", 4.0), ("before", 4.0), ("after", 12.0), ("last", 13.0)]
    assert v.numpy() == 13.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_calls_keep_their_order_and_are_not_merged(backend):
    order = []

    def fn(x):
        for tag in "abcab":
            gc.numpy_function(lambda a, tag=tag: order.append(tag), [x], [])
        return x

    compiled(fn, backend, autograph=False)(gc.constant(0.0))
    assert order == list("abcab")


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_of_every_dtype_and_several_results(backend):
    def fn(x, n):
        a, b, c = gc.numpy_function(lambda x, n: (x.sum(), n * 2, x > 0), [x, n],
                                    [gc.float64, gc.int32, gc.TensorSpec([2, 2], gc.bool)])
        return a, b, c

    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    a, b, c = compiled(fn, backend)(x, np.int32(21))
    assert a.dtype == gc.float64 and a.numpy() == 2.5
    assert b.dtype == gc.int32 and b.numpy() == 42
    np.testing.assert_array_equal(c.numpy(), x > 0)
    single = compiled(lambda x: gc.numpy_function(lambda a: (a,), [x], [gc.float64]), backend)(np.float64(3))
    assert isinstance(single, list) and single[0].numpy() == 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_numbers_take_the_declared_dtype(backend):
    f = compiled(lambda x: gc.numpy_function(lambda a: 3.5, [x], gc.float32), backend)
    r = f(gc.constant(1.0))
    assert r.dtype == gc.float32 and r.numpy() == 3.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_dtype_shape_or_count_names_the_function_and_the_line(backend):
    def wrong_dtype(x):
        return gc.numpy_function(lambda a: a.astype(np.float64), [x], gc.float32)

    def wrong_shape(x):
        return gc.numpy_function(lambda a: np.zeros(4, np.float32), [x], gc.TensorSpec([3], gc.float32))

    def wrong_count(x):
        return gc.numpy_function(lambda a: (a, a), [x], [gc.float32])

    x = np.ones(3, np.float32)
    with pytest.raises(InvalidArgumentError, match=r"numpy_function '<lambda>' returned output 0 of dtype float64, "
                                                   r"but its Tout declares float32(.|\n)*test_numpy_function.py:\d+"):
        compiled(wrong_dtype, backend)(x)
    with pytest.raises(ShapeError, match=r"returned output 0 of shape \[4\], but the graph expects \[3\]"):
        compiled(wrong_shape, backend)(x)
    with pytest.raises(InvalidArgumentError, match="returned 2 values, but its Tout declares 1"):
        compiled(wrong_count, backend)(x)
    with pytest.raises(ShapeError, match=r"declare the shape with Tout=gc.TensorSpec\(\[3\], gc.float32\)"):
        compiled(lambda x: gc.numpy_function(lambda a: a, [x], gc.float32), backend)(x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exception_reaches_the_caller_with_its_traceback_and_assigns_nothing(backend):
    v = gc.Variable(0.0)

    def failing(a):
        raise KeyError("no such key")

    def fn(x):
        v.assign_add(1.0)
        gc.numpy_function(failing, [x], [])
        v.assign_add(10.0)
        return x

    f = compiled(fn, backend)
    for _ in range(2):
        with pytest.raises(KeyError, match="no such key") as info:
            f(gc.constant(1.0))
        frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert frames[-1] == "failing"
        assert any("numpy_function 'failing' called at" in note and "test_numpy_function.py" in note
                   for note in info.value.__notes__)
        assert v.numpy() == 0.0  # a call that raises publishes none of its assignments


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_call_a_compiled_function_at_once(backend):
    counts = {}
    lock = threading.Lock()

    def tagged(a):
        with lock:
            counts[threading.get_ident()] = counts.get(threading.get_ident(), 0) + 1
        return a + 1.0

    f = compiled(lambda x: gc.numpy_function(tagged, [x], gc.TensorSpec([70_000], gc.float64)) * 2.0, backend)
    f(np.zeros(70_000))
    errors = []

    def worker(k):
        try:
            for i in range(30):
                np.testing.assert_array_equal(f(np.full(70_000, float(k * 100 + i))).numpy(), 2.0 * (k * 100 + i + 1))
        except Exception as error:  # reported below: pytest does not see a thread's exceptions
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(counts.values()) == 1 + 3 * 30


def test_eager_calls_run_at_once_and_take_any_shape():
    calls = []
    r = gc.numpy_function(lambda a: calls.append(a) or a * 2, [gc.constant([1.0, 2.0])], gc.float32)
    np.testing.assert_array_equal(r.numpy(), [2.0, 4.0])
    assert gc.numpy_function(lambda: calls.append("none"), [], []) is None
    assert len(calls) == 2 and isinstance(calls[0], np.ndarray)
    t = gc.py_function(lambda a: gc.reduce_sum(a * a), [gc.constant([3.0, 4.0])], gc.float32)
    assert t.numpy() == 25.0
    assert gc.py_function(lambda a: None, [gc.constant(1)], []) == []
    with pytest.raises(ZeroDivisionError):
        gc.numpy_function(lambda a: 1 / 0, [gc.constant(1.0)], gc.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_functions_eagerly_calls_the_function_on_every_call(backend):
    calls = []
    f = compiled(lambda x: gc.numpy_function(lambda a: calls.append(1) or a, [x], gc.float32), backend)
    gc.config.run_functions_eagerly(True)
    try:
        for _ in range(3):
            assert f(gc.constant(2.0)).numpy() == 2.0
    finally:
        gc.config.run_functions_eagerly(False)
    assert len(calls) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_py_function_takes_eager_tensors_in_compiled_code(backend):
    kinds = []

    def fn(a):
        kinds.append(type(a))
        return gc.sqrt(a) + 1.0

    f = compiled(lambda x: gc.py_function(fn, [x], gc.TensorSpec([2], gc.float32)), backend)
    np.testing.assert_allclose(f(np.array([4.0, 9.0], np.float32)).numpy(), [3.0, 4.0])
    assert kinds == [gc.Tensor]


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_gradient_flows_through_a_host_call(backend):
    w = gc.Variable(3.0)
    f = compiled(lambda: gc.numpy_function(lambda a: a * 2, [w], gc.float32) + w * w, backend)
    with gc.GradientTape() as tape:
        y = f()
    assert y.numpy() == 15.0
    assert tape.gradient(y, w).numpy() == 6.0  # the host call's result is a constant to the tape
    with gc.GradientTape() as tape:
        y = gc.numpy_function(lambda a: a * 2, [w], gc.float32)
    assert tape.gradient(y, w) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_in_branches_run_when_their_branch_is_taken(backend):
    calls = []

    def fn(x):
        return gc.cond(x > 0, lambda: gc.numpy_function(lambda a: calls.append(float(a)) or a * 10, [x], gc.float32),
                       lambda: x)

    f = compiled(fn, backend)
    assert [f(gc.constant(v)).numpy() for v in (2.0, -1.0, 3.0)] == [20.0, -1.0, 30.0]
    assert calls == [2.0, 3.0]


def test_bad_arguments():
    x = gc.constant(1.0)
    with pytest.raises(ArgumentTypeError, match="func must be callable"):
        gc.numpy_function(3, [x], gc.float32)
    with pytest.raises(ArgumentTypeError, match="inp must be a list of tensors"):
        gc.numpy_function(lambda a: a, x, gc.float32)
    with pytest.raises(ArgumentTypeError, match="Tout must hold dtypes or gc.TensorSpecs"):
        gc.numpy_function(lambda a: a, [x], "no such dtype")
    with pytest.raises(InvalidArgumentError, match="has a dimension of unknown size"):
        gc.numpy_function(lambda a: a, [x], gc.TensorSpec([None], gc.float32))
    # TensorFlow's checks of func, inp and Tout
    with pytest.raises(ArgumentTypeError, match="missing required argument 'Tout'"):
        gc.numpy_function(lambda a: a, [x])
    with pytest.raises(ArgumentTypeError, match="missing argument inp"):
        gc.py_function(lambda a: a, Tout=gc.float32)
    with pytest.raises(ArgumentTypeError, match="don't set inp when using numpy_function as a decorator"):
        gc.numpy_function(inp=[x], Tout=gc.float32)
    with pytest.raises(ArgumentTypeError, match="name must be a string"):
        gc.numpy_function(lambda a: a, [x], gc.float32, name=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_as_a_decorator(backend):
    @gc.numpy_function(Tout=gc.float32)
    def add(a, b):
        return a + b

    @gc.py_function(Tout=gc.float32)
    def square(a):
        return a * a

    assert add.__name__ == "add"
    assert add(np.float32(1), np.float32(2)).numpy() == 3.0
    f = compiled(lambda x: square(add(x, x)), backend)
    assert f(gc.constant(1.5)).numpy() == 9.0


def test_the_text_ir_names_the_function():
    def double(a):
        return a * 2

    f = gc.function(lambda x: gc.numpy_function(double, [x], gc.float32))
    text = str(f.get_concrete_function(gc.constant(1.0)).graph)
    assert "host_call %0 {function=opaque\"numpy_function 'double'\"}" in text


def test_graphs_of_one_structure_with_different_functions_keep_their_own(tmp_path, monkeypatch):
    """The compile cache shares object code between graphs of one structure; each runs its own function."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "1")

    def make(factor):
        def scale(a):  # the same name, code and graph for both: only the captured factor differs
            return a * factor

        return gc.function(lambda x: gc.numpy_function(scale, [x], gc.float32) + 1.0, backend="llvm")

    first, second = make(2.0), make(5.0)
    assert first(gc.constant(1.0)).numpy() == 3.0
    assert second(gc.constant(1.0)).numpy() == 6.0
    assert first(gc.constant(2.0)).numpy() == 5.0
    assert list(tmp_path.iterdir())  # the cache was used


@pytest.mark.parametrize("backend", BACKENDS)
def test_under_a_tape_a_compiled_call_prints_once_and_its_gradient_is_right(backend, capsys):
    w = gc.Variable(2.0)
    calls = []

    def fn(x):
        y = gc.numpy_function(lambda a: calls.append(1) or a * 3, [x], gc.float32)
        gc.print("w is", w, output_stream=sys.stdout)
        return y * w + x * w

    f = compiled(fn, backend)
    with gc.GradientTape() as tape:
        r = f(gc.constant(1.0))
    assert r.numpy() == 8.0
    assert tape.gradient(r, w).numpy() == 4.0  # y + x, y from the host call
    assert capsys.readouterr().out == "w is 2\n"  # the backward pass does not print again
    # the backward pass recomputes the forward values it needs: the function whose result it needs runs again
    assert len(calls) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_in_a_compiled_loop_run_on_every_iteration_in_order_with_assignments(backend, capsys):
    v = gc.Variable(0)

    def looped(n):
        for i in gc.range(n):
            gc.print("i", i, "v", v, output_stream=sys.stdout)
            v.assign_add(1)
        gc.print("done", v, output_stream=sys.stdout)
        return n

    f = compiled(looped, backend)
    f(gc.constant(3))
    f(gc.constant(2))
    assert capsys.readouterr().out == "i 0 v 0\ni 1 v 1\ni 2 v 2\ndone 3\ni 0 v 3\ni 1 v 4\ndone 5\n"
    assert "while_loop" in [n.op for n in f.get_concrete_function(gc.constant(3)).graphs["fused"].nodes]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unused_loop_that_prints_is_kept_and_its_failure_stops_it(backend, capsys):
    def looped(n):
        for i in gc.range(n):
            gc.numpy_function(lambda k: gc.print("k", k, output_stream=sys.stdout) if k < 2 else 1 / 0, [i], [])
        return n * 0

    f = compiled(looped, backend)
    with pytest.raises(ZeroDivisionError):
        f(gc.constant(5))
    assert capsys.readouterr().out == "k 0\nk 1\n"  # the loop stopped at the failing iteration


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_through_loops_and_branches_that_print_do_not_print_again(backend, capsys):
    @gc.function(backend=backend)
    def power(x, n):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = x
            for i in gc.range(n):
                gc.print("iter", i, output_stream=sys.stdout)
                y = y * x
        return y, tape.gradient(y, x)

    y, dy = power(gc.constant(2.0), gc.constant(3))
    assert (y.numpy(), dy.numpy()) == (16.0, 32.0)
    w = gc.Variable(3.0)

    @gc.function(backend=backend)
    def square_if_positive(x):
        if x > 0:
            gc.print("positive", output_stream=sys.stdout)
            y = x * w
        else:
            y = x
        return y

    with gc.GradientTape() as tape:
        r = square_if_positive(gc.constant(3.0))
    assert (r.numpy(), tape.gradient(r, w).numpy()) == (9.0, 3.0)
    assert capsys.readouterr().out == "iter 0\niter 1\niter 2\npositive\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_python_loop_unrolls_its_calls(backend, capsys):
    def unrolled():
        for i in range(3):
            gc.print("i", i, output_stream=sys.stdout)

    f = compiled(unrolled, backend)
    f()
    f()
    assert capsys.readouterr().out == "i 0\ni 1\ni 2\n" * 2


def test_pictures_name_the_function():
    from graphc.viz.labels import attr_lines

    def double(a):
        return a * 2

    graph = gc.function(lambda x: gc.numpy_function(double, [x], gc.float32)).get_concrete_function(gc.constant(1.0)).graph
    node = next(n for n in graph.nodes if n.op == "host_call")
    assert ">numpy_function &#x27;double&#x27;<" in attr_lines(node)[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_function_may_call_its_compiled_caller_again(backend):
    depth = []

    def inner(a):
        if len(depth) < 2:
            depth.append(1)
            return f(a.numpy() + 1.0)  # the same executable, on the same thread, while it runs
        return a

    f = compiled(lambda x: gc.py_function(inner, [x], gc.TensorSpec([4], gc.float32)) + x, backend)
    # innermost returns 2; each level adds its own input: 2 + 2, + 1, + 0
    np.testing.assert_array_equal(f(np.zeros(4, np.float32)).numpy(), np.full(4, 5.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_that_are_not_of_the_declared_dtype(backend):
    as_tensor = compiled(lambda x: gc.py_function(lambda a: gc.cast(a, gc.int32), [x], gc.float32), backend)
    with pytest.raises(InvalidArgumentError, match="py_function '<lambda>' returned output 0 of dtype int32"):
        as_tensor(gc.constant(1.0))
    text = compiled(lambda x: gc.numpy_function(lambda a: "abc", [x], gc.float32), backend)
    with pytest.raises(InvalidArgumentError, match=r"returned output 0 \(str\), which is not a float32 value"):
        text(gc.constant(1.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_base_exception_passes_through_native_code(backend):
    class Stop(BaseException):
        pass

    def stop(a):
        raise Stop()

    with pytest.raises(Stop):
        compiled(lambda x: gc.numpy_function(stop, [x], []) or x, backend)(gc.constant(1.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_graph_whose_function_runs_a_large_compiled_function(backend):
    """Large graphs run on several threads; the one that calls back into Python runs on one, so the
    function finds the workers free (a parallel outer call held them and waited forever)."""
    inner = compiled(lambda a: a * 2.0 + 1.0, backend)
    outer = compiled(lambda x: gc.numpy_function(lambda a: inner(a).numpy(), [x * 3.0],
                                                 gc.TensorSpec([100_000], gc.float64)) - x, backend)
    results = []
    worker = threading.Thread(target=lambda: results.append(outer(np.ones(100_000)).numpy()), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the call did not finish"
    np.testing.assert_array_equal(results[0], np.full(100_000, 6.0))
