"""``Embedding``: a trainable table of vectors looked up by integer index."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.arguments import as_int

from .. import initializers, regularizers
from .base import Layer
from .serialization import register


@register
class Embedding(Layer):
    """Maps each integer of its input (from 0 to ``input_dim - 1``) to a row of an ``input_dim`` x
    ``output_dim`` weight, as ``tf.keras.layers.Embedding``: inputs of shape S give outputs of shape
    S + (output_dim,). Float inputs are truncated to int32, ids of integer dtypes other than int32 and
    int64 become int32 (as in Keras); an index out of range is an error at run time. The gradient
    reaches only the rows looked up. With ``mask_zero``, id 0 is padding: the layers
after it in a model get a mask of the other steps."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.mask_zero = bool(mask_zero)
        self.input_dim = as_int(input_dim, "input_dim", low=1)
        self.output_dim = as_int(output_dim, "output_dim", low=1)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer, name="embeddings")

    def _convert_input(self, x):
        ids = self._input_tensor(x)
        return ids if ids.dtype.name in ("int32", "int64") else ops.cast(ids, "int32")

    def call(self, inputs):
        return ops.gather(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero``, id 0 is padding: the mask is True where the id is not 0."""
        return ops.not_equal(self._convert_input(inputs), 0) if self.mask_zero else None

    def get_config(self):
        return super().get_config() | {
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }
