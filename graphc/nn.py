"""Neural-network ops (``gc.nn``), as in ``tf.nn``."""
from __future__ import annotations

import numbers

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_shape
from graphc.ir.errors import DTypeError, InvalidArgumentError, ShapeError
from graphc.ir.ops import nn as nn_ops
from graphc.ir.ops.common import shape_of, unchanged, user_op
from graphc.ir.ops import (  # noqa: F401
    gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh,
)
from graphc.ir.ops.conv import (  # noqa: F401
    avg_pool2d, conv1d, conv2d, conv2d_transpose, depthwise_conv2d, max_pool2d,
)
from graphc.ir.ops.nn import (  # noqa: F401
    batch_normalization, elu, l2_normalize, leaky_relu, moments, selu, sigmoid_cross_entropy_with_logits, silu,
    softmax_cross_entropy_with_logits, swish,
)

from . import random as gc_random
from .tensor import Tensor
from .tracing import constant_value


__all__ = [  # the public names (the module also imports helpers)
    "avg_pool2d", "batch_normalization", "conv1d", "conv2d", "conv2d_transpose", "depthwise_conv2d", "dropout",
    "elu", "gelu", "l2_normalize", "leaky_relu", "log_softmax", "max_pool2d", "moments", "relu", "selu",
    "sigmoid", "sigmoid_cross_entropy_with_logits", "silu", "softmax", "softmax_cross_entropy_with_logits",
    "softplus", "sparse_softmax_cross_entropy_with_logits", "swish", "tanh",
]


@user_op("sparse_softmax_cross_entropy_with_logits")
def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """``-log_softmax(logits)[..., label]``: the cross-entropy of integer class ``labels`` (int32 or
    int64, shaped like ``logits`` without its last axis, the classes) and the softmax of ``logits``.

    A label outside ``[0, num_classes)`` is an error, as TensorFlow's on CPU: raised at once when
    the labels are known while tracing (eagerly, or computed from constants), else when the compiled
    function runs (an ``InvalidArgumentError`` from the ``gather`` that reads the labels)."""
    known = _known_value(labels)
    logits_shape = shape_of(logits)
    if known is not None and known.dtype.kind == "i" and known.ndim == len(logits_shape) - 1:
        classes = logits_shape[-1]
        outside = known[(known < 0) | (known >= classes)] if isinstance(classes, int) else known[:0]
        if outside.size:
            shown = " ".join(map(str, known.ravel()[:20])) + (" ..." if known.size > 20 else "")
            raise InvalidArgumentError(f"Received a label value of {outside[0]} which is outside the valid range "
                                       f"of [0, {classes}). Label values: {shown}")
    return nn_ops.sparse_softmax_cross_entropy_with_logits(labels, logits)


def _known_value(x) -> np.ndarray | None:
    """The value of ``x`` if it is known while tracing: an array, a list, an eager tensor, a tensor
    computed from constants (not a variable, whose value may change)."""
    if isinstance(x, Tensor):
        return constant_value(x)
    return None if hasattr(x, "_as_tensor") or hasattr(x, "type") else np.asarray(x)


@user_op("dropout")
def dropout(x, rate, noise_shape=None, seed=None):
    """Zeroes each element of ``x`` with probability ``rate`` and scales the others by ``1 / (1 -
    rate)``. Elements are dropped independently, or together along the axes where ``noise_shape``
    (broadcast to the shape of ``x``; a None takes the size of ``x``) is 1. The random numbers come
    from the global generator, or for an op-level ``seed`` from one of its own (see
    ``gc.random.set_seed``): fresh on every call, of a compiled function too."""
    return dropout_with(gc_random.generator_for(seed), x, rate, noise_shape)


def dropout_with(generator, x, rate, noise_shape=None):
    """``dropout`` drawing its random numbers from ``generator`` (a ``gc.random.Generator``)."""
    x = unchanged(x)
    if not x.dtype.is_floating:
        raise DTypeError(f"x must be a float tensor (it is scaled), got {x.dtype.name}")
    if isinstance(rate, numbers.Real):
        if not 0 <= rate < 1:
            raise InvalidArgumentError(f"rate must be a scalar tensor or a number in [0, 1), got {rate}")
        if rate == 0:
            return x
        scaled = ops.multiply(x, 1 / (1 - rate))
    else:
        if shape_of(rate):
            raise ShapeError(f"rate must be a scalar, got shape {list(shape_of(rate))}")
        rate = ops.cast(rate, x.dtype)
        scaled = ops.divide(x, ops.subtract(1.0, rate))
    noise = generator.uniform_like(_noise_like(x, noise_shape))
    return ops.multiply(scaled, ops.cast(ops.greater_equal(noise, rate), x.dtype))


def _noise_like(x, noise_shape):
    """A tensor of the shape of the random numbers: ``x`` itself, or a slice of it of size 1 along the
    axes where ``noise_shape`` is 1 (its sizes may be known only at run time)."""
    if noise_shape is None:
        return x
    noise = as_shape(noise_shape, "noise_shape", one_int=True, unknown=True)
    shape = shape_of(x)
    if len(noise) > len(shape):
        raise ShapeError(f"noise_shape {list(noise)} has more axes than x ({len(shape)})")
    noise = (1,) * (len(shape) - len(noise)) + noise
    index, dropped = [], []
    for axis, (n, d) in enumerate(zip(noise, shape)):
        if n is None or n == d:
            index.append(slice(None))
        elif n == 1 and isinstance(d, int):
            index.append(slice(0, 1))
        elif n == 1:  # a slice of a size known only at run time would have a size known only then
            index.append(0)
            dropped.append(axis)
        else:
            size = d if isinstance(d, int) else "known only at run time"
            raise ShapeError(f"noise_shape {list(noise_shape)} does not broadcast to the shape of x: "
                             f"axis {axis} has size {n} in noise_shape, {size} in x (noise_shape needs 1, None or the same size)")
    like = ops.getitem(x, tuple(index))
    return ops.expand_dims(like, dropped) if dropped else like
