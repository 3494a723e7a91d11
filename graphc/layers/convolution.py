"""Convolution and pooling: ``Conv2D``, ``Conv1D``, ``DepthwiseConv2D``, ``SeparableConv2D``,
``Conv2DTranspose`` (NHWC images, NWC sequences), ``MaxPool2D``, ``AveragePool2D``. Each also takes
``data_format="channels_first"`` (NCHW, NCW) and then computes in channels-last order between two
transposes, as Keras does on CPU."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.arguments import as_int
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.ops import conv as conv_ops

from .. import initializers
from .base import Layer
from .kernel_bias import KernelBiasLayer
from .pooling import channels_moved_last, data_format_of
from .serialization import register


def channels_last_call(compute, inputs, data_format: str):
    """``compute(inputs)`` on channels-last inputs; channels-first ones are transposed to channels last
    and the result back."""
    if data_format == "channels_last":
        return compute(inputs)
    rank = len(inputs.shape)
    outputs = compute(channels_moved_last(inputs))
    return ops.transpose(outputs, [0, rank - 1, *range(1, rank - 1)])


class _DataFormat:
    """``data_format`` for the convolutions: their channels are axis 1 with ``"channels_first"``."""

    def __init__(self, *args, data_format=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_format = data_format_of(data_format, self.name)

    def input_channels(self, input_shape) -> int:
        if self.data_format == "channels_last" or len(input_shape) < 2:
            return super().input_channels(input_shape)
        return super().input_channels(tuple(input_shape[:1]) + tuple(input_shape[2:]) + (input_shape[1],))

    def call(self, inputs):
        return channels_last_call(super().call, inputs, self.data_format)

    def get_config(self):
        return super().get_config() | {"data_format": self.data_format}


@register
class Conv2D(_DataFormat, KernelBiasLayer):
    """2-D convolution of NHWC images with ``filters`` kernels of ``kernel_size``; ``padding`` is
    ``"valid"`` or ``"same"``. Computed as image patches times the kernel matrix (im2col)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, dilation_rate=(1, 1), **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
        self.filters = as_int(filters, "filters", low=1)
        self.kernel_size = conv_ops.pair(kernel_size, "kernel_size")
        self.strides = conv_ops.pair(strides, "strides")
        self.dilation_rate = conv_ops.pair(dilation_rate, "dilation_rate")
        self.padding = _padding_mode(padding)

    def kernel_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} expects images [batch, height, width, channels], got shape {input_shape}")
        return self.kernel_size + (self.input_channels(input_shape), self.filters)

    def apply_kernel(self, inputs):
        return conv_ops.conv2d(inputs, self.kernel, self.strides, self.padding, self.dilation_rate)

    def kernel_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate)}


@register
class Conv1D(_DataFormat, KernelBiasLayer):
    """1-D convolution of sequences [batch, steps, channels] with ``filters`` kernels of
    ``kernel_size`` taps, as ``tf.keras.layers.Conv1D``; kernel [kernel_size, channels, filters]."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, **kwargs)
        self.filters = as_int(filters, "filters", low=1)
        self.kernel_size = _single(kernel_size, "kernel_size")
        self.strides = _single(strides, "strides")
        self.dilation_rate = _single(dilation_rate, "dilation_rate")
        self.padding = _padding_mode(padding)

    def kernel_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ShapeError(f"layer {self.name!r} expects sequences [batch, steps, channels], got shape {input_shape}")
        return (self.kernel_size, self.input_channels(input_shape), self.filters)

    def apply_kernel(self, inputs):
        return conv_ops.conv1d(inputs, self.kernel, self.strides, self.padding, self.dilation_rate)

    def kernel_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate}


@register
class DepthwiseConv2D(_DataFormat, KernelBiasLayer):
    """Each input channel convolved with ``depth_multiplier`` filters of its own, as
    ``tf.keras.layers.DepthwiseConv2D``; kernel ``depthwise_kernel`` [kh, kw, channels, multiplier],
    bias [channels * multiplier]."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, dilation_rate=(1, 1),
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, **kwargs)
        self.kernel_size = conv_ops.pair(kernel_size, "kernel_size")
        self.strides = conv_ops.pair(strides, "strides")
        self.dilation_rate = conv_ops.pair(dilation_rate, "dilation_rate")
        self.depth_multiplier = as_int(depth_multiplier, "depth_multiplier", low=1)
        self.padding = _padding_mode(padding)

    def build(self, input_shape):
        self._build_depthwise(input_shape)
        self._build_bias(self.input_channels(input_shape) * self.depth_multiplier)

    def _build_depthwise(self, input_shape) -> None:
        if len(input_shape) != 4:
            raise ShapeError(f"layer {self.name!r} expects images [batch, height, width, channels], got shape {input_shape}")
        self.depthwise_kernel = self.add_weight(self.kernel_size + (self.input_channels(input_shape), self.depth_multiplier),
                                                self.kernel_initializer, regularizer=self.kernel_regularizer,
                                                name="depthwise_kernel")

    def _build_bias(self, channels: int) -> None:
        self.bias = (self.add_weight((channels,), self.bias_initializer, regularizer=self.bias_regularizer, name="bias")
                     if self.use_bias else None)

    def apply_kernel(self, inputs):
        return conv_ops.depthwise_conv2d(inputs, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate)

    def kernel_config(self):
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "depth_multiplier": self.depth_multiplier, "dilation_rate": list(self.dilation_rate)}

    def get_config(self):
        config = super().get_config()
        for keras_name, name in (("depthwise_initializer", "kernel_initializer"),
                                 ("depthwise_regularizer", "kernel_regularizer")):
            config[keras_name] = config.pop(name)
        return config


@register
class SeparableConv2D(DepthwiseConv2D):
    """A depthwise convolution followed by a 1x1 convolution to ``filters`` channels, as
    ``tf.keras.layers.SeparableConv2D``; kernels ``depthwise_kernel`` [kh, kw, channels, multiplier]
    and ``pointwise_kernel`` [1, 1, channels * multiplier, filters], bias [filters]."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias,
                         depthwise_initializer, bias_initializer, **kwargs)
        self.filters = as_int(filters, "filters", low=1)
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def build(self, input_shape):
        self._build_depthwise(input_shape)
        channels = self.input_channels(input_shape) * self.depth_multiplier
        self.pointwise_kernel = self.add_weight((1, 1, channels, self.filters), self.pointwise_initializer,
                                                name="pointwise_kernel")
        self._build_bias(self.filters)

    def apply_kernel(self, inputs):
        return conv_ops.conv2d(super().apply_kernel(inputs), self.pointwise_kernel)

    def kernel_config(self):
        return super().kernel_config() | {"filters": self.filters,
                                          "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}


@register
class Conv2DTranspose(Conv2D):
    """The transpose of ``Conv2D`` (a learned upsampling), as ``tf.keras.layers.Conv2DTranspose``:
    kernel [kh, kw, filters, channels], bias [filters]; each spatial size becomes ``size * stride``
    with ``"same"`` padding and ``size * stride + max(kernel - stride, 0)`` with ``"valid"``."""

    def kernel_shape(self, input_shape):
        kh, kw, channels, filters = super().kernel_shape(input_shape)
        return kh, kw, filters, channels

    def build(self, input_shape):
        self.kernel = self.add_weight(self.kernel_shape(input_shape), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                                     name="bias") if self.use_bias else None)

    def apply_kernel(self, inputs):
        sizes = []
        for size, window, stride, rate in zip(inputs.shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            window = (window - 1) * rate + 1
            sizes.append(size * stride if self.padding == "same" else size * stride + max(window - stride, 0))
        return conv_ops.conv2d_transpose(inputs, self.kernel, [None, *sizes, self.filters], self.strides, self.padding,
                                         self.dilation_rate)


def _single(value, what: str) -> int:
    """A positive int, or a one-element list or tuple of one (Keras's 1-D sizes)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise InvalidArgumentError(f"{what} must be a positive int or a list of one, got {value!r}")
        value = value[0]
    return as_int(value, what, low=1)


def _padding_mode(padding) -> str:
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise InvalidArgumentError(f"padding must be 'valid' or 'same', got {padding!r}")
    return mode


class _Pooling2D(Layer):
    _pool = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = conv_ops.pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else conv_ops.pair(strides, "strides")
        self.padding = _padding_mode(padding)
        self.data_format = data_format_of(data_format, self.name)

    def call(self, inputs):
        pool = lambda x: type(self)._pool(x, self.pool_size, self.strides, self.padding)  # noqa: E731
        return channels_last_call(pool, inputs, self.data_format)

    def get_config(self):
        return super().get_config() | {
            "pool_size": list(self.pool_size), "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format,
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

