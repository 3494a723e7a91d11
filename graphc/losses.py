"""``gc.losses``: loss functions (per example) and loss objects (reduced to a scalar), as Keras.

A loss object is called as ``loss(y_true, y_pred, sample_weight=None)``: the per-example losses,
times ``sample_weight``, reduced by ``reduction``: ``"sum_over_batch_size"`` (the default: the sum
divided by the number of examples), ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.ops.common import promote
from graphc.ir.types import int32

from .module import snake_case

EPSILON = 1e-7  # Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON]


def _float(x):
    """``x`` as a float tensor (integers become floats)."""
    (x,) = promote(x, to_float=True)
    return x


def _pair(y_true, y_pred):
    """Targets in the dtype of the (float) predictions."""
    y_pred = _float(y_pred)
    return ops.cast(y_true, y_pred.dtype), y_pred


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)**2)`` over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.reduce_mean(ops.square(ops.subtract(y_pred, y_true)), -1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|)`` over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.reduce_mean(ops.abs(ops.subtract(y_pred, y_true)), -1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy of 0/1 targets and probabilities (or logits), averaged over ``axis``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:  # max(x, 0) - x * z + log(1 + exp(-|x|)), stable for any x
        terms = ops.add(ops.subtract(ops.relu(y_pred), ops.multiply(y_pred, y_true)),
                        ops.log1p(ops.exp(ops.negative(ops.abs(y_pred)))))
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
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    return ops.negative(ops.reduce_sum(ops.multiply(y_true, _log_probabilities(y_pred, from_logits, axis)), axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Cross-entropy of integer class labels and probabilities (or logits) over the classes on the
    last axis; labels of shape ``[N]`` or ``[N, 1]``."""
    y_pred = _float(y_pred)
    if axis not in (-1, len(y_pred.shape) - 1):
        raise InvalidArgumentError("sparse_categorical_crossentropy supports the classes on the last axis only")
    labels = sparse_labels(y_true, y_pred)
    hot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return ops.negative(ops.reduce_sum(ops.multiply(hot, _log_probabilities(y_pred, from_logits, -1)), -1))


def sparse_labels(y_true, y_pred):
    """Integer labels shaped like ``y_pred`` without its class axis (a trailing size-1 axis dropped)."""
    shape = tuple(getattr(y_true, "shape", ()))
    if len(shape) == len(y_pred.shape) and shape and shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return ops.cast(y_true, int32)


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
        return super().get_config() | self._fn_kwargs


def _loss_class(class_name, fn, doc, **defaults):
    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}() got unexpected arguments {sorted(unknown)}")
        LossFunctionWrapper.__init__(self, fn, reduction, name or fn.__name__, **(defaults | kwargs))

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

mse, mae = mean_squared_error, mean_absolute_error
_FUNCTIONS = {
    f.__name__: f for f in (mean_squared_error, mean_absolute_error, binary_crossentropy,
                            categorical_crossentropy, sparse_categorical_crossentropy)
} | {"mse": mean_squared_error, "mae": mean_absolute_error}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                                     CategoricalCrossentropy, SparseCategoricalCrossentropy)}
_CLASS_OF_FUNCTION = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}


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
        raise InvalidArgumentError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_FUNCTIONS))}")
    if callable(identifier):
        cls = _CLASS_OF_FUNCTION.get(identifier)
        return cls() if cls else LossFunctionWrapper(identifier)
    raise InvalidArgumentError(f"cannot interpret {identifier!r} as a loss")
