"""Normalization layers: ``BatchNormalization``."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.arguments import as_int
from graphc.ir.errors import ShapeError

from .. import initializers, regularizers
from .base import Layer
from .serialization import register


@register
class BatchNormalization(Layer):
    """Normalizes over the batch (and every axis but ``axis``): with the batch's statistics while
    training, which also updates the moving mean and variance (non-trainable weights:
    ``moving = moving * momentum + batch * (1 - momentum)``), with the moving statistics otherwise. A
    layer set ``trainable = False`` always uses the moving statistics (as Keras)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
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
            mean = ops.reduce_mean(inputs, reduce_axes)
            variance = ops.reduce_variance(inputs, reduce_axes)
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(ops.add(ops.multiply(moving, self.momentum), ops.multiply(batch, 1.0 - self.momentum)))
        else:
            mean, variance = self.moving_mean.read_value(), self.moving_variance.read_value()
        factor = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.gamma is not None:
            factor = ops.multiply(factor, self.gamma)
        shift = ops.negative(ops.multiply(mean, factor))
        if self.beta is not None:
            shift = ops.add(shift, self.beta)
        return ops.add(ops.multiply(inputs, ops.reshape(factor, broadcast)), ops.reshape(shift, broadcast))

    def get_config(self):
        return super().get_config() | {
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }

