"""The base of ``gc.metrics``: ``Metric`` (state kept in non-trainable variables), the running
``Sum`` and ``Mean``, and the helpers every metric shares."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.types import as_dtype, float32

from ..module import Module, snake_case
from ..tracing import init_scope
from ..variables import Variable


class Metric(Module):
    """Base class: ``update_state(...)``, ``result()``, ``reset_state()``; calling a metric updates
    it and returns the result."""

    _holds_weights = False

    def __init__(self, name=None, dtype=None):
        super().__init__(name or snake_case(type(self).__name__))
        self.dtype = as_dtype(dtype or float32)
        self._state: list[Variable] = []

    def add_variable(self, name: str, shape=(), dtype=None) -> Variable:
        """A new state variable, zero at the start and after ``reset_state``."""
        with init_scope():
            var = Variable(np.zeros(shape, as_dtype(dtype or self.dtype).numpy), trainable=False,
                           name=f"{self.name}/{name}")
        self._state.append(var)
        return var

    @property
    def variables(self) -> list[Variable]:
        return list(self._state)

    def update_state(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} must define update_state")

    def result(self):
        raise TypeError(f"{type(self).__name__} must define result")

    def reset_state(self) -> None:
        with init_scope():
            for var in self._state:
                var.assign(np.zeros(var.shape, var.dtype.numpy))

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class Sum(Metric):
    """The running (weighted) sum of the values."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable("total")

    def update_state(self, values, sample_weight=None):
        values = _weighted(values, sample_weight, self.dtype)
        self.total.assign_add(ops.reduce_sum(values))

    def result(self):
        return self.total.read_value()


class Mean(Metric):
    """The running (weighted) mean of the values."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable("total")
        self.count = self.add_variable("count")

    def update_state(self, values, sample_weight=None):
        values = ops.cast(values, self.dtype)
        if sample_weight is None:
            self.total.assign_add(ops.reduce_sum(values))
            self.count.assign_add(ops.dim_size(values, tuple(range(len(values.shape))), self.dtype))
            return
        weights = ops.broadcast_like(_matching(ops.cast(sample_weight, self.dtype), values), values)
        self.total.assign_add(ops.reduce_sum(ops.multiply(values, weights)))
        self.count.assign_add(ops.reduce_sum(weights))

    def result(self):
        return ops.divide(self.total.read_value(), ops.maximum(self.count.read_value(), 1e-12))


def _matching(weights, values):
    """Sample weights [N, 1] against values [N] lose the trailing axis."""
    if len(weights.shape) > len(values.shape):
        weights = ops.squeeze(weights, -1)
    return weights


def _weighted(values, sample_weight, dtype):
    values = ops.cast(values, dtype)
    if sample_weight is None:
        return values
    return ops.multiply(values, _matching(ops.cast(sample_weight, dtype), values))


def as_tensor(x):
    """``x`` (a tensor, variable, array or Python value) as a tensor."""
    return x._as_tensor() if hasattr(x, "_as_tensor") else ops.constant(np.asarray(x))
