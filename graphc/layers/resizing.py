"""``UpSampling2D``: repeat (``"nearest"``) or interpolate (``"bilinear"``)
rows and columns, as gathers along each spatial axis, so the gradient flows back through them."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.ir.ops import conv as conv_ops

from .base import Layer
from .pooling import data_format_of
from .serialization import register

INTERPOLATIONS = ("nearest", "bilinear")


def _upsample_axis(x, axis: int, factor: int, interpolation: str):
    """``x`` with ``axis`` (of known size n) made ``n * factor`` long. Bilinear follows TensorFlow's
    ``tf.image.resize`` with half-pixel centres: output i reads input ``(i + 0.5) / factor - 0.5``,
    clamped to the first and last element."""
    n = x.shape[axis]
    if interpolation == "nearest":
        return ops.gather(x, ops.constant(np.repeat(np.arange(n, dtype=np.int32), factor)), axis=axis)
    source = np.maximum((np.arange(n * factor) + 0.5) / factor - 0.5, 0.0)
    low = np.floor(source).astype(np.int32)
    high = np.minimum(low + 1, n - 1).astype(np.int32)
    shape = [1] * len(x.shape)
    shape[axis] = n * factor
    weight = ops.constant((source - low).reshape(shape).astype(x.dtype.numpy))
    below, above = (ops.gather(x, ops.constant(i), axis=axis) for i in (low, high))
    return ops.add(below, ops.multiply(ops.subtract(above, below), weight))


@register
class UpSampling2D(Layer):
    """Images [batch, h, w, c] -> [batch, h * size[0], w * size[1], c] (or channels first), as
    ``tf.keras.layers.UpSampling2D``."""

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = conv_ops.pair(size, "size")
        self.data_format = data_format_of(data_format, self.name)
        if interpolation not in INTERPOLATIONS:
            raise InvalidArgumentError(f"layer {self.name!r}: interpolation must be one of {INTERPOLATIONS}, "
                                       f"got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        if len(inputs.shape) != 4:
            raise ShapeError(f"layer {self.name!r} expects images of rank 4, got shape {inputs.shape}")
        first = 1 if self.data_format == "channels_last" else 2
        x = inputs
        for axis, factor in zip((first, first + 1), self.size):
            if x.shape[axis] is None:
                raise ShapeError(f"layer {self.name!r} needs the size of axis {axis} known, got shape {inputs.shape}")
            x = _upsample_axis(x, axis, factor, self.interpolation)
        return x

    def get_config(self):
        return super().get_config() | {
            "size": list(self.size), "data_format": self.data_format, "interpolation": self.interpolation,
        }
