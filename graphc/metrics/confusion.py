"""Metrics of confusion counts kept per threshold or class, as Keras's: the counts themselves
(``TruePositives`` ...), ``Precision`` and ``Recall`` (with thresholds, ``top_k`` and ``class_id``), ``AUC`` (ROC or PR, with interpolation,
``multi_label`` and ``label_weights``) and ``MeanIoU``."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.types import int32

from .. import losses
from ..module import snake_case
from .base import Metric, as_tensor


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
        y_pred = ops.cast(as_tensor(y_pred), self.dtype)
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


class _ConfusionCount(_ConfusionMetric):
    """The (weighted) count of one kind of prediction (``y_pred > threshold`` against nonzero
    targets) per threshold: a scalar for one threshold, 0.5 by default."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._given_thresholds = thresholds
        super().__init__(_thresholds(snake_case(type(self).__name__), thresholds, 0.5), name, dtype)

    def result(self):
        counts = getattr(self, self._counts[0]).read_value()
        return counts[0] if len(self.thresholds) == 1 else counts

    def get_config(self):
        return super().get_config() | {"thresholds": self._given_thresholds}


class TruePositives(_ConfusionCount):
    """How many (weighted) positive targets were predicted positive."""

    _counts = ("true_positives",)


class FalsePositives(_ConfusionCount):
    """How many (weighted) negative targets were predicted positive."""

    _counts = ("false_positives",)


class TrueNegatives(_ConfusionCount):
    """How many (weighted) negative targets were predicted negative."""

    _counts = ("true_negatives",)


class FalseNegatives(_ConfusionCount):
    """How many (weighted) positive targets were predicted negative."""

    _counts = ("false_negatives",)


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
        y_pred = as_tensor(y_pred)
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
        y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
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
