"""The core layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Masking`` and ``Dropout``."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_int, as_shape
from graphc.ir.errors import InvalidArgumentError, ShapeError

from .. import activations, nn
from .. import random as gc_random
from .base import Layer
from .kernel_bias import KernelBiasLayer
from .pooling import channels_moved_last, data_format_of
from .serialization import register


@register
class Dense(KernelBiasLayer):
    """``activation(inputs @ kernel + bias)`` over the last axis of the inputs."""

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
        self.units = as_int(units, "units", low=1)

    def kernel_shape(self, input_shape):
        return (self.input_channels(input_shape), self.units)

    def apply_kernel(self, inputs):
        return ops.matmul(inputs, self.kernel)

    def kernel_config(self):
        return {"units": self.units}


@register
class Activation(Layer):
    """Applies an activation function (a name from ``gc.activations`` or a callable)."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return super().get_config() | {"activation": activations.serialize(self.activation)}


@register
class Flatten(Layer):
    """Reshapes ``[batch, d1, d2, ...]`` to ``[batch, d1 * d2 * ...]``; with
    ``data_format="channels_first"`` the channels (axis 1) are moved last first, so the order of the
    values (and of the next layer's weights) is the channels-last one, as Keras."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format, self.name)

    def call(self, inputs):
        if self.data_format == "channels_first" and len(inputs.shape) > 2:
            inputs = channels_moved_last(inputs)
        rest = inputs.shape[1:]
        if any(d is None for d in rest):
            raise ShapeError(f"Flatten needs every dimension but the batch known, got {inputs.shape}")
        return ops.reshape(inputs, [-1, int(np.prod(rest, dtype=np.int64))])


@register
class Reshape(Layer):
    """Reshapes each example to ``target_shape`` (which may hold one -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = as_shape(target_shape, "target_shape", inferred=True)

    def call(self, inputs):
        size = int(np.prod(inputs.shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if self.target_shape.count(-1) > 1 or (known and size % known) or (-1 not in self.target_shape and known != size):
            raise ShapeError(f"layer {self.name!r} cannot reshape examples of shape {inputs.shape[1:]} to {self.target_shape}")
        target = [size // known if d == -1 else d for d in self.target_shape]
        return ops.reshape(inputs, [-1] + target)

    def get_config(self):
        return super().get_config() | {"target_shape": list(self.target_shape)}


@register
class Dropout(Layer):
    """While training, zeroes each input with probability ``rate`` and scales the others by
    ``1 / (1 - rate)`` (``gc.nn.dropout``); otherwise the identity. ``noise_shape`` (None entries: the
    size of the input) drops inputs together along its axes of size 1. Random numbers come from the
    global generator, or from a generator of its own when ``seed`` is given; either way each call of
    a compiled function draws a fresh mask."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise InvalidArgumentError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else as_shape(noise_shape, "noise_shape", one_int=True, unknown=True)
        self.seed = seed
        self.generator = None if seed is None else gc_random.Generator.from_seed(seed, f"{self.name}_generator")

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        generator = self.generator or gc_random.get_global_generator()
        return nn.dropout_with(generator, inputs, self.rate, self.noise_shape)

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return super().get_config() | {"rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}


@register
class Masking(Layer):
    """Marks the steps of sequences [batch, steps, features] whose features all equal
    ``mask_value`` as padding, as ``tf.keras.layers.Masking``: their features become 0, and the
    layers after it in a model get a mask of the other steps (recurrent layers skip the masked ones,
    average pooling leaves them out)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        return ops.greater(ops.reduce_max(ops.cast(ops.not_equal(inputs, self.mask_value), "int32"), -1), 0)

    def call(self, inputs):
        keep = ops.cast(ops.expand_dims(self.compute_mask(inputs), -1), inputs.dtype)
        return ops.multiply(inputs, keep)

    def get_config(self):
        return super().get_config() | {"mask_value": self.mask_value}
