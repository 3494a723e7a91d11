"""Layers that resize images and sequences: ``UpSampling2D`` repeats (``"nearest"``) or interpolates
(``"bilinear"``) rows and columns as gathers along each spatial axis; ``ZeroPadding1D/2D`` pad with
zeros (``gc.pad``); ``Cropping1D/2D`` slice. Each is differentiable, and the gradient of padding
drops the padded positions."""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_size
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


def _amounts(value, what: str, axes: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding or cropping argument: an int (every side), one int per axis (both sides), or
    a (before, after) pair per axis; as ``axes`` pairs of ints >= 0."""
    def pair_of(v, where):
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise InvalidArgumentError(f"{where} must be an int or a pair (before, after), got {v!r}")
            return as_size(v[0], f"{where}[0]"), as_size(v[1], f"{where}[1]")
        return (as_size(v, where),) * 2

    if not isinstance(value, (list, tuple)):
        return (pair_of(value, what),) * axes
    if axes == 1:
        return (pair_of(value, what),)
    if len(value) != axes:
        raise InvalidArgumentError(f"{what} must be an int, {axes} ints or {axes} pairs, got {value!r}")
    return tuple(pair_of(v, f"{what}[{i}]") for i, v in enumerate(value))


class _Spatial(Layer):
    """A layer acting on the ``spatial_rank`` axes after the batch of [batch, ..., channels] inputs,
    by amounts (before, after) per axis given as Keras does."""

    spatial_rank = 2

    def _checked(self, inputs):
        if len(inputs.shape) != self.spatial_rank + 2:
            raise ShapeError(f"layer {self.name!r} expects inputs of rank {self.spatial_rank + 2} [batch, "
                             f"{self.spatial_rank} spatial axes, channels], got shape {inputs.shape}")
        return inputs

    def _as_config(self, amounts) -> list:
        return [list(a) for a in amounts] if self.spatial_rank == 2 else list(amounts[0])


class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _amounts(padding, "padding", self.spatial_rank)

    def call(self, inputs):
        return ops.pad(self._checked(inputs), [(0, 0), *self.padding, (0, 0)])

    def get_config(self):
        return super().get_config() | {"padding": self._as_config(self.padding)}


@register
class ZeroPadding2D(_ZeroPadding):
    """Rows of zeros above and below, columns left and right of NHWC images, as
    ``tf.keras.layers.ZeroPadding2D``: ``padding`` an int, (rows, columns) or ((top, bottom), (left, right))."""


@register
class ZeroPadding1D(_ZeroPadding):
    """Steps of zeros before and after sequences [batch, steps, channels], as
    ``tf.keras.layers.ZeroPadding1D``: ``padding`` an int or (before, after)."""

    spatial_rank = 1


class _Cropping(_Spatial):
    def __init__(self, cropping, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _amounts(cropping, "cropping", self.spatial_rank)

    def call(self, inputs):
        inputs = self._checked(inputs)
        index = [slice(None)]
        for axis, (before, after) in enumerate(self.cropping, start=1):
            size = inputs.shape[axis]
            if size is not None and before + after >= size:
                raise ShapeError(f"layer {self.name!r} crops {before} + {after} from axis {axis} of size {size}: "
                                 "nothing would be left")
            index.append(slice(before, -after if after else None))
        return inputs[tuple(index)]

    def get_config(self):
        return super().get_config() | {"cropping": self._as_config(self.cropping)}


@register
class Cropping2D(_Cropping):
    """NHWC images with rows cut from the top and bottom and columns from the left and right, as
    ``tf.keras.layers.Cropping2D``: ``cropping`` an int, (rows, columns) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(cropping, **kwargs)


@register
class Cropping1D(_Cropping):
    """Sequences [batch, steps, channels] with steps cut from the start and end, as
    ``tf.keras.layers.Cropping1D``: ``cropping`` an int or (start, end)."""

    spatial_rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)
