"""Normalization layers: ``BatchNormalization``, ``LayerNormalization``, ``GroupNormalization``."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_int, normalize_axes
from graphc.ir.ops import nn as nn_ops
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.types import float16, float32

from .. import initializers, regularizers
from ..distribute.context import get_replica_context
from .base import Layer
from .serialization import register


@register
class BatchNormalization(Layer):
    """Normalizes over the batch (and every axis but ``axis``): with the batch's statistics while
    training, which also updates the moving mean and variance (non-trainable weights:
    ``moving = moving * momentum + batch * (1 - momentum)``), with the moving statistics otherwise. A
    layer set ``trainable = False`` always uses the moving statistics (as Keras).

    ``synchronized=True`` (Keras 3's argument): under a ``gc.distribute`` strategy, the statistics
    while training are those of the global batch, all-reduced across the replicas at each step
    (mean and variance from the sums of ``x`` and ``x**2``, as Keras computes them), so N replicas
    train as one process on their combined batch; in one process it is the ordinary layer."""

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(synchronized, bool):
            raise InvalidArgumentError(f"layer {self.name!r}: synchronized must be True or False, got {synchronized!r}")
        self.synchronized = synchronized
        self.axis, self.momentum, self.epsilon = as_int(axis, "axis"), float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ShapeError(f"layer {self.name!r}: axis {self.axis} is out of range for inputs of shape {input_shape}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ShapeError(f"layer {self.name!r} needs the size of axis {self.axis} known, got shape {input_shape}")
        shape = (int(dim),)
        self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                    name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")

    def call(self, inputs, training=False):
        rank = len(inputs.shape)
        axis = self.axis % rank
        reduce_axes = [a for a in range(rank) if a != axis]
        broadcast = [1 if a != axis else -1 for a in range(rank)]
        if training and self.trainable:
            mean, variance = self._batch_moments(inputs, reduce_axes)
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(ops.add(ops.multiply(moving, self.momentum), ops.multiply(batch, 1.0 - self.momentum)))
        else:
            mean, variance = self.moving_mean.read_value(), self.moving_variance.read_value()
        mean, variance, beta, gamma = (None if v is None else ops.reshape(v, broadcast)
                                       for v in (mean, variance, self.beta, self.gamma))
        return nn_ops.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)

    def _batch_moments(self, inputs, reduce_axes):
        """The batch's mean and variance: this replica's, or with ``synchronized`` the global batch's."""
        replica = get_replica_context()
        if not self.synchronized or replica.num_replicas_in_sync == 1:
            return nn_ops.moments(inputs, reduce_axes)
        # sums of float16 squares overflow early: the exchange is in float32, as Keras computes statistics
        x = ops.cast(inputs, float32) if inputs.dtype == float16 else inputs
        dims = [inputs.shape[a] for a in reduce_axes]
        count = (ops.reduce_sum(ops.ones_like(x), reduce_axes) if None in dims
                 else ops.fill([int(inputs.shape[self.axis % len(inputs.shape)])], float(np.prod(dims)), x.dtype))
        total, total_squares, count = replica.all_reduce(
            "SUM", [ops.reduce_sum(x, reduce_axes), ops.reduce_sum(ops.square(x), reduce_axes), count])
        mean = ops.divide(total, count)
        variance = ops.maximum(ops.subtract(ops.divide(total_squares, count), ops.square(mean)), 0.0)
        return ops.cast(mean, inputs.dtype), ops.cast(variance, inputs.dtype)

    def get_config(self):
        return super().get_config() | {
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }



class _AffineNormalization(Layer):
    """Normalizes with statistics of each example (no moving statistics), then scales by ``gamma``
    and shifts by ``beta``, weights of one value per element of the normalized ``axis``."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _axes(self, rank: int) -> tuple[int, ...]:
        return normalize_axes(self.axis, rank, f"layer {self.name!r}: axis", none_means_all=False)

    def _add_affine_weights(self, input_shape, axes) -> None:
        dims = [input_shape[a] for a in axes]
        if any(d is None for d in dims):
            raise ShapeError(f"layer {self.name!r} needs the sizes of axes {list(axes)} known, got shape {input_shape}")
        shape = tuple(int(d) for d in dims)
        self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                    name="beta") if self.center else None

    def _scale_and_shift(self, normalized, axes):
        rank = len(normalized.shape)
        broadcast = [normalized.shape[a] if a in axes else 1 for a in range(rank)]
        if self.gamma is not None:
            normalized = ops.multiply(normalized, ops.reshape(self.gamma, broadcast))
        if self.beta is not None:
            normalized = ops.add(normalized, ops.reshape(self.beta, broadcast))
        return normalized

    def _standardize(self, x, axes):
        mean = ops.reduce_mean(x, axes, keepdims=True)
        variance = ops.reduce_variance(x, axes, keepdims=True)
        return ops.multiply(ops.subtract(x, mean), ops.rsqrt(ops.add(variance, self.epsilon)))

    def get_config(self):
        return super().get_config() | {
            "axis": list(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis,
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


@register
class LayerNormalization(_AffineNormalization):
    """Normalizes each example over ``axis`` (an int or a list, default the last): ``(x - mean) /
    sqrt(variance + epsilon) * gamma + beta``, as ``tf.keras.layers.LayerNormalization``."""

    supports_masking = True

    def build(self, input_shape):
        self._add_affine_weights(input_shape, self._axes(len(input_shape)))

    def call(self, inputs):
        axes = self._axes(len(inputs.shape))
        return self._scale_and_shift(self._standardize(inputs, axes), axes)


@register
class GroupNormalization(_AffineNormalization):
    """Splits the channels (``axis``, default the last) into ``groups`` groups and normalizes each
    example over each group and every axis but the batch, as ``tf.keras.layers.GroupNormalization``;
    ``gamma`` and ``beta`` hold one value per channel. ``groups`` must divide the channels."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(as_int(axis, "axis"), epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.groups = as_int(groups, "groups", low=1)

    def build(self, input_shape):
        (axis,) = self._axes(len(input_shape))
        if axis == 0:
            raise ShapeError(f"layer {self.name!r}: axis 0 is the batch, it cannot hold the channels")
        channels = input_shape[axis]
        if channels is not None and (channels < self.groups or channels % self.groups):
            raise ShapeError(f"layer {self.name!r}: {self.groups} groups must divide the {channels} channels of "
                             f"axis {self.axis} (inputs of shape {input_shape})")
        self._add_affine_weights(input_shape, (axis,))

    def call(self, inputs):
        shape = inputs.shape
        (axis,) = self._axes(len(shape))
        if any(d is None for d in shape[1:]):
            raise ShapeError(f"layer {self.name!r} needs every size but the batch known, got shape {shape}")
        grouped = [-1, *shape[1:axis], self.groups, shape[axis] // self.groups, *shape[axis + 1:]]
        x = ops.reshape(inputs, grouped)
        statistics_axes = [a for a in range(1, len(grouped)) if a != axis]
        x = ops.reshape(self._standardize(x, statistics_axes), [-1, *shape[1:]])
        return self._scale_and_shift(x, (axis,))

    def get_config(self):
        return super().get_config() | {"groups": self.groups}
