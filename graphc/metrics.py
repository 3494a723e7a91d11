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
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.types import as_dtype, float32, int32

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


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot target's class is among the ``k`` largest predictions (ties at the
    boundary count as in the top ``k``, as ``tf.math.in_top_k``)."""
    y_true, y_pred = _as_tensor(y_true), _as_tensor(y_pred)
    losses.check_same_shape("top_k_categorical_accuracy", y_true, y_pred)
    hot = ops.one_hot(ops.argmax(y_true, -1), y_pred.shape[-1], dtype=float32)
    target = ops.reduce_max(ops.where(ops.equal(hot, 1.0), y_pred, -np.inf), -1, keepdims=True)
    above = ops.reduce_sum(ops.cast(ops.greater(y_pred, target), float32), -1)
    return ops.cast(ops.less(above, float(k)), float32)


def _check_k(k) -> None:
    if not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"top_k_categorical_accuracy: k must be an integer >= 1, got {k!r}")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target's class is among the ``k`` largest predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        _check_k(k)
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class RootMeanSquaredError(Mean):
    """The square root of the running (weighted) mean of squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = losses.aligned("root_mean_squared_error", y_true, ops.cast(_as_tensor(y_pred), self.dtype))
        squared = ops.square(ops.subtract(y_pred, y_true))
        if len(squared.shape) > 1:  # as Keras: one mean per example, each weighted by its sample weight
            squared = ops.reduce_mean(squared, tuple(range(1, len(squared.shape))))
        super().update_state(squared, sample_weight)

    def result(self):
        return ops.sqrt(super().result())


# -- confusion-matrix metrics -------------------------------------------------------------------------
def _thresholds(name: str, thresholds, default):
    """The thresholds as a tuple of floats in [0, 1] (``default`` when None)."""
    values = tuple(float(t) for t in np.atleast_1d(default if thresholds is None else thresholds))
    if not values or not all(0.0 <= t <= 1.0 for t in values):
        raise InvalidArgumentError(f"{name}: thresholds must be values in [0, 1], got {thresholds!r}")
    return values


def _divide_no_nan(numerator, denominator):
    zero = ops.equal(denominator, 0.0)
    return ops.where(zero, 0.0, ops.divide(numerator, ops.where(zero, 1.0, denominator)))


NEG_INF = -1e10  # Keras's stand-in for predictions outside the top k


class _ConfusionMetric(Metric):
    """Counts (weighted) true/false positives/negatives of ``y_pred > threshold`` against nonzero
    targets, one count per threshold, in variables of shape ``[len(thresholds)]`` (``multi_label``:
    ``[len(thresholds), labels]``, one column per label of the last axis, made on the first update
    unless ``num_labels`` is given). ``top_k`` keeps only each row's k largest predictions (the others
    count as negative), then ``class_id`` picks one label, as Keras."""

    _counts: tuple[str, ...] = ()

    def __init__(self, thresholds, name, dtype, class_id=None, top_k=None, multi_label=False, num_labels=None,
                 label_weights=None):
        super().__init__(name, dtype)
        self.thresholds, self.class_id, self.multi_label = thresholds, class_id, bool(multi_label)
        self.top_k = None if top_k is None else _positive_int(type(self).__name__, "top_k", top_k)
        self.label_weights = None if label_weights is None else np.asarray(label_weights, self.dtype.numpy).reshape(-1)
        if self.label_weights is not None and (self.label_weights < 0).any():
            raise InvalidArgumentError(f"{type(self).__name__}: label_weights must be >= 0, got {label_weights!r}")
        self.num_labels = None
        if not self.multi_label:
            self._make_counts(())
        elif num_labels is not None:
            self._make_counts((_positive_int(type(self).__name__, "num_labels", num_labels),))

    def _make_counts(self, labels: tuple) -> None:
        self.num_labels = labels[0] if labels else None
        for count in self._counts:
            setattr(self, count, self.add_variable(count, (len(self.thresholds), *labels)))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(_as_tensor(y_pred), self.dtype)
        y_true, y_pred = losses.aligned(self.name, y_true, y_pred)
        weight = ops.ones_like(y_pred) if sample_weight is None else ops.cast(sample_weight, self.dtype)
        while len(weight.shape) < len(y_pred.shape):  # one weight per example, or per prediction
            weight = ops.expand_dims(weight, -1)
        weight = ops.broadcast_like(weight, y_pred)
        y_true = ops.broadcast_like(y_true, y_pred)
        if self.top_k is not None:
            _, top = ops.top_k(y_pred, self.top_k)
            kept = ops.greater(ops.reduce_sum(ops.one_hot(top, y_pred.shape[-1], dtype=self.dtype), -2), 0.0)
            y_pred = ops.where(kept, y_pred, NEG_INF)
        if self.class_id is not None:
            y_true, y_pred, weight = (t[..., self.class_id] for t in (y_true, y_pred, weight))
        if self.label_weights is not None and (not y_pred.shape or y_pred.shape[-1] != len(self.label_weights)):
            raise ShapeError(f"{self.name}: {len(self.label_weights)} label_weights for predictions of shape "
                             f"{list(y_pred.shape)} (one weight per label of the last axis)")
        if self.multi_label:
            labels = y_pred.shape[-1] if y_pred.shape else 1
            if self.num_labels is None:
                self._make_counts((labels,))
            if labels != self.num_labels:
                raise ShapeError(f"{self.name}: built for {self.num_labels} labels, got predictions with {labels}")
            rows, thresholds = [1, -1, labels], np.array(self.thresholds)[:, None, None]
        else:
            if self.label_weights is not None:  # weights of the flattened labels, as Keras
                weight = ops.multiply(weight, ops.constant(self.label_weights))
            rows, thresholds = [1, -1], np.array(self.thresholds)[:, None]
        positive = ops.reshape(ops.not_equal(y_true, 0.0), rows)
        weight = ops.reshape(weight, rows)
        above = ops.greater(ops.reshape(y_pred, rows), ops.constant(thresholds, self.dtype))
        cases = {"true_positives": ops.logical_and(positive, above),
                 "false_positives": ops.logical_and(ops.logical_not(positive), above),
                 "true_negatives": ops.logical_not(ops.logical_or(positive, above)),
                 "false_negatives": ops.logical_and(positive, ops.logical_not(above))}
        for count in self._counts:
            getattr(self, count).assign_add(ops.reduce_sum(ops.multiply(ops.cast(cases[count], self.dtype), weight), 1))

    def _counted(self, what: str) -> None:
        if self.num_labels is None and self.multi_label:
            raise InvalidArgumentError(f"{self.name}.{what}: no update yet, so the number of labels is unknown")


def _positive_int(owner: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{owner}: {what} must be an integer >= 1, got {value!r}")
    return int(value)


class _PrecisionRecall(_ConfusionMetric):
    _counts = ("true_positives",)
    _other = ""  # the count that, added to the true positives, is the denominator

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self._given_thresholds = thresholds
        if thresholds is None and top_k is not None:
            values = (NEG_INF,)  # among the top k is positive
        else:
            values = _thresholds(snake_case(type(self).__name__), thresholds, 0.5)
        super().__init__(values, name, dtype, class_id, top_k)

    def result(self):
        true_positives = self.true_positives.read_value()
        value = _divide_no_nan(true_positives, ops.add(true_positives, getattr(self, self._other).read_value()))
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return super().get_config() | {"thresholds": self._given_thresholds, "top_k": self.top_k,
                                       "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """The fraction of predicted positives (``y_pred > threshold``) whose target is positive, per
    threshold (a scalar for one threshold; 0.5 by default; with ``top_k``, a prediction is positive
    when it is among its row's k largest)."""

    _counts = ("true_positives", "false_positives")
    _other = "false_positives"


class Recall(_PrecisionRecall):
    """The fraction of positive targets predicted positive (``y_pred > threshold``), per threshold (a
    scalar for one threshold; 0.5 by default; with ``top_k``, a prediction is positive when it is
    among its row's k largest)."""

    _counts = ("true_positives", "false_negatives")
    _other = "false_negatives"


CURVES, SUMMATIONS = ("ROC", "PR"), ("interpolation", "minoring", "majoring")


class AUC(_ConfusionMetric):
    """The area under the ROC or precision-recall curve, from the confusion counts at
    ``num_thresholds`` evenly spaced thresholds (or the given ``thresholds``), summed as Keras sums
    it: trapezoids (``interpolation``; for PR, Davis and Goadrich's interpolation), or the lower
    (``minoring``) or upper (``majoring``) Riemann sum. ``multi_label``: one curve per label of the
    last axis, their areas averaged (weighted by ``label_weights`` when given); otherwise the labels
    are flattened into one curve (each weighted by ``label_weights``)."""

    _counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        curve = curve.upper() if isinstance(curve, str) else curve
        if curve not in CURVES:
            raise InvalidArgumentError(f"AUC: curve must be one of {CURVES}, got {curve!r}")
        if summation_method not in SUMMATIONS:
            raise InvalidArgumentError(f"AUC: summation_method must be one of {SUMMATIONS}, got {summation_method!r}")
        if thresholds is None:
            if not isinstance(num_thresholds, int) or num_thresholds < 2:
                raise InvalidArgumentError(f"AUC: num_thresholds must be an integer > 1, got {num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        else:
            inner = list(_thresholds("AUC", thresholds, None))
            num_thresholds = len(inner) + 2
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve, summation_method
        self.from_logits, self._given_thresholds = from_logits, thresholds
        super().__init__(tuple([-losses.EPSILON] + inner + [1.0 + losses.EPSILON]), name, dtype,
                         multi_label=multi_label, num_labels=num_labels, label_weights=label_weights)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_tensor(y_pred)
        super().update_state(y_true, ops.sigmoid(y_pred) if self.from_logits else y_pred, sample_weight)

    def result(self):
        self._counted("result")
        tp, fp, tn, fn = (getattr(self, c).read_value() for c in self._counts)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._over_labels(_interpolated_pr_auc(tp, fp, fn))
        recall = _divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, ops.add(fp, tn)), recall
        else:
            x, y = recall, _divide_no_nan(tp, ops.add(tp, fp))
        if self.summation_method == "interpolation":
            heights = ops.multiply(ops.add(y[:-1], y[1:]), 0.5)
        else:
            heights = (ops.minimum if self.summation_method == "minoring" else ops.maximum)(y[:-1], y[1:])
        return self._over_labels(ops.multiply(ops.subtract(x[:-1], x[1:]), heights))

    def _over_labels(self, pieces):
        """The area from its pieces (one row per threshold step): summed, then, for several labels,
        averaged over them."""
        areas = ops.reduce_sum(pieces, 0)
        if not self.multi_label:
            return areas
        if self.label_weights is None:
            return ops.reduce_mean(areas)
        weights = ops.constant(self.label_weights)
        return _divide_no_nan(ops.reduce_sum(ops.multiply(areas, weights)), ops.reduce_sum(weights))

    def get_config(self):
        return super().get_config() | {
            "num_thresholds": self.num_thresholds, "curve": self.curve, "summation_method": self.summation_method,
            "thresholds": self._given_thresholds, "multi_label": self.multi_label, "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self.from_logits}


def _interpolated_pr_auc(tp, fp, fn):
    """Davis and Goadrich (2006): precision interpolated between thresholds as Keras does; one piece
    per threshold step."""
    d_tp = ops.subtract(tp[:-1], tp[1:])
    p = ops.add(tp, fp)
    d_p = ops.subtract(p[:-1], p[1:])
    slope = _divide_no_nan(d_tp, ops.maximum(d_p, 0.0))
    intercept = ops.subtract(tp[1:], ops.multiply(slope, p[1:]))
    both = ops.logical_and(ops.greater(p[:-1], 0.0), ops.greater(p[1:], 0.0))
    ratio = ops.where(both, _divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), 1.0)
    return _divide_no_nan(ops.multiply(slope, ops.add(d_tp, ops.multiply(intercept, ops.log(ratio)))),
                          ops.maximum(ops.add(tp[1:], fn[1:]), 0.0))


class MeanIoU(Metric):
    """The intersection over union, averaged over the classes that occur, of integer class labels
    (or, with ``sparse_y_true``/``sparse_y_pred`` False, the argmax over ``axis``), from a running
    ``[num_classes, num_classes]`` confusion matrix; ``ignore_class`` targets are skipped."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise InvalidArgumentError(f"MeanIoU: num_classes must be an integer >= 1, got {num_classes!r}")
        super().__init__(name, dtype)
        self.num_classes, self.ignore_class, self.axis = num_classes, ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.total_cm = self.add_variable("total_confusion_matrix", (num_classes, num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _as_tensor(y_true), _as_tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, self.axis)
        y_true, y_pred = ops.reshape(ops.cast(y_true, int32), [-1]), ops.reshape(ops.cast(y_pred, int32), [-1])
        weight = ops.ones_like(ops.cast(y_true, self.dtype))
        if sample_weight is not None:
            weight = ops.multiply(weight, ops.reshape(ops.cast(sample_weight, self.dtype), [-1]))
        if self.ignore_class is not None:
            weight = ops.where(ops.equal(y_true, self.ignore_class), 0.0, weight)
        rows = ops.one_hot(y_true, self.num_classes, dtype=self.dtype)
        columns = ops.multiply(ops.one_hot(y_pred, self.num_classes, dtype=self.dtype), ops.expand_dims(weight, -1))
        self.total_cm.assign_add(ops.matmul(ops.transpose(rows), columns))

    def result(self):
        matrix = self.total_cm.read_value()
        true_positives = ops.reduce_sum(ops.multiply(matrix, np.eye(self.num_classes, dtype=self.dtype.numpy)), 0)
        union = ops.subtract(ops.add(ops.reduce_sum(matrix, 0), ops.reduce_sum(matrix, 1)), true_positives)
        present = ops.reduce_sum(ops.cast(ops.not_equal(union, 0.0), self.dtype))
        return _divide_no_nan(ops.reduce_sum(_divide_no_nan(true_positives, union)), present)

    def get_config(self):
        return super().get_config() | {
            "num_classes": self.num_classes, "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy, "root_mean_squared_error": RootMeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
_BY_CLASS = {c.__name__: c for c in (Sum, Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                     SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                                     TopKCategoricalAccuracy, RootMeanSquaredError, Precision, Recall, AUC, MeanIoU)}


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
        if cls is None:
            raise InvalidArgumentError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(sorted(_BY_NAME))}")
        return cls(name=identifier)
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
