"""``gc.metrics``: running statistics kept in variables, as Keras metrics.

``update_state`` adds a batch (inside ``@gc.function`` the updates are graph nodes, so they happen
on every call), ``result()`` is the statistic so far, ``reset_state()`` starts again.

Targets and predictions are checked as the losses check them (see ``graphc.losses``): ``accuracy``
and ``binary_accuracy`` as ``mean_squared_error`` (same rank, then shapes that broadcast),
``categorical_accuracy`` as ``categorical_crossentropy`` (equal shapes: Keras would compare the
argmax of a ``[N, 1]`` target, always 0, without a word), ``sparse_categorical_accuracy`` as
``sparse_categorical_crossentropy``. A mismatch is a ``ShapeError`` naming the metric and both shapes.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.types import as_dtype, float32

from . import losses
from .module import Module, snake_case
from .tracing import init_scope
from .variables import Variable


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


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred)`` over all examples."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or fn.__name__, dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return super().get_config() | self._fn_kwargs


# -- per-example functions ---------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true``, else 0.0."""
    y_true, y_pred = losses.aligned("accuracy", y_true, _as_tensor(y_pred))
    return ops.cast(ops.equal(y_true, y_pred), float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 target, averaged over the last axis."""
    y_true, y_pred = losses.aligned("binary_accuracy", y_true, _as_tensor(y_pred))
    predicted = ops.cast(ops.greater(y_pred, threshold), y_pred.dtype)
    return ops.reduce_mean(ops.cast(ops.equal(y_true, predicted), float32), -1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the largest prediction is at the one-hot target's class."""
    y_true, y_pred = _as_tensor(y_true), _as_tensor(y_pred)
    losses.check_same_shape("categorical_accuracy", y_true, y_pred)
    return ops.cast(ops.equal(ops.argmax(y_true, -1), ops.argmax(y_pred, -1)), float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the largest prediction is at the integer label's class."""
    y_pred = _as_tensor(y_pred)
    labels = losses.sparse_labels("sparse_categorical_accuracy", y_true, y_pred)
    return ops.cast(ops.equal(ops.cast(labels, ops.argmax(y_pred, -1).dtype), ops.argmax(y_pred, -1)), float32)


def _as_tensor(x):
    return x._as_tensor() if hasattr(x, "_as_tensor") else ops.constant(np.asarray(x))


def _metric_class(class_name, fn, default_name, doc, **defaults):
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}() got unexpected arguments {sorted(unknown)}")
        MeanMetricWrapper.__init__(self, fn, name, dtype, **(defaults | kwargs))

    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


Accuracy = _metric_class("Accuracy", accuracy, "accuracy", "How often predictions equal the targets.")
BinaryAccuracy = _metric_class("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                               "How often thresholded predictions match 0/1 targets.", threshold=0.5)
CategoricalAccuracy = _metric_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy",
                                    "How often the top prediction is the one-hot target's class.")
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                          "sparse_categorical_accuracy",
                                          "How often the top prediction is the integer label.")
MeanSquaredError = _metric_class("MeanSquaredError", losses.mean_squared_error, "mean_squared_error",
                                 "The mean of squared errors.")
MeanAbsoluteError = _metric_class("MeanAbsoluteError", losses.mean_absolute_error, "mean_absolute_error",
                                  "The mean of absolute errors.")

_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
_BY_CLASS = {c.__name__: c for c in (Sum, Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                     SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError)}


def get(identifier, y_true=None, y_pred=None) -> Metric:
    """A metric from a name, a class name, a metric object or a per-example function.

    ``"accuracy"`` (or ``"acc"``) picks binary, sparse categorical or categorical accuracy from the
    shapes of ``y_true`` and ``y_pred``, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return _accuracy_for(identifier, y_true, y_pred)
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise InvalidArgumentError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(sorted(_BY_NAME))}")
        return cls()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as a metric")


def _accuracy_for(name, y_true, y_pred) -> Metric:
    if y_true is None or y_pred is None:
        return Accuracy(name)
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if pred_shape and pred_shape[-1] == 1:
        return BinaryAccuracy(name)
    if len(true_shape) < len(pred_shape) or (true_shape and true_shape[-1] == 1):
        return SparseCategoricalAccuracy(name)
    return CategoricalAccuracy(name)
