"""Variables and gradient plumbing: read_variable, assign_variable, stop_gradient, identity.

A variable is any object with ``.type`` (a TensorType) and ``.name``. ``read_variable`` takes it
as the ``var`` attribute (a graph node stores its name and lists the object in ``Graph.variables``).
"""
from __future__ import annotations

from ..dispatch import bind
from ..errors import InvalidArgumentError
from ..types import TensorType
from .common import define, user_op


def _read_infer(types, var):
    return [var.type]


define("read_variable", _read_infer, effect="read")


def read_variable(var):
    return bind("read_variable", var=var)


def _assign_infer(types, var):
    (t,) = types
    target: TensorType = var.type
    same_rank = t.ndim == target.ndim
    if t.dtype != target.dtype or not same_rank or any(
        isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(t.shape, target.shape)
    ):
        raise InvalidArgumentError(
            f"cannot assign a value of type {t} to variable {var.name!r} of type {target}: "
            "a variable keeps its shape and dtype"
        )
    return []


define("assign_variable", _assign_infer, effect="write")


def assign_variable(var, value):
    return bind("assign_variable", value, var=var)


define("stop_gradient", lambda types: [types[0]], vjp=lambda cts, inputs, outputs: [None],
       jvp=lambda tangents, inputs, outputs: [None], elementwise=True, view=True, reference=lambda x: x)


@user_op("stop_gradient")
def stop_gradient(x):
    """``x``, seen by differentiation as a constant."""
    return bind("stop_gradient", x)


define("identity", lambda types: [types[0]], vjp=lambda cts, inputs, outputs: [cts[0]], linear=True, elementwise=True, view=True,
       reference=lambda x: x)


@user_op("identity")
def identity(x):
    """A new tensor equal to ``x``."""
    return bind("identity", x)
