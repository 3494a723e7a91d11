"""``gc.losses``: loss functions (per example) and loss objects (reduced to a scalar), as Keras.

A loss object is called as ``loss(y_true, y_pred, sample_weight=None)``: the per-example losses,
times ``sample_weight``, reduced by ``reduction``: ``"sum_over_batch_size"`` (the default: the sum
divided by the number of examples), ``"sum"`` or ``"none"``.

Shapes are checked as Keras 3 (TensorFlow 2.16+) checks them; a mismatch is a ``ShapeError`` naming
the loss, both shapes and the caller's line, never a silent broadcast:

- targets and predictions whose ranks differ by one, the larger ending in a size-1 axis, are first
  brought to the same rank (``[N]`` against ``[N, 1]`` is ``[N, 1]`` against ``[N, 1]``);
- ``mean_squared_error``, ``mean_absolute_error``: the shapes must then broadcast together;
- ``binary_crossentropy``, ``categorical_crossentropy``: the shapes must then be equal;
- ``sparse_categorical_crossentropy``: the labels' shape must be the predictions' without the class
  axis (a trailing size-1 axis on the labels is dropped first).
"""
from __future__ import annotations

import math

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.location import user_line
from graphc.ir.ops import nn as nn_ops
from graphc.ir.ops.common import promote, unchanged
from graphc.ir.types import int32

from .module import snake_case
from .saving.registry import (
    deserialize_function, deserialize_object, function_name, get_registered_object, serialize_callable,
)

__all__ = [
    "BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber",
    "KLDivergence", "LogCosh", "Loss", "LossFunctionWrapper", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "binary_crossentropy", "categorical_crossentropy",
    "categorical_hinge", "cosine_similarity", "deserialize", "get", "hinge", "huber", "kl_divergence", "kld",
    "kullback_leibler_divergence", "log_cosh", "logcosh", "mae", "mape", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error", "mse", "msle",
    "poisson", "serialize", "sparse_categorical_crossentropy", "squared_hinge",
]

EPSILON = 1e-7  # Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON]


def _float(x):
    """``x`` as a float tensor (integers become floats)."""
    (x,) = promote(x, to_float=True)
    return unchanged(x)


def _pair(name: str, y_true, y_pred, same_shape: bool):
    """Targets and predictions as float tensors, aligned and checked (see ``aligned``)."""
    return aligned(name, y_true, _float(y_pred), same_shape)


def aligned(name: str, y_true, y_pred, same_shape: bool = False):
    """Targets in the dtype of the predictions (a tensor), brought to the same rank and checked: equal
    shapes when ``same_shape``, else shapes that broadcast together."""
    y_true, y_pred = same_rank(ops.cast(y_true, y_pred.dtype), y_pred)
    (check_same_shape if same_shape else check_broadcastable)(name, y_true, y_pred)
    return y_true, y_pred


def same_rank(y_true, y_pred):
    """Keras's alignment of targets and predictions whose ranks differ by one where the larger ends in a
    size-1 axis: a rank-1 partner gains that axis, otherwise the size-1 axis is dropped."""
    if len(y_true.shape) == len(y_pred.shape) + 1 and y_true.shape[-1] == 1:
        return (y_true, ops.expand_dims(y_pred, -1)) if len(y_pred.shape) == 1 else (ops.squeeze(y_true, -1), y_pred)
    if len(y_pred.shape) == len(y_true.shape) + 1 and y_pred.shape[-1] == 1:
        return (ops.expand_dims(y_true, -1), y_pred) if len(y_true.shape) == 1 else (y_true, ops.squeeze(y_pred, -1))
    return y_true, y_pred


def check_same_shape(name: str, y_true, y_pred) -> None:
    """Raises unless the shapes are equal (a dimension known only at run time matches any size)."""
    if not _same_shapes(y_true.shape, y_pred.shape):
        hint = "; for integer class labels use the sparse_ variant" if "categorical" in name else ""
        raise shape_error(name, y_true, y_pred, f"the shapes must be equal{hint}")


def check_broadcastable(name: str, y_true, y_pred) -> None:
    """Raises unless the shapes broadcast together."""
    pairs = zip(reversed(y_true.shape), reversed(y_pred.shape))
    if not all(_same_size(a, b) or a == 1 or b == 1 for a, b in pairs):
        raise shape_error(name, y_true, y_pred, "the shapes must broadcast together")


def _same_shapes(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(_same_size(x, y) for x, y in zip(a, b))


def _same_size(a, b) -> bool:
    return a is None or b is None or a == b


def shape_error(name: str, y_true, y_pred, requirement: str) -> ShapeError:
    """The error of a loss or metric ``name`` given targets and predictions of mismatched shapes."""
    return ShapeError(
        f"y_true of shape {tuple(y_true.shape)} and y_pred of shape {tuple(y_pred.shape)}: {requirement}",
        op=name, location=user_line(),
    )


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)**2)`` over the last axis."""
    y_true, y_pred = _pair("mean_squared_error", y_true, y_pred, same_shape=False)
    return ops.reduce_mean(ops.square(ops.subtract(y_pred, y_true)), -1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|)`` over the last axis."""
    y_true, y_pred = _pair("mean_absolute_error", y_true, y_pred, same_shape=False)
    return ops.reduce_mean(ops.abs(ops.subtract(y_pred, y_true)), -1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy of 0/1 targets and probabilities (or logits), averaged over ``axis``."""
    y_true, y_pred = _pair("binary_crossentropy", y_true, y_pred, same_shape=True)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        terms = nn_ops.sigmoid_cross_entropy_with_logits(y_true, y_pred)
    else:
        p = ops.clip_by_value(y_pred, EPSILON, 1.0 - EPSILON)
        terms = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                     ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))
    return ops.reduce_mean(terms, axis)


def _log_probabilities(y_pred, from_logits, axis):
    if from_logits:
        return ops.log_softmax(y_pred, axis)
    p = ops.divide(y_pred, ops.reduce_sum(y_pred, axis, keepdims=True))
    return ops.log(ops.clip_by_value(p, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy of one-hot (or soft) targets and probabilities (or logits) along ``axis``."""
    y_true, y_pred = _pair("categorical_crossentropy", y_true, y_pred, same_shape=True)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    if from_logits:
        return nn_ops.softmax_cross_entropy_with_logits(y_true, y_pred, axis)
    return ops.negative(ops.reduce_sum(ops.multiply(y_true, _log_probabilities(y_pred, False, axis)), axis))


def huber(y_true, y_pred, delta=1.0):
    """Squared error within ``delta`` of the target, linear beyond it (``0.5 x**2`` for ``|x| <= delta``,
    else ``delta * (|x| - 0.5 delta)``), averaged over the last axis."""
    _check_delta(delta)
    y_true, y_pred = _pair("huber", y_true, y_pred, same_shape=False)
    error = ops.abs(ops.subtract(y_pred, y_true))
    linear = ops.subtract(ops.multiply(error, float(delta)), 0.5 * float(delta) ** 2)
    return ops.reduce_mean(ops.where(ops.less_equal(error, float(delta)), ops.multiply(ops.square(error), 0.5), linear), -1)


def _check_delta(delta) -> None:
    if not isinstance(delta, (int, float)) or not delta >= 0:
        raise InvalidArgumentError(f"huber: delta must be a number >= 0, got {delta!r}")


def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))`` over the last axis, both
    clipped to ``[EPSILON, 1]``."""
    y_true, y_pred = _pair("kl_divergence", y_true, y_pred, same_shape=False)
    y_true, y_pred = ops.clip_by_value(y_true, EPSILON, 1.0), ops.clip_by_value(y_pred, EPSILON, 1.0)
    return ops.reduce_sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), -1)


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0))`` over the last axis; targets that are all 0 or 1 are
    first mapped to -1 and 1 (Keras's rule)."""
    return ops.reduce_mean(_margins("hinge", y_true, y_pred), -1)


def squared_hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0) ** 2)`` over the last axis; 0/1 targets as in ``hinge``."""
    return ops.reduce_mean(ops.square(_margins("squared_hinge", y_true, y_pred)), -1)


def _margins(name: str, y_true, y_pred):
    """``maximum(1 - y_true * y_pred, 0)``, targets that are all 0 or 1 first mapped to -1 and 1."""
    y_true, y_pred = _pair(name, y_true, y_pred, same_shape=False)
    binary = ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0))
    all_binary = ops.equal(ops.reduce_min(ops.cast(binary, y_true.dtype)), 1.0)
    y_true = ops.where(all_binary, ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)
    return ops.relu(ops.subtract(1.0, ops.multiply(y_true, y_pred)))


def categorical_hinge(y_true, y_pred):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis: the
    best wrong class's score against the target class's (one-hot targets)."""
    y_true, y_pred = _pair("categorical_hinge", y_true, y_pred, same_shape=True)
    positive = ops.reduce_sum(ops.multiply(y_true, y_pred), -1)
    negative = ops.reduce_max(ops.multiply(ops.subtract(1.0, y_true), y_pred), -1)
    return ops.relu(ops.add(ops.subtract(negative, positive), 1.0))


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON))`` over the last axis."""
    y_true, y_pred = _pair("mean_absolute_percentage_error", y_true, y_pred, same_shape=False)
    relative = ops.divide(ops.abs(ops.subtract(y_true, y_pred)), ops.maximum(ops.abs(y_true), EPSILON))
    return ops.multiply(ops.reduce_mean(relative, -1), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, EPSILON) + 1) - log(max(y_true, EPSILON) + 1)) ** 2)`` over the last axis."""
    y_true, y_pred = _pair("mean_squared_logarithmic_error", y_true, y_pred, same_shape=False)
    logs = [ops.log1p(ops.maximum(y, EPSILON)) for y in (y_pred, y_true)]
    return ops.reduce_mean(ops.square(ops.subtract(*logs)), -1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis, accurate for every error ``x``: for
    ``|x| >= 1`` as ``|x| + log1p(exp(-2|x|)) - log 2`` (no overflow), below as
    ``log1p(2 sinh(x/2)**2)`` (no cancellation for tiny ``x``, and smooth at 0 to second order)."""
    y_true, y_pred = _pair("log_cosh", y_true, y_pred, same_shape=False)
    x = ops.subtract(y_pred, y_true)
    size = ops.abs(x)
    small = ops.less(size, 1.0)
    half = ops.multiply(ops.where(small, x, 0.0), 0.5)  # 0 where unused, so its gradient stays finite
    sinh_half = ops.multiply(ops.subtract(ops.expm1(half), ops.expm1(ops.negative(half))), 0.5)
    near = ops.log1p(ops.multiply(ops.square(sinh_half), 2.0))
    far = ops.subtract(ops.add(size, ops.log1p(ops.exp(ops.multiply(size, -2.0)))), math.log(2.0))
    return ops.reduce_mean(ops.where(small, near, far), -1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """The negative cosine similarity of the targets and predictions along ``axis`` (-1 for parallel
    vectors, 0 if either is zero)."""
    y_true, y_pred = _pair("cosine_similarity", y_true, y_pred, same_shape=False)
    return ops.negative(ops.reduce_sum(ops.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis))


def _l2_normalize(x, axis):
    return ops.multiply(x, ops.rsqrt(ops.maximum(ops.reduce_sum(ops.square(x), axis, keepdims=True), 1e-12)))


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + EPSILON))`` over the last axis."""
    y_true, y_pred = _pair("poisson", y_true, y_pred, same_shape=False)
    return ops.reduce_mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, EPSILON)))), -1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Cross-entropy of integer class labels and probabilities (or logits) over the classes on the
    last axis; labels of shape ``[N]`` or ``[N, 1]``."""
    y_pred = _float(y_pred)
    if axis not in (-1, len(y_pred.shape) - 1):
        raise InvalidArgumentError("sparse_categorical_crossentropy supports the classes on the last axis only")
    labels = sparse_labels("sparse_categorical_crossentropy", y_true, y_pred)
    hot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return ops.negative(ops.reduce_sum(ops.multiply(hot, _log_probabilities(y_pred, from_logits, -1)), -1))


def sparse_labels(name: str, y_true, y_pred):
    """Integer labels, which must be shaped like ``y_pred`` without its class axis (a trailing size-1
    axis is dropped first)."""
    given = ops.cast(y_true, int32)
    labels = given
    if len(labels.shape) == len(y_pred.shape) and labels.shape and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, -1)
    if not y_pred.shape or not _same_shapes(labels.shape, y_pred.shape[:-1]):
        raise shape_error(name, given, y_pred, "integer labels need the shape of y_pred without its last (class) axis")
    return labels


# -- loss objects ------------------------------------------------------------------------------------
REDUCTIONS = ("sum_over_batch_size", "sum", "none")


class Loss:
    """A loss: ``call(y_true, y_pred)`` gives per-example losses, ``__call__`` weights and reduces them."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in REDUCTIONS:
            raise InvalidArgumentError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)

    def call(self, y_true, y_pred):
        raise TypeError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        losses = self.call(y_true, y_pred)
        if sample_weight is not None:
            weights = ops.cast(sample_weight, losses.dtype)
            if len(weights.shape) > len(losses.shape):
                weights = ops.squeeze(weights, -1)
            losses = ops.multiply(losses, weights)
        return reduce_losses(losses, self.reduction)

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def reduce_losses(losses, reduction: str):
    """Per-example ``losses`` reduced as Keras's ``reduction`` says: ``"none"``, ``"sum"`` or the mean
    (``"sum_over_batch_size"``)."""
    if reduction == "none":
        return losses
    total = ops.reduce_sum(losses)
    return total if reduction == "sum" else ops.reduce_mean(losses)


class LossFunctionWrapper(Loss):
    """A loss object around a per-example loss function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return super().get_config() | {"fn": function_name(self.fn, "loss", _FUNCTIONS)} | self._fn_kwargs

    @classmethod
    def from_config(cls, config: dict):
        return cls(**(config | ({"fn": deserialize(config["fn"])} if "fn" in config else {})))


def _loss_class(class_name, fn, doc, default_name=None, check=None, **defaults):
    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}() got unexpected arguments {sorted(unknown)}")
        if check:
            check(**(defaults | kwargs))
        LossFunctionWrapper.__init__(self, fn, reduction, name or default_name or fn.__name__, **(defaults | kwargs))

    def get_config(self):
        return Loss.get_config(self) | self._fn_kwargs

    return type(class_name, (LossFunctionWrapper,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, "Mean of squared errors.")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "Mean of absolute errors.")
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy", binary_crossentropy, "Cross-entropy of 0/1 targets.",
    from_logits=False, label_smoothing=0.0, axis=-1,
)
CategoricalCrossentropy = _loss_class(
    "CategoricalCrossentropy", categorical_crossentropy, "Cross-entropy of one-hot targets.",
    from_logits=False, label_smoothing=0.0, axis=-1,
)
SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, "Cross-entropy of integer labels.",
    from_logits=False, axis=-1,
)

Huber = _loss_class("Huber", huber, "Squared error near the target, absolute error far from it.",
                    default_name="huber_loss", check=lambda delta: _check_delta(delta), delta=1.0)
KLDivergence = _loss_class("KLDivergence", kl_divergence, "Kullback-Leibler divergence of two distributions.")
Hinge = _loss_class("Hinge", hinge, "Hinge loss of -1/1 (or 0/1) targets.")
LogCosh = _loss_class("LogCosh", log_cosh, "Logarithm of the hyperbolic cosine of the error.")
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, "Negative cosine similarity.", axis=-1)
Poisson = _loss_class("Poisson", poisson, "Poisson negative log-likelihood (without the constant).")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "Squared hinge loss of -1/1 (or 0/1) targets.")
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "Hinge loss of one-hot targets.")
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                          "Mean of absolute errors relative to the targets, in percent.")
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "Mean of squared errors between log(1 + targets) and log(1 + predictions).")

mse, mae = mean_squared_error, mean_absolute_error
mape, msle = mean_absolute_percentage_error, mean_squared_logarithmic_error
kld = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
_CLASS_OF_FUNCTION = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy, huber: Huber, kl_divergence: KLDivergence,
    hinge: Hinge, log_cosh: LogCosh, cosine_similarity: CosineSimilarity, poisson: Poisson,
    squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
    mean_absolute_percentage_error: MeanAbsolutePercentageError, mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
}
_FUNCTIONS = {f.__name__: f for f in _CLASS_OF_FUNCTION} | {
    "mse": mean_squared_error, "mae": mean_absolute_error, "kld": kl_divergence,
    "kullback_leibler_divergence": kl_divergence, "logcosh": log_cosh,
    "mape": mean_absolute_percentage_error, "msle": mean_squared_logarithmic_error,
}
_CLASSES = {c.__name__: c for c in _CLASS_OF_FUNCTION.values()}


def get(identifier) -> Loss:
    """A loss object from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, a class name), a
    loss object, or a per-example function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _CLASS_OF_FUNCTION[_FUNCTIONS[identifier]]()
        registered = get_registered_object(identifier)
        if isinstance(registered, type) and issubclass(registered, Loss):
            return registered()
        if callable(registered) and not isinstance(registered, type):  # a registered loss function
            return LossFunctionWrapper(registered)
        raise InvalidArgumentError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_FUNCTIONS))}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        cls = _CLASS_OF_FUNCTION.get(identifier)
        return cls() if cls else LossFunctionWrapper(identifier)
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as a loss")


def serialize(loss):
    """A loss as plain data: ``{"class_name", "config"}`` for a loss object, the name of a built-in or
    registered loss function."""
    return serialize_callable(loss, "loss", Loss, _FUNCTIONS)


def deserialize(config, custom_objects=None):
    """The loss object (from a dict) or function (from a name) that ``serialize`` described."""
    if isinstance(config, str):
        return deserialize_function(config, "loss", _FUNCTIONS, custom_objects)
    return deserialize_object(config, "loss", _CLASSES | {"LossFunctionWrapper": LossFunctionWrapper}, custom_objects)
