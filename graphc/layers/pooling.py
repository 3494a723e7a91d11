"""Global pooling: ``GlobalAveragePooling1D/2D`` and ``GlobalMaxPooling1D/2D``, the mean or maximum
over every spatial axis of each example's channels."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError, ShapeError

from .base import Layer
from .serialization import register

DATA_FORMATS = ("channels_last", "channels_first")


def data_format_of(value, layer: str) -> str:
    """``value`` checked as a Keras ``data_format`` (None: channels_last)."""
    value = "channels_last" if value is None else value
    if value not in DATA_FORMATS:
        raise InvalidArgumentError(f"layer {layer!r}: data_format must be one of {DATA_FORMATS}, got {value!r}")
    return value


def channels_moved_last(x):
    """Channels-first ``x`` ([batch, channels, ...]) with its channels moved to the last axis."""
    return ops.transpose(x, [0, *range(2, len(x.shape)), 1])


class _GlobalPooling(Layer):
    spatial_rank = 2
    reduce = None  # the reduction over the spatial axes
    supports_masking = True  # the mean over the unmasked steps (1-D); the mask stops here

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format, self.name)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        rank = self.spatial_rank + 2
        if len(inputs.shape) != rank:
            raise ShapeError(f"layer {self.name!r} expects inputs of rank {rank} ([batch, {self.spatial_rank} spatial "
                             f"axes, channels] or channels first), got shape {inputs.shape}")
        first = 1 if self.data_format == "channels_last" else 2
        return self.reduce(inputs, list(range(first, first + self.spatial_rank)), keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return super().get_config() | {"data_format": self.data_format, "keepdims": self.keepdims}


@register
class GlobalAveragePooling2D(_GlobalPooling):
    """The mean of each channel over height and width: [batch, h, w, c] -> [batch, c]."""
    reduce = staticmethod(ops.reduce_mean)


@register
class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum of each channel over height and width: [batch, h, w, c] -> [batch, c]."""
    reduce = staticmethod(ops.reduce_max)


@register
class GlobalAveragePooling1D(_GlobalPooling):
    """The mean of each channel over the steps: [batch, steps, c] -> [batch, c]; with a mask, over
    the steps it keeps (as Keras)."""
    spatial_rank = 1
    reduce = staticmethod(ops.reduce_mean)

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        steps = 1 if self.data_format == "channels_last" else 2
        weights = ops.cast(mask, inputs.dtype)
        weights = ops.expand_dims(weights, -1 if steps == 1 else 1)
        total = ops.reduce_sum(ops.multiply(inputs, weights), [steps], keepdims=self.keepdims)
        return ops.divide(total, ops.reduce_sum(weights, [steps], keepdims=self.keepdims))


@register
class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum of each channel over the steps: [batch, steps, c] -> [batch, c]."""
    spatial_rank = 1
    reduce = staticmethod(ops.reduce_max)
