"""Convolution and pooling of NHWC images: ``Conv2D``, ``MaxPool2D``, ``AveragePool2D``."""
from __future__ import annotations

from graphc.ir.arguments import as_int
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.ops import conv as conv_ops

from .base import Layer
from .kernel_bias import KernelBiasLayer
from .serialization import register


@register
class Conv2D(KernelBiasLayer):
    """2-D convolution of NHWC images with ``filters`` kernels of ``kernel_size``; ``padding`` is
    ``"valid"`` or ``"same"``. Computed as image patches times the kernel matrix (im2col)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
        self.filters = as_int(filters, "filters", low=1)
        self.kernel_size = conv_ops.pair(kernel_size, "kernel_size")
        self.strides = conv_ops.pair(strides, "strides")
        self.padding = _padding_mode(padding)

    def kernel_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} expects images [batch, height, width, channels], got shape {input_shape}")
        return self.kernel_size + (self.input_channels(input_shape), self.filters)

    def apply_kernel(self, inputs):
        return conv_ops.conv2d(inputs, self.kernel, self.strides, self.padding)

    def kernel_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding}


def _padding_mode(padding) -> str:
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise InvalidArgumentError(f"padding must be 'valid' or 'same', got {padding!r}")
    return mode


class _Pooling2D(Layer):
    _pool = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = conv_ops.pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else conv_ops.pair(strides, "strides")
        self.padding = _padding_mode(padding)

    def call(self, inputs):
        return type(self)._pool(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return super().get_config() | {
            "pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding,
        }


@register
class MaxPool2D(_Pooling2D):
    """The maximum over each ``pool_size`` window of NHWC images (strides default to the window)."""

    _pool = staticmethod(conv_ops.max_pool2d)


@register
class AveragePool2D(_Pooling2D):
    """The mean over each ``pool_size`` window of NHWC images (with ``"same"``, of the elements inside)."""

    _pool = staticmethod(conv_ops.avg_pool2d)


MaxPooling2D = register(MaxPool2D, "MaxPooling2D")
AveragePooling2D = register(AveragePool2D, "AveragePooling2D")

