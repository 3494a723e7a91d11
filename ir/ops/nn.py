"""The ``tf.nn`` composites: activations, cross-entropies and normalization, written with ops the
backends already have (so their gradients and native code come with them).

Each is written so that its automatic gradient is also the numerically right one: branches that
``where`` discards are fed a harmless value (a discarded ``inf`` would still turn the gradient into
``0 * inf = NaN``), and the softmax cross-entropies subtract the maximum logit (held constant by
differentiation) before exponentiating, so that their gradients are ``softmax - labels`` computed
from numbers in [0, 1], finite for any finite logits.
"""
from __future__ import annotations

from ..arguments import normalize_axes, normalize_axis
from ..dispatch import name_scope
from ..errors import DTypeError, ShapeError
from ..types import int32, int64
from . import elementwise as ew
from . import reduction as red
from . import shape as sh
from .common import cast_to, dtype_kind, kind_name, promote, require, shape_of, unchanged, user_op
from .composite import max_shift, reduce_mean
from .creation import range_
from .indexing import gather

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# -- activations ----------------------------------------------------------------------------------
def _exponential_linear(x, alpha):
    """``alpha * (exp(x) - 1)`` for x < 0, else ``x`` (the exponential sees no positive x)."""
    negative = ew.less(x, 0.0)
    return ew.where(negative, ew.multiply(alpha, ew.expm1(ew.where(negative, x, 0.0))), x)


@user_op("elu")
def elu(features):
    """Exponential linear unit: ``exp(x) - 1`` for x < 0, else ``x``."""
    (x,) = promote(features, to_float=True)
    return _exponential_linear(x, 1.0)


@user_op("selu")
def selu(features):
    """Scaled exponential linear unit: ``scale * elu(x)`` with ``alpha * (exp(x) - 1)`` for x < 0
    (``alpha`` ~ 1.6733, ``scale`` ~ 1.0507, the self-normalizing constants)."""
    (x,) = promote(features, to_float=True)
    return ew.multiply(SELU_SCALE, _exponential_linear(x, SELU_ALPHA))


@user_op("leaky_relu")
def leaky_relu(features, alpha=0.2):
    """``x`` for x > 0, else ``alpha * x``."""
    (x,) = promote(features, to_float=True)
    return ew.where(ew.greater(x, 0.0), x, ew.multiply(x, alpha))


@user_op("silu")
def silu(features, beta=1.0):
    """Sigmoid linear unit (swish): ``x * sigmoid(beta * x)``."""
    (x,) = promote(features, to_float=True)
    return ew.multiply(x, ew.sigmoid(ew.multiply(cast_to(beta, dtype_kind(x)), x)))


swish = silu


# -- cross-entropies ------------------------------------------------------------------------------
def _float_logits(logits):
    (logits,) = promote(logits)  # a Python number: its default dtype
    require(dtype_kind(logits), floating=True, what="logits")
    return unchanged(logits)


def _shown(shape) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else "None" for d in shape) + "]"


def _same_dims(a, b) -> bool:
    """Equal ranks and sizes (a size known only at run time matches any size)."""
    return len(a) == len(b) and all(x == y or not isinstance(x, int) or not isinstance(y, int) for x, y in zip(a, b))


def _shifted_log_sum_exp(logits, axis):
    """``logits - m`` and ``log(sum(exp(logits - m)))`` along ``axis`` (kept), with ``m`` the
    maximum held constant by differentiation: the loss is the same for any ``m``, and so is its
    gradient, computed from ``exp(logits - m) <= 1``."""
    shifted = ew.subtract(logits, max_shift(logits, (axis,)))
    return shifted, ew.log(red.reduce_sum(ew.exp(shifted), axis, keepdims=True))


@user_op("softmax_cross_entropy_with_logits")
def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """``-sum(labels * log_softmax(logits))`` along ``axis``: the cross-entropy between ``labels``,
    a probability distribution along ``axis``, and the softmax of ``logits`` (float). ``labels`` are
    cast to the dtype of ``logits`` and need their shape. The gradient is ``softmax(logits) *
    sum(labels) - labels`` for the logits (``softmax - labels`` for a distribution) and
    ``-log_softmax(logits)`` for the labels."""
    with name_scope("softmax_cross_entropy_with_logits"):
        logits = _float_logits(logits)
        labels = ew.cast(labels, logits.dtype)
        if not _same_dims(shape_of(labels), shape_of(logits)):
            raise ShapeError(f"labels and logits must have the same shape, got labels {_shown(shape_of(labels))} "
                             f"and logits {_shown(shape_of(logits))}")
        axis = normalize_axis(axis, len(shape_of(logits)))
        shifted, log_total = _shifted_log_sum_exp(logits, axis)
        return red.reduce_sum(ew.multiply(labels, ew.subtract(log_total, shifted)), axis)


@user_op("sparse_softmax_cross_entropy_with_logits")
def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """``-log_softmax(logits)[..., label]``: the cross-entropy of integer class ``labels`` (int32 or
    int64, of the shape of ``logits`` without its last axis, the classes) and the softmax of
    ``logits``. A label outside ``[0, num_classes)`` is an error when the graph runs (raised by a
    ``gather`` of the label); the number of classes must be known when tracing."""
    with name_scope("sparse_softmax_cross_entropy_with_logits"):
        logits = _float_logits(logits)
        kind = dtype_kind(labels)
        if kind not in (int32, int64):
            got = kind_name(kind)
            raise DTypeError(f"labels must be int32 or int64, got {got}")
        labels = unchanged(labels)
        label_shape, logits_shape = shape_of(labels), shape_of(logits)
        if not logits_shape:
            raise ShapeError(f"logits cannot be scalars, got shape {_shown(logits_shape)}")
        if len(label_shape) != len(logits_shape) - 1:
            raise ShapeError(f"the rank of labels ({len(label_shape)}) must be the rank of logits minus 1 "
                             f"({len(logits_shape)} - 1)")
        if not _same_dims(label_shape, logits_shape[:-1]):
            raise ShapeError(f"labels of shape {_shown(label_shape)} must have the shape of logits "
                             f"{_shown(logits_shape)} without its last axis")
        classes = logits_shape[-1]
        if not isinstance(classes, int):
            raise ShapeError("needs the number of classes (the last axis of logits), which is known only at run time")
        class_ids = range_(0, classes, 1, labels.dtype)
        # the labels are read through a gather from the class ids, which fails for one outside [0,
        # classes) (a negative one first becomes `classes`: gather would count it from the end)
        indices = ew.where(ew.less(labels, 0), classes, labels)
        hits = ew.equal(sh.expand_dims(gather(class_ids, indices), -1), class_ids)
        last = len(logits_shape) - 1
        shifted, log_total = _shifted_log_sum_exp(logits, last)
        picked = red.reduce_sum(ew.where(hits, shifted, 0.0), last)
        return ew.subtract(sh.squeeze(log_total, last), picked)


@user_op("sigmoid_cross_entropy_with_logits")
def sigmoid_cross_entropy_with_logits(labels, logits):
    """``-labels * log(sigmoid(x)) - (1 - labels) * log(1 - sigmoid(x))`` elementwise, computed as
    ``max(x, 0) - x * labels + log(1 + exp(-|x|))``: exact for large |x|. ``labels`` need the shape and
    dtype of the float ``logits``."""
    with name_scope("sigmoid_cross_entropy_with_logits"):
        logits = _float_logits(logits)
        kind = dtype_kind(labels)
        if hasattr(labels, "type") and kind != logits.dtype:
            raise DTypeError(f"labels must have the dtype of logits ({logits.dtype.name}), got {kind.name}")
        labels = ew.cast(labels, logits.dtype)
        if not _same_dims(shape_of(labels), shape_of(logits)):
            raise ShapeError(f"labels and logits must have the same shape, got labels {_shown(shape_of(labels))} "
                             f"and logits {_shown(shape_of(logits))}")
        nonnegative = ew.greater_equal(logits, 0.0)
        positive_part = ew.where(nonnegative, logits, 0.0)
        minus_abs = ew.where(nonnegative, ew.negative(logits), logits)
        return ew.add(ew.subtract(positive_part, ew.multiply(logits, labels)), ew.log1p(ew.exp(minus_abs)))


# -- normalization --------------------------------------------------------------------------------
@user_op("l2_normalize")
def l2_normalize(x, axis=None, epsilon=1e-12):
    """``x / sqrt(max(sum(x**2), epsilon))`` along ``axis`` (None: all axes)."""
    (x,) = promote(x, to_float=True)
    axes = normalize_axes(axis, len(shape_of(x)))
    square_sum = red.reduce_sum(ew.square(x), axes, keepdims=True)
    return ew.multiply(x, ew.rsqrt(ew.maximum(square_sum, epsilon)))


@user_op("moments")
def moments(x, axes, shift=None, keepdims=False):
    """``(mean, variance)`` of ``x`` over ``axes``. ``shift`` is unused, as in TensorFlow 2."""
    (x,) = promote(x, to_float=True)
    axes = normalize_axes(axes, len(shape_of(x)))
    mean = reduce_mean(x, axes, keepdims=True)
    variance = reduce_mean(ew.square(ew.subtract(x, mean)), axes, keepdims=keepdims)
    return (mean if keepdims else sh.squeeze(mean, axes)), variance


@user_op("batch_normalization")
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon):
    """``(x - mean) / sqrt(variance + variance_epsilon) * scale + offset``, with broadcasting;
    ``offset`` and ``scale`` may be None (0 and 1)."""
    inv = ew.rsqrt(ew.add(variance, variance_epsilon))
    if scale is not None:
        inv = ew.multiply(inv, scale)
    shift = ew.negative(ew.multiply(mean, inv)) if offset is None else ew.subtract(offset, ew.multiply(mean, inv))
    return ew.add(ew.multiply(x, inv), shift)
