"""Layers that merge a list of tensors: ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum`` (elementwise, with broadcasting) and ``Concatenate``."""
from __future__ import annotations

import functools

from graphc.ir import ops
from graphc.ir.arguments import as_int
from graphc.ir.errors import InvalidArgumentError

from .base import Layer
from .serialization import register


class _Merge(Layer):
    """Called on a list (or tuple) of at least ``least`` tensors (exactly, when ``most`` says so)."""

    least, most = 2, None

    def _checked(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)):
            raise InvalidArgumentError(f"layer {self.name!r} is called on a list of tensors, got {type(inputs).__name__}")
        if len(inputs) < self.least or (self.most is not None and len(inputs) > self.most):
            wanted = f"exactly {self.most}" if self.most == self.least else f"at least {self.least}"
            raise InvalidArgumentError(f"layer {self.name!r} merges {wanted} tensors, got {len(inputs)}")
        return list(inputs)


class _Elementwise(_Merge):
    combine = None  # the binary op folded over the inputs

    def call(self, inputs):
        return functools.reduce(self.combine, self._checked(inputs))


@register
class Add(_Elementwise):
    """The sum of its inputs."""
    combine = staticmethod(ops.add)


@register
class Multiply(_Elementwise):
    """The product of its inputs."""
    combine = staticmethod(ops.multiply)


@register
class Maximum(_Elementwise):
    """The elementwise maximum of its inputs."""
    combine = staticmethod(ops.maximum)


@register
class Minimum(_Elementwise):
    """The elementwise minimum of its inputs."""
    combine = staticmethod(ops.minimum)


@register
class Average(_Elementwise):
    """The mean of its inputs."""
    combine = staticmethod(ops.add)

    def call(self, inputs):
        return ops.divide(super().call(inputs), float(len(inputs)))


@register
class Subtract(_Merge):
    """The first of its two inputs minus the second."""
    most = 2

    def call(self, inputs):
        first, second = self._checked(inputs)
        return ops.subtract(first, second)


@register
class Concatenate(_Merge):
    """Its inputs joined along ``axis`` (their other sizes equal)."""

    least = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = as_int(axis, "axis", high=None)

    def call(self, inputs):
        return ops.concat(self._checked(inputs), self.axis)

    def get_config(self):
        return super().get_config() | {"axis": self.axis}
