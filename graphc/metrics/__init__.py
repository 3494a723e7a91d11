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
from graphc.ir.types import float32

from .. import losses
from ..saving.registry import (
    deserialize_function, deserialize_object, function_name, get_registered_object, serialize_callable,
)
from .base import Mean, Metric, Sum, as_tensor
from .confusion import (
    AUC, FalseNegatives, FalsePositives, MeanIoU, Precision, Recall, TrueNegatives, TruePositives,
)

__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy", "CategoricalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "FalseNegatives", "FalsePositives", "Hinge", "KLDivergence", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "Poisson", "Precision", "Recall", "RootMeanSquaredError", "SquaredHinge",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy", "Sum", "TrueNegatives", "TruePositives",
    "TopKCategoricalAccuracy", "accuracy", "binary_accuracy", "categorical_accuracy", "deserialize", "get",
    "serialize", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
]


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred)`` over all examples."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or fn.__name__, dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        if type(self) is MeanMetricWrapper:  # the subclasses name their function by their class
            return super().get_config() | {"fn": function_name(self._fn, "metric", _FUNCTIONS)} | self._fn_kwargs
        return super().get_config() | self._fn_kwargs

    @classmethod
    def from_config(cls, config: dict):
        return cls(**(config | ({"fn": deserialize(config["fn"])} if "fn" in config else {})))


# -- per-example functions ---------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true``, else 0.0."""
    y_true, y_pred = losses.aligned("accuracy", y_true, as_tensor(y_pred))
    return ops.cast(ops.equal(y_true, y_pred), float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 target, averaged over the last axis."""
    y_true, y_pred = losses.aligned("binary_accuracy", y_true, as_tensor(y_pred))
    predicted = ops.cast(ops.greater(y_pred, threshold), y_pred.dtype)
    return ops.reduce_mean(ops.cast(ops.equal(y_true, predicted), float32), -1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the largest prediction is at the one-hot target's class."""
    y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
    losses.check_same_shape("categorical_accuracy", y_true, y_pred)
    return ops.cast(ops.equal(ops.argmax(y_true, -1), ops.argmax(y_pred, -1)), float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the largest prediction is at the integer label's class."""
    y_pred = as_tensor(y_pred)
    labels = losses.sparse_labels("sparse_categorical_accuracy", y_true, y_pred)
    return ops.cast(ops.equal(ops.cast(labels, ops.argmax(y_pred, -1).dtype), ops.argmax(y_pred, -1)), float32)




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


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot target's class is among the ``k`` largest predictions (ties at the
    boundary count as in the top ``k``, as ``tf.math.in_top_k``)."""
    y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
    losses.check_same_shape("top_k_categorical_accuracy", y_true, y_pred)
    return _in_top_k(ops.argmax(y_true, -1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label's class is among the ``k`` largest predictions (ties at the
    boundary count as in the top ``k``, as ``tf.math.in_top_k``)."""
    y_pred = as_tensor(y_pred)
    return _in_top_k(losses.sparse_labels("sparse_top_k_categorical_accuracy", y_true, y_pred), y_pred, k)


def _in_top_k(labels, y_pred, k):
    """``tf.math.in_top_k``: fewer than ``k`` scores above the label's; False for a row with a
    non-finite score (a diverged model's NaN is no hit) or a label outside the classes."""
    classes = y_pred.shape[-1]
    hot = ops.one_hot(labels, classes, dtype=float32)
    target = ops.reduce_max(ops.where(ops.equal(hot, 1.0), y_pred, -np.inf), -1, keepdims=True)
    above = ops.reduce_sum(ops.cast(ops.greater(y_pred, target), float32), -1)
    non_finite = ops.reduce_sum(ops.cast(ops.logical_not(ops.is_finite(y_pred)), float32), -1)
    valid = ops.logical_and(ops.equal(non_finite, 0.0), ops.equal(ops.reduce_sum(hot, -1), 1.0))
    return ops.cast(ops.logical_and(ops.less(above, float(k)), valid), float32)


def _check_k(name: str, k) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidArgumentError(f"{name}: k must be an integer >= 1, got {k!r}")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target's class is among the ``k`` largest predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        _check_k("top_k_categorical_accuracy", k)
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label's class is among the ``k`` largest predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        _check_k("sparse_top_k_categorical_accuracy", k)
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)


def _cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine similarity of targets and predictions along ``axis`` (the loss's negative)."""
    return ops.negative(losses.cosine_similarity(y_true, y_pred, axis=axis))


# the losses as metrics (Keras's): the running mean of the per-example loss
BinaryCrossentropy = _metric_class("BinaryCrossentropy", losses.binary_crossentropy, "binary_crossentropy",
                                   "The mean binary cross-entropy.", from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _metric_class("CategoricalCrossentropy", losses.categorical_crossentropy,
                                        "categorical_crossentropy", "The mean categorical cross-entropy.",
                                        from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _metric_class("SparseCategoricalCrossentropy", losses.sparse_categorical_crossentropy,
                                              "sparse_categorical_crossentropy",
                                              "The mean cross-entropy of integer labels.", from_logits=False, axis=-1)
KLDivergence = _metric_class("KLDivergence", losses.kl_divergence, "kl_divergence",
                             "The mean Kullback-Leibler divergence.")
Poisson = _metric_class("Poisson", losses.poisson, "poisson", "The mean Poisson loss.")
Hinge = _metric_class("Hinge", losses.hinge, "hinge", "The mean hinge loss.")
LogCoshError = _metric_class("LogCoshError", losses.log_cosh, "logcosh", "The mean of log(cosh(error)).")
CosineSimilarity = _metric_class("CosineSimilarity", _cosine_similarity, "cosine_similarity",
                                 "The mean cosine similarity of targets and predictions.", axis=-1)
SquaredHinge = _metric_class("SquaredHinge", losses.squared_hinge, "squared_hinge", "The mean squared hinge loss.")
CategoricalHinge = _metric_class("CategoricalHinge", losses.categorical_hinge, "categorical_hinge",
                                 "The mean categorical hinge loss.")
MeanAbsolutePercentageError = _metric_class("MeanAbsolutePercentageError", losses.mean_absolute_percentage_error,
                                            "mean_absolute_percentage_error",
                                            "The mean absolute error relative to the targets, in percent.")
MeanSquaredLogarithmicError = _metric_class("MeanSquaredLogarithmicError", losses.mean_squared_logarithmic_error,
                                            "mean_squared_logarithmic_error",
                                            "The mean squared error of log(1 + targets) and log(1 + predictions).")


class RootMeanSquaredError(Mean):
    """The square root of the running (weighted) mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = losses.aligned("root_mean_squared_error", y_true, ops.cast(as_tensor(y_pred), self.dtype))
        squared = ops.square(ops.subtract(y_pred, y_true))
        if len(squared.shape) > 1:  # as Keras: one mean per example, each weighted by its sample weight
            squared = ops.reduce_mean(squared, tuple(range(1, len(squared.shape))))
        super().update_state(squared, sample_weight)

    def result(self):
        return ops.sqrt(super().result())


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy, "root_mean_squared_error": RootMeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "kl_divergence": KLDivergence,
    "poisson": Poisson, "hinge": Hinge, "logcosh": LogCoshError, "cosine_similarity": CosineSimilarity,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
}
_BY_CLASS = {c.__name__: c for c in (Sum, Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                     SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                                     TopKCategoricalAccuracy, RootMeanSquaredError, Precision, Recall, AUC, MeanIoU,
                                     SparseTopKCategoricalAccuracy, BinaryCrossentropy, CategoricalCrossentropy,
                                     SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, LogCoshError,
                                     CosineSimilarity, SquaredHinge, CategoricalHinge, MeanAbsolutePercentageError,
                                     MeanSquaredLogarithmicError, TruePositives, FalsePositives, TrueNegatives,
                                     FalseNegatives)}


_FUNCTIONS = {f.__name__: f for f in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                     top_k_categorical_accuracy, sparse_top_k_categorical_accuracy,
                                     losses.mean_squared_error, losses.mean_absolute_error)}


def serialize(metric):
    """A metric as plain data: ``{"class_name", "config"}`` for a metric object, the name of a built-in or
    registered per-example function."""
    return serialize_callable(metric, "metric", Metric, _FUNCTIONS)


def deserialize(config, custom_objects=None):
    """The metric object (from a dict) or function (from a name) that ``serialize`` described."""
    if isinstance(config, str):
        return deserialize_function(config, "metric", _FUNCTIONS, custom_objects)
    return deserialize_object(config, "metric", _BY_CLASS | {"MeanMetricWrapper": MeanMetricWrapper}, custom_objects)


def get(identifier, y_true=None, y_pred=None) -> Metric:
    """A metric from a name, a class name, a metric object or a per-example function; a metric made from
    a string is named by it (``"mae"`` logs as ``mae``), as in Keras.

    ``"accuracy"`` (or ``"acc"``) picks binary, sparse categorical or categorical accuracy from the
    shapes of ``y_true`` and ``y_pred``, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return _accuracy_for(identifier, y_true, y_pred)
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        registered = get_registered_object(identifier)
        if cls is None and callable(registered):  # a registered class or per-example function
            return registered() if isinstance(registered, type) else MeanMetricWrapper(registered)
        if cls is None:
            raise InvalidArgumentError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(sorted(_BY_NAME))}")
        return cls(name=identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
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
