"""Constant operands of every degenerate shape (scalar, 1x1, 1xN, Nx1, size 0) in matmul, conv,
reductions and elementwise ops: the LLVM backend compiles them and agrees with the interpreter, for
the values and their first and second derivatives.

A 1x1 constant used to be copied into the matmul's fused kernel as a scalar, where the matmul could
not read it (an internal KeyError): ``dy/dx`` of ``y = 2 xᵀx`` failed inside ``@gc.function``.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

# a silent fallback to the interpreter would make every comparison below vacuous
pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")

F64 = np.float64


def _const(*shape):
    """A constant of ``shape`` with distinct values (fixed, so both backends see the same)."""
    return gc.constant(np.arange(1, int(np.prod(shape)) + 1, dtype=F64).reshape(shape) / 4)


# name -> (the function of x, the shape of x)
CASES = {
    "matmul x @ 1x1": (lambda x: gc.matmul(x, _const(1, 1)), (3, 1)),
    "matmul 1x1 @ x": (lambda x: gc.matmul(_const(1, 1), x), (1, 3)),
    "matmul 2 x^T x @ 1x1 (the notes' example)": (lambda x: gc.matmul(gc.matmul(gc.transpose(x), x), _const(1, 1)) * 2.0, (3, 1)),
    "matmul x @ 1xN": (lambda x: gc.matmul(x, _const(1, 4)), (3, 1)),
    "matmul 1xN @ x": (lambda x: gc.matmul(_const(1, 3), x), (3, 2)),
    "matmul x @ Nx1": (lambda x: gc.matmul(x, _const(3, 1)), (2, 3)),
    "matmul Nx1 @ x": (lambda x: gc.matmul(_const(3, 1), x), (1, 2)),
    "matmul x @ Nx0": (lambda x: gc.matmul(x, _const(3, 0)), (2, 3)),
    "matmul 0xN @ x": (lambda x: gc.matmul(_const(0, 3), x), (3, 2)),
    "matmul x @ batched 1x1": (lambda x: gc.matmul(x, _const(2, 1, 1)), (3, 1)),
    "matmul epilogue with a 1x1 constant": (lambda x: gc.matmul(x, _const(1, 1)) * _const(1, 1) + 1.0, (3, 1)),
    "conv 1x1 kernel, one channel": (lambda x: gc.nn.conv2d(x, _const(1, 1, 1, 1)), (2, 3, 3, 1)),
    "conv 1x1 kernel, 1 to N channels": (lambda x: gc.nn.conv2d(x, _const(1, 1, 1, 3)), (1, 2, 2, 1)),
    "conv 2x2 kernel, N to 1 channels": (lambda x: gc.nn.conv2d(x, _const(2, 2, 2, 1), padding="same"), (1, 3, 3, 2)),
    "conv 1x1 kernel, 0 channels out": (lambda x: gc.nn.conv2d(x, _const(1, 1, 2, 0)), (1, 2, 2, 2)),
    "sum of a 1x1 constant": (lambda x: x * gc.reduce_sum(_const(1, 1)), (2, 3)),
    "max of a 1xN constant": (lambda x: x * gc.reduce_max(_const(1, 3), axis=1), (2, 1)),
    "sum of a size-0 constant": (lambda x: x + gc.reduce_sum(_const(0, 3), axis=0), (2, 3)),
    "mean of an Nx1 constant": (lambda x: x * gc.reduce_mean(_const(3, 1), axis=0, keepdims=True), (2, 1)),
    "scalar constant": (lambda x: x * _const() + _const(), (2, 3)),
    "1x1 constant": (lambda x: gc.exp(x * _const(1, 1)) - _const(1, 1), (2, 3)),
    "1xN constant": (lambda x: x * _const(1, 3) + _const(1, 3), (2, 3)),
    "Nx1 constant": (lambda x: gc.square(x - _const(2, 1)), (2, 3)),
    "size-0 constant": (lambda x: x * _const(2, 0), (2, 1)),
}


def _derivatives(f):
    """x -> (f(x), d sum(f(x)·w) / dx, the derivative of sum of that by x): first and second order."""

    def run(x):
        with gc.GradientTape() as outer:
            outer.watch(x)
            with gc.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
                loss = gc.reduce_sum(y * gc.sin(y))  # not linear in y: the second derivative is not 0
            first = inner.gradient(loss, x)
            curvature = gc.reduce_sum(first * first)
        second = outer.gradient(curvature, x)
        return y, first, second

    return run


@pytest.mark.parametrize("name", CASES)
def test_constant_operands_of_degenerate_shapes_compile_and_match_the_interpreter(name):
    f, shape = CASES[name]
    x = np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)
    native = gc.function(_derivatives(f))(x)
    reference = gc.function(_derivatives(f), backend="numpy")(x)
    eager = _derivatives(f)(gc.constant(x))
    for what, got, want, plain in zip(("value", "first derivative", "second derivative"), native, reference, eager):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{name}: {what}")
        np.testing.assert_allclose(plain.numpy(), want.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{name}: eager {what}")


def test_the_gradient_of_two_x_transpose_x_inside_a_function_is_four_x():
    @gc.function
    def gradient(x):
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = gc.matmul(gc.matmul(gc.transpose(x), x), gc.constant([[2.0]]))
        return tape.gradient(y, x)

    x = np.array([[1.0], [-2.0], [0.5]])
    np.testing.assert_allclose(gradient(x).numpy(), 4 * x)
