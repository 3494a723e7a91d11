"""gc.function's per-call fast path (W4): a call like the latest call of arrays or eager tensors runs
the compiled code on its arguments as they are; every other call — another layout, dtype, kind of
argument, mode — takes the general path and gets what it got before the fast path existed."""
import sys
import threading

import numpy as np
import pytest

import graphc as gc

F32 = np.float32


def _python_calls(fn) -> int:
    """How many Python-level calls (Python functions and builtins) ``fn()`` makes."""
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(event) if event in ("call", "c_call") else None)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return len(calls)


FAST = 12  # a fast call makes 10 (W4's; see test_function.py); a general one, 60 and more


def _affine(x):
    return x * 2.0 + 1.0


@pytest.mark.parametrize("make", [np.asarray, gc.constant], ids=["array", "tensor"])
def test_calls_like_the_previous_one_take_the_fast_path(make):
    f = gc.function(_affine)
    x = make(np.arange(4, dtype=F32))
    f(x)
    assert _python_calls(lambda: f(x)) <= FAST
    np.testing.assert_array_equal(f(x).numpy(), np.arange(4) * 2 + 1)


def test_a_tensor_returned_by_another_function_is_taken_as_it_is():
    g, f = gc.function(lambda x: x - 1.0), gc.function(_affine)
    x = np.arange(6, dtype=F32).reshape(2, 3)
    y = g(x)
    f(y)
    assert _python_calls(lambda: f(g(x))) <= 2 * FAST
    np.testing.assert_array_equal(f(g(x)).numpy(), (x - 1) * 2 + 1)


LAYOUTS = [
    ("strided", lambda: np.arange(8, dtype=F32)[::2].reshape(2, 2)),
    ("Fortran order", lambda: np.asfortranarray(np.arange(4, dtype=F32).reshape(2, 2) * 2)),
    ("transposed", lambda: np.arange(4, dtype=F32).reshape(2, 2).T),
    ("misaligned", lambda: np.frombuffer(np.arange(5, dtype=F32).tobytes()[2:18], F32).reshape(2, 2)),
    ("big-endian", lambda: np.arange(4, dtype=">f4").reshape(2, 2) + 3),
    ("read-only", lambda: np.broadcast_to(np.arange(2, dtype=F32), (2, 2))),
    ("subclass", lambda: np.arange(4, dtype=F32).reshape(2, 2).view(np.matrix)),
]


@pytest.mark.parametrize("make", [m[1] for m in LAYOUTS], ids=[m[0] for m in LAYOUTS])
@pytest.mark.parametrize("order", ["after", "before"])
def test_arrays_of_any_layout_get_the_numpy_result(make, order):
    """Before or after a fast call of a plain array of the same shape and dtype: one trace, right values."""
    f = gc.function(_affine)
    plain, other = np.ones((2, 2), F32), make()
    calls = [plain, other, plain, other] if order == "after" else [other, other, plain, other]
    for x in calls:
        np.testing.assert_array_equal(f(x).numpy(), np.asarray(x, np.float64) * 2 + 1)
        assert f(x).dtype == gc.float32
    assert f.trace_count == 1


def test_another_dtype_after_a_fast_call_traces_again():
    f = gc.function(_affine)
    x = np.arange(4, dtype=F32)
    f(x), f(x)
    result = f(x.astype(np.float64))
    assert result.dtype == gc.float64 and f.trace_count == 2
    np.testing.assert_array_equal(result.numpy(), np.arange(4) * 2 + 1)
    assert f(x).dtype == gc.float32 and f.trace_count == 2
    assert _python_calls(lambda: f(x)) <= FAST


def test_another_shape_traces_again_and_the_first_stays_cached():
    f = gc.function(_affine)
    for n in [3, 5, 3, 5, 3]:
        np.testing.assert_array_equal(f(np.ones(n, F32)).numpy(), np.full(n, 3.0))
    assert f.trace_count == 2


def test_a_zero_dimensional_array_and_a_python_scalar_keep_their_traces():
    f = gc.function(lambda x: x * 3.0)
    assert f(np.array(2.0, F32)).numpy() == 6.0
    assert f(np.array(2.0, F32)).numpy() == 6.0
    assert f.trace_count == 1
    assert float(f(4.0)) == 12.0  # a Python value is part of the trace key: a trace of its own
    assert f.trace_count == 2
    assert f(np.array(5.0, F32)).numpy() == 15.0 and f(F32(7.0)).numpy() == 21.0
    assert f.trace_count == 2


def test_a_symbolic_tensor_is_refused_as_before():
    f = gc.function(_affine)
    x = gc.constant(np.ones(3, F32))
    f(x), f(x)
    leaked = gc.function(lambda a: a).get_concrete_function(gc.TensorSpec([3], gc.float32)).inputs[0]
    with pytest.raises(gc.errors.InvalidArgumentError, match="belongs to a traced function"):
        f(leaked)


@pytest.mark.parametrize("call, message", [
    (lambda f: f(np.ones(3, F32), np.ones(3, F32)), "too many positional arguments"),
    (lambda f: f(), "missing a required argument"),
    (lambda f: f(np.ones(3, F32), y=np.ones(3, F32)), "unexpected keyword argument 'y'"),
    (lambda f: f(np.array(["a", "b", "c"])), "dtype"),
])
def test_bad_calls_after_fast_calls_raise_the_general_paths_errors(call, message):
    f = gc.function(_affine)
    f(np.ones(3, F32)), f(np.ones(3, F32))
    with pytest.raises(gc.errors.GraphcError, match=message):
        call(f)


def test_keyword_and_nested_arguments_take_the_general_path():
    f = gc.function(lambda x, y=None: x * 2.0 if y is None else x + y[0] * y[1])
    x = np.arange(3, dtype=F32)
    f(x), f(x)
    np.testing.assert_array_equal(f(x=x).numpy(), x * 2)
    np.testing.assert_array_equal(f(x, (x, x)).numpy(), x + x * x)
    np.testing.assert_array_equal(f(x).numpy(), x * 2)
    assert f.trace_count == 2


def test_an_error_flagged_by_native_code_names_the_callers_line():
    f = gc.function(lambda t, i: gc.gather(t, i))
    table = np.arange(5, dtype=F32)
    f(table, np.array([0, 1], np.int32))
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"index out of range[\s\S]*called from .*test_function_fast_path"):
        f(table, np.array([0, 9], np.int32))


def test_variables_are_read_and_assigned_on_every_fast_call():
    v = gc.Variable(np.zeros(3, F32))
    f = gc.function(lambda x: v.assign_add(x) * 1.0)
    x = np.array([1.0, 2.0, 3.0], F32)
    for k in range(1, 5):
        np.testing.assert_array_equal(f(x).numpy(), x * k)
    v.assign(np.full(3, 10.0, F32))
    np.testing.assert_array_equal(f(x).numpy(), 10 + x)
    assert f.trace_count == 1


def test_a_failing_fast_call_assigns_nothing():
    v = gc.Variable(np.zeros(2, F32))

    @gc.function
    def f(t, i):
        v.assign_add(np.ones(2, F32))
        return gc.gather(t, i)

    table = np.arange(4, dtype=F32)
    f(table, np.array([0, 1], np.int32))
    with pytest.raises(gc.errors.InvalidArgumentError, match="index out of range"):
        f(table, np.array([0, 4], np.int32))
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])


def test_eager_mode_and_check_modes_apply_to_calls_with_a_cached_signature():
    runs = []

    def body(x):
        runs.append(1)
        return gc.math.log(x)

    f = gc.function(body)
    x = np.ones(3, F32)
    f(x), f(x)
    assert len(runs) == 1
    with gc.config.run_functions_eagerly(True):
        f(x)
    assert len(runs) == 2
    f(x)
    assert len(runs) == 2
    assert np.isnan(f(-x).numpy()).all()  # unchecked
    with gc.config.enable_check_numerics():
        with pytest.raises(gc.errors.NumericsError, match="NaN"):
            f(-x)
    with gc.config.set_check_mode(True):
        assert not gc.config.plain_calls
        assert np.isnan(f(-x).numpy()).all()
    assert gc.config.plain_calls


def test_a_gradient_tape_records_calls_with_a_cached_signature():
    w = gc.Variable(np.array([1.0, 2.0], F32))
    f = gc.function(lambda x: gc.reduce_sum(w * x * x))
    x = np.array([3.0, 4.0], F32)
    f(x), f(x)
    with gc.GradientTape() as tape:
        y = f(x)
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), x * x)


def test_host_functions_run_on_every_fast_call():
    seen = []

    def record(a):
        seen.append(a.copy())
        return a * 10

    f = gc.function(lambda x: gc.numpy_function(record, [x], gc.TensorSpec([2], gc.float32)) + 1.0)
    for k in range(3):
        np.testing.assert_array_equal(f(np.full(2, k, F32)).numpy(), [10 * k + 1] * 2)
    assert [s.tolist() for s in seen] == [[0, 0], [1, 1], [2, 2]]


def test_several_results_and_python_results():
    f = gc.function(lambda x: {"sum": x + 1.0, "pair": (x * 2.0, "label")})
    x = np.arange(3, dtype=F32)
    f(x)
    out = f(x)
    np.testing.assert_array_equal(out["sum"].numpy(), x + 1)
    np.testing.assert_array_equal(out["pair"][0].numpy(), x * 2)
    assert out["pair"][1] == "label"


def test_an_input_returned_as_it_is_is_copied():
    f = gc.function(lambda x, y: (x, y * 2.0))
    x = np.ones(2, F32)
    f(x, x)
    same, _ = f(x, x)
    x[0] = 7.0
    np.testing.assert_array_equal(same.numpy(), [1.0, 1.0])


def test_methods_keep_a_fast_path_per_instance():
    class Scale(gc.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

        @gc.function
        def __call__(self, x):
            return x * self.k

    a, b, x = Scale(2.0), Scale(3.0), np.ones(2, F32)
    for _ in range(2):
        np.testing.assert_array_equal(a(x).numpy(), [2.0, 2.0])
        np.testing.assert_array_equal(b(x).numpy(), [3.0, 3.0])


@pytest.mark.parametrize("size", [4, 1 << 17], ids=["small: GIL kept", "large: GIL released"])
def test_threads_calling_the_fast_path_at_once_each_get_their_own_result(size):
    v = gc.Variable(np.full(size, 0.5, F32))
    f = gc.function(lambda x: x * 2.0 + v)
    f(np.zeros(size, F32))
    start = threading.Barrier(8)
    wrong, errors = [], []

    def call(k):
        x = np.full(size, k, F32)
        start.wait()
        try:
            for _ in range(200 if size == 4 else 5):
                result = f(x if k % 2 else gc.constant(x)).numpy()
                if not (result == 2 * k + 0.5).all():
                    wrong.append(k)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not wrong
    assert f.trace_count == 1
