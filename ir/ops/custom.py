"""``custom_gradient``: results passed through unchanged, whose gradient a user's function gives.

``graphc.custom_gradient`` binds it on the results of the decorated function, the function's
tensor inputs and the values of the variables it read: ``rule`` (a ``GradientRule`` of
``graphc.custom_gradient``) computes the inputs' and variables' cotangents from the results'. The
results' own cotangents stop here, so the ops inside the function are never differentiated.
Once gradients are built the op has no work left: simplification replaces it by its inputs.
"""
from __future__ import annotations

from ..errors import InvalidArgumentError
from .common import define


def _infer(types, rule):
    return list(types[:rule.n_results])


def _vjp(cts, inputs, outputs, rule):
    return [None] * rule.n_results + rule.gradients(cts, outputs, inputs[rule.n_results:])


def _jvp(tangents, inputs, outputs, rule):
    raise InvalidArgumentError(
        f"{rule.name} has a custom gradient, which defines reverse mode only (as in TensorFlow): take its "
        "gradient with a GradientTape, not forward mode"
    )


define("custom_gradient", _infer, vjp=_vjp, jvp=_jvp, multi_output=True, forwards=True, foldable=False,
       reference=lambda *arrays, rule: tuple(arrays[:rule.n_results]))
