"""The two debugging modes of compiled functions.

Check mode (``gc.config.set_check_mode(True)``, ``GRAPHC_CHECK=1``) runs the native code and the NumPy
interpreter side by side: silent when they agree, a CheckError naming the first kernel or node that
differs (and its source line) when they do not. The disagreements here are made on purpose, by
breaking one lowering of the LLVM backend (with the compile cache off, so the broken code is neither
loaded from nor written to it).

Check numerics (``gc.config.enable_check_numerics()``, ``GRAPHC_CHECK_NUMERICS=1``) reports the first
op that turns finite values into NaN or Inf, forward or backward, with the user's line of the forward op.

Neither mode lets a failing call change a variable.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
import graphc.compiler as gc_compiler
from graphc.backends.llvm import ops as llvm_ops
from graphc.backends.llvm.lowering import BACKEND, ELEMENT, Lowering
from graphc.backends.llvm.runtime import Executable
from graphc.ir.registry import get_op

HERE = os.path.basename(__file__)


def line_of(fn, offset: int) -> int:
    """The line ``offset`` lines below the ``def`` of ``fn``."""
    return fn.__code__.co_firstlineno + offset


# -- breaking lowerings ---------------------------------------------------------------------------------
def _subtracting_add(b, args, in_types, out_type, attrs):
    return b.fsub(*args) if out_type.is_floating else b.sub(*args)


def _maximum_as_minimum(b, args, in_types, out_type, attrs):
    return get_op("minimum").implementations[ELEMENT].emit(b, args, in_types, out_type, attrs)


def _transpose_as_copy(em, node):
    """Copies the input unpermuted: the right shape and dtype, the wrong order."""
    x, out = node.inputs[0], node.outputs[0]
    llvm_ops._copy_all(em, x.dtype, out.type.shape, em.pointer(out), em.pointer(x))


def _replace(monkeypatch, op: str, kind: str, emit) -> None:
    """Replaces the LLVM code of ``op`` (its ``kind``: node or element code) with ``emit``."""
    monkeypatch.setitem(get_op(op).implementations, kind, Lowering(emit, lambda dtype: False))


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")


@pytest.fixture
def check_mode():
    with gc.config.set_check_mode(True):
        yield


# -- check mode -------------------------------------------------------------------------------------------
def _scaled_softplus(v, x):
    y = gc.exp(-gc.abs(x)) * 2.0
    z = y + x
    v.assign(gc.ones_like(v))
    w = gc.maximum(z, 0.5)
    return gc.reduce_sum(gc.transpose(w) * 3.0, axis=1)


SABOTAGES = [
    # name, what is broken (a setter on monkeypatch), the op and the line (offset from the def) named
    ("fused-add", lambda mp: _replace(mp, "add", ELEMENT, _subtracting_add), "fused", 2),
    ("fused-maximum", lambda mp: _replace(mp, "maximum", ELEMENT, _maximum_as_minimum), "fused", 4),
    ("unfused-transpose", lambda mp: _replace(mp, "transpose", BACKEND, _transpose_as_copy), "transpose", 5),
]


def _inputs():
    return gc.Variable(np.zeros((4, 3), np.float32), name="v"), np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3)


def test_check_mode_is_silent_when_the_backends_agree(check_mode, monkeypatch):
    v, x = _inputs()
    want = gc.function(_scaled_softplus, backend="numpy")(gc.Variable(np.zeros((4, 3), np.float32)), x).numpy()
    runs = {"native": 0, "interpreter": 0}
    real_run, real_interpreter = Executable.run, gc_compiler.Interpreter

    class CountingInterpreter(real_interpreter):
        def run(self, *args, **kwargs):
            runs["interpreter"] += 1
            return super().run(*args, **kwargs)

    def counting_run(self, arrays):
        runs["native"] += 1
        return real_run(self, arrays)

    monkeypatch.setattr(Executable, "run", counting_run)
    monkeypatch.setattr(gc_compiler, "Interpreter", CountingInterpreter)
    got = gc.function(lambda a: _scaled_softplus(v, a))(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(v.numpy(), np.ones((4, 3), np.float32))  # assigned once, not once per backend
    assert runs == {"native": 1, "interpreter": 1}


@pytest.mark.parametrize("name,sabotage,op,offset", SABOTAGES, ids=[s[0] for s in SABOTAGES])
def test_check_mode_names_the_first_kernel_that_differs(name, sabotage, op, offset, no_cache, check_mode, monkeypatch):
    sabotage(monkeypatch)
    v, x = _inputs()
    f = gc.function(lambda a: _scaled_softplus(v, a))
    with pytest.raises(gc.errors.CheckError) as info:
        f(x)
    error = info.value
    message = str(error)
    assert error.op == op and "differs from the NumPy interpreter" in message
    assert f"{HERE}:{line_of(_scaled_softplus, offset)}" in message, message
    np.testing.assert_array_equal(v.numpy(), np.zeros((4, 3), np.float32))


def test_without_check_mode_the_broken_code_runs_unnoticed(no_cache, monkeypatch):
    """The control experiment: the sabotage really changes results."""
    SABOTAGES[0][1](monkeypatch)
    v, x = _inputs()
    got = gc.function(lambda a: _scaled_softplus(v, a))(x).numpy()
    want = gc.function(_scaled_softplus, backend="numpy")(gc.Variable(np.zeros((4, 3), np.float32)), x).numpy()
    assert not np.allclose(got, want)


# -- check numerics -----------------------------------------------------------------------------------
def _log_of_shifted(v, x):
    v.assign_add(gc.ones_like(v))
    shifted = x - 1.0
    return gc.log(shifted) + 1.0


def _sqrt_step(v, x):
    with gc.GradientTape() as tape:
        scaled = v * x
        root = gc.sqrt(scaled)
        loss = gc.reduce_sum(root)
    v.assign_sub(0.1 * tape.gradient(loss, v))
    return loss


def _exp_overflow(v, x):
    big = x * 1000.0
    return gc.exp(big)


NUMERICS = [
    # name, function, input, the op named, the line (offset from the def), the pass named
    ("forward-nan", _log_of_shifted, np.array([2.0, 0.5, 3.0], np.float32), "log", 3, "forward pass"),
    ("forward-inf", _exp_overflow, np.array([0.1, 1.0], np.float32), "exp", 2, "forward pass"),
    ("backward-inf", _sqrt_step, np.array([1.0, 1.0, 1.0], np.float32), None, 3, "backward pass"),
]


@pytest.mark.parametrize("name,fn,x,op,offset,where", NUMERICS, ids=[n[0] for n in NUMERICS])
def test_check_numerics_names_the_first_op_that_makes_nan_or_inf(name, fn, x, op, offset, where):
    v = gc.Variable(np.array([0.0, 1.0, 4.0], np.float32)[: x.size], name="v")
    before = v.numpy().copy()
    f = gc.function(lambda a: fn(v, a))
    with gc.config.enable_check_numerics():
        with pytest.raises(gc.errors.NumericsError) as info:
            f(x)
    message = str(info.value)
    assert where in message and f"{HERE}:{line_of(fn, offset)}" in message, message
    if op:
        assert info.value.op == op
    else:  # a gradient op: the forward op it belongs to is named
        assert "gradient of sqrt" in message, message
    np.testing.assert_array_equal(v.numpy(), before)
    result = f(x).numpy()  # check numerics off: the NaN or Inf goes through
    assert not (np.isfinite(result).all() and np.isfinite(v.numpy()).all())


def test_check_numerics_ignores_nan_that_came_in():
    f = gc.function(lambda a: a * 2.0 + 1.0)
    x = np.array([np.nan, np.inf, 1.0], np.float32)
    with gc.config.enable_check_numerics():
        np.testing.assert_array_equal(f(x).numpy(), x * 2 + 1)


# -- the environment switches --------------------------------------------------------------------------
def test_environment_switches_turn_both_modes_on(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(
        """
        import numpy as np
        import graphc as gc
        from graphc.backends.llvm import scalar  # registers the element code replaced below
        from graphc.backends.llvm.lowering import ELEMENT, Lowering
        from graphc.ir.registry import get_op

        assert gc.config.check_mode() and gc.config.check_numerics_enabled()
        get_op("add").implementations[ELEMENT] = Lowering(lambda b, args, *_: b.fsub(*args), lambda dtype: False)
        try:
            gc.function(lambda x: x + 3.0)(np.ones(4, np.float32))
        except gc.errors.CheckError as error:
            print("check:", error.op)
        try:
            gc.function(lambda x: gc.log(x - 2.0))(np.ones(4, np.float32))
        except gc.errors.NumericsError as error:
            print("numerics:", error.op)
        """
    ))
    env = {**os.environ, "GRAPHC_CHECK": "1", "GRAPHC_CHECK_NUMERICS": "1", "GRAPHC_CACHE": "0"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["check: fused", "numerics: log"]
