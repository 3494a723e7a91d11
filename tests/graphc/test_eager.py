"""Eager mode: the global switch, its context-manager form, @gc.function(eager=...), the
GRAPHC_RUN_EAGERLY environment variable, and eager == graph."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc

F32 = np.float32


@pytest.fixture(autouse=True)
def _graph_mode():
    with gc.config.run_functions_eagerly(False):
        yield


def test_the_switch_and_its_context_manager():
    assert gc.config.functions_run_eagerly() is False
    with gc.config.run_functions_eagerly(True):
        assert gc.config.functions_run_eagerly() is True
        with gc.config.run_functions_eagerly(False):
            assert gc.config.functions_run_eagerly() is False
        assert gc.config.functions_run_eagerly() is True
    assert gc.config.functions_run_eagerly() is False
    gc.config.run_functions_eagerly(True)  # a plain call stays in force
    try:
        assert gc.config.functions_run_eagerly() is True
    finally:
        gc.config.run_functions_eagerly(False)


def _printing_function(**options):
    @gc.function(**options)
    def f(x):
        y = x * 2
        print("y =", y)
        return y + 1

    return f


def test_eagerly_print_shows_values_on_every_call_and_graphs_come_back(capsys):
    f = _printing_function()
    x = np.array([1.0, 2.0], F32)
    f(x)
    f(x)
    traced = capsys.readouterr().out
    assert traced.count("y =") == 1 and "symbolic" in traced  # printed once, while tracing
    with gc.config.run_functions_eagerly(True):
        for _ in range(2):
            np.testing.assert_array_equal(f(x).numpy(), [3, 5])
    assert capsys.readouterr().out == "y = [2. 4.]\n" * 2
    f(x)
    assert capsys.readouterr().out == "" and f.trace_count == 1  # back to the cached graph


@pytest.mark.parametrize("global_switch, option, runs_eagerly", [
    (False, True, True), (True, False, False), (True, None, True), (False, None, False),
])
def test_the_function_option_overrides_the_switch(capsys, global_switch, option, runs_eagerly):
    f = _printing_function(eager=option)
    with gc.config.run_functions_eagerly(global_switch):
        for _ in range(3):
            f(np.ones(2, F32))
    printed = capsys.readouterr().out
    assert printed.count("y =") == (3 if runs_eagerly else 1)
    assert f.trace_count == (0 if runs_eagerly else 1)


def test_breakpoints_see_concrete_values_when_eager(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "breakpointhook", lambda: seen.append(sys._getframe(1).f_locals["y"].numpy().copy()))

    @gc.function
    def f(x):
        y = x + 1
        breakpoint()
        return y

    with gc.config.run_functions_eagerly(True):
        f(np.zeros(2, F32))
        f(np.ones(2, F32))
    assert [s.tolist() for s in seen] == [[1, 1], [2, 2]]


def test_eager_mode_applies_the_input_signature():
    @gc.function(input_signature=[gc.TensorSpec([None], gc.float32)], eager=True)
    def f(x):
        assert isinstance(x, gc.Tensor) and x.dtype == gc.float32
        return x * 2

    np.testing.assert_array_equal(f([1, 2]).numpy(), [2, 4])  # a list is converted to the spec
    with pytest.raises(gc.errors.DTypeError, match="expected dtype float32, got float64"):
        f(np.ones(2))


def _run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
        env={**os.environ, **env},
    )


def test_environment_variables_are_read_at_import():
    code = """
        import numpy as np
        import graphc as gc
        print("eager:", gc.config.functions_run_eagerly())

        @gc.function
        def f(x):
            print("body:", x)
            return x

        f(np.ones(2, np.float32))
        f(np.ones(2, np.float32))
    """
    eager = _run_python(code, GRAPHC_RUN_EAGERLY="1", GRAPHC_LOG="")
    assert eager.returncode == 0, eager.stderr
    assert eager.stdout.splitlines() == ["eager: True", "body: [1. 1.]", "body: [1. 1.]"]
    graph = _run_python(code, GRAPHC_RUN_EAGERLY="0", GRAPHC_LOG="trace")
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.splitlines()[0] == "eager: False" and graph.stdout.count("body:") == 1
    assert "graphc graphc.trace: tracing f(x: f32[2]); called from <string>:" in graph.stderr


def _numpy_reference(x, w):
    return np.tanh(x @ w).sum(axis=1) / (1 + np.abs(x).max())


@gc.function(input_signature=[gc.TensorSpec([None, 3]), gc.TensorSpec([3, 2])])
def _model(x, w):
    h = gc.tanh(gc.matmul(x, w))
    return gc.reduce_sum(h, axis=1) / (1 + gc.reduce_max(gc.abs(x)))


@settings(max_examples=25, deadline=None)
@given(
    x=hnp.arrays(F32, st.tuples(st.integers(1, 4), st.just(3)), elements=st.floats(-5, 5, width=32)),
    w=hnp.arrays(F32, (3, 2), elements=st.floats(-2, 2, width=32)),
)
def test_graph_and_eager_give_the_same_results(x, w):
    graph = _model(x, w).numpy()
    with gc.config.run_functions_eagerly(True):
        eager = _model(x, w).numpy()
    with gc.config.set_backend("numpy"):
        interpreted = gc.function(_model.python_function, input_signature=_model._input_signature)(x, w).numpy()
    np.testing.assert_array_equal(interpreted, eager)  # the interpreter runs the eager kernels exactly
    np.testing.assert_allclose(graph, eager, rtol=1e-6, atol=1e-7)  # native tanh: within a few ulp
    np.testing.assert_allclose(graph, _numpy_reference(x, w), rtol=1e-5, atol=1e-6)
    assert graph.dtype == F32 and _model.trace_count == 1
