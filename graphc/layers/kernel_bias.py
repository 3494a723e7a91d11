"""The base of ``Dense`` and ``Conv2D``: layers computing ``activation(apply_kernel(inputs) + bias)``."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import ShapeError

from .. import activations, initializers, regularizers
from .base import Layer


class KernelBiasLayer(Layer):
    """A layer computing ``activation(apply_kernel(inputs) + bias)`` with a weight ``kernel`` and, with
    ``use_bias``, a weight ``bias`` holding one value per output channel (the kernel's last axis); each
    weight is made by its initializer and penalized by its regularizer.

    A subclass gives ``kernel_shape(input_shape)``, ``apply_kernel(inputs)`` and ``kernel_config()``, the
    entries of ``get_config`` that describe its kernel."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def kernel_shape(self, input_shape) -> tuple:
        """The kernel's shape for inputs of ``input_shape``; its last axis is the output channels."""
        raise TypeError(f"{type(self).__name__} must define kernel_shape(input_shape)")

    def apply_kernel(self, inputs):
        """The inputs transformed by the kernel, before the bias and the activation."""
        raise TypeError(f"{type(self).__name__} must define apply_kernel(inputs)")

    def kernel_config(self) -> dict:
        """The entries of ``get_config`` that describe the kernel (sizes, strides...)."""
        raise TypeError(f"{type(self).__name__} must define kernel_config()")

    def input_channels(self, input_shape) -> int:
        """The size of the inputs' last axis, which must be known."""
        last = input_shape[-1] if input_shape else None
        if last is None:
            raise ShapeError(f"layer {self.name!r} needs inputs whose last dimension is known, got shape {input_shape}")
        return int(last)

    def build(self, input_shape):
        shape = self.kernel_shape(input_shape)
        self.kernel = self.add_weight(shape, self.kernel_initializer, regularizer=self.kernel_regularizer, name="kernel")
        self.bias = (self.add_weight(shape[-1:], self.bias_initializer, regularizer=self.bias_regularizer,
                                     name="bias") if self.use_bias else None)

    def call(self, inputs):
        outputs = self.apply_kernel(inputs)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def get_config(self):
        return super().get_config() | self.kernel_config() | {
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }
