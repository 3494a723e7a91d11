"""``MultiHeadAttention``: scaled dot-product attention over several heads, as Keras's."""
from __future__ import annotations

import math

import numpy as np

from graphc.ir import ops
from graphc.ir.arguments import as_int
from graphc.ir.errors import InvalidArgumentError, ShapeError

from .. import initializers, random as gc_random, regularizers
from ..tracing import init_scope
from .base import Layer
from .serialization import register

# what a masked score becomes before the softmax (Keras's choice for float32 and float64)
MASKED_SCORE = -1e9


@register
class MultiHeadAttention(Layer):
    """Attention of ``query`` [batch, target, dim] over ``value`` [batch, source, dim] (and ``key``,
    default ``value``) with ``num_heads`` heads of size ``key_dim``, as
    ``tf.keras.layers.MultiHeadAttention``: each head projects query, key and value, takes
    ``softmax(q k^T / sqrt(key_dim))`` over the source (``attention_mask`` [batch, target, source]:
    True attends; ``use_causal_mask`` lets target i see sources up to i), applies ``dropout`` to
    those weights while training, and the heads' results are projected back to the query's size
    (or ``output_shape``). Weights: ``query``/``key``/``value`` kernels [dim, heads, size] and biases
    [heads, size], ``output`` kernel [heads, value_dim, out] and bias [out]."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = as_int(num_heads, "num_heads", low=1)
        self.key_dim = as_int(key_dim, "key_dim", low=1)
        self.value_dim = self.key_dim if value_dim is None else as_int(value_dim, "value_dim", low=1)
        if not 0 <= dropout < 1:
            raise InvalidArgumentError(f"layer {self.name!r}: dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = None if output_shape is None else as_int(output_shape, "output_shape", low=1)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.seed = seed
        self.generator = None if seed is None else gc_random.Generator.from_seed(seed, f"{self.name}_generator")
        self.projections = None

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            raise InvalidArgumentError(f"layer {self.name!r} is called as layer(query, value, key=None, ...): "
                                       "value is missing")
        return super().__call__(query, value, key, **kwargs)

    def build(self, query_shape):
        """Weights are made on the first call, which knows the value's and key's sizes too."""

    def _make_weights(self, query, value, key) -> None:
        for what, x in (("query", query), ("value", value), ("key", key)):
            if len(x.shape) != 3 or x.shape[-1] is None:
                raise ShapeError(f"layer {self.name!r}: {what} must be [batch, steps, features] with the features "
                                 f"known, got shape {x.shape}")
        sizes = {"query": (query.shape[-1], self.key_dim), "key": (key.shape[-1], self.key_dim),
                 "value": (value.shape[-1], self.value_dim)}
        with init_scope():
            self.projections = {
                name: (self._weight((features, self.num_heads, size), "kernel", f"{name}_kernel"),
                       self._weight((self.num_heads, size), "bias", f"{name}_bias"))
                for name, (features, size) in sizes.items()
            }
            out = self.output_dim or int(query.shape[-1])
            self.projections["output"] = (self._weight((self.num_heads, self.value_dim, out), "kernel", "output_kernel"),
                                          self._weight((out,), "bias", "output_bias"))

    def _weight(self, shape, kind, name):
        if kind == "bias" and not self.use_bias:
            return None
        return self.add_weight(shape, getattr(self, f"{kind}_initializer"), name=name,
                               regularizer=getattr(self, f"{kind}_regularizer"))

    def _project(self, x, name: str, equation: str):
        kernel, bias = self.projections[name]
        y = ops.einsum(equation, x, kernel)
        return y if bias is None else ops.add(y, bias)

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False, training=False,
             use_causal_mask=False):
        value = self._convert_input(value)
        key = value if key is None else self._convert_input(key)
        if self.projections is None:
            self._make_weights(query, value, key)
        q = self._project(query, "query", "btd,dhk->bthk")
        k = self._project(key, "key", "bsd,dhk->bshk")
        v = self._project(value, "value", "bsd,dhv->bshv")
        scores = ops.einsum("bthk,bshk->bhts", ops.multiply(q, 1.0 / math.sqrt(self.key_dim)), k)
        mask = self._mask(attention_mask, use_causal_mask, query, value)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, MASKED_SCORE))
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            generator = self.generator or gc_random.get_global_generator()
            keep = ops.greater_equal(generator.uniform_like(weights), self.dropout)
            weights = ops.where(keep, ops.divide(weights, 1.0 - self.dropout), ops.zeros_like(weights))
        attended = ops.einsum("bhts,bshv->bthv", weights, v)
        output = self._project(attended, "output", "bthv,hvo->bto")
        return (output, weights) if return_attention_scores else output

    def _mask(self, attention_mask, use_causal_mask, query, value):
        """The [batch or 1, 1, target, source] booleans of the scores that count, or None."""
        mask = None
        if attention_mask is not None:
            mask = ops.cast(self._convert_input(attention_mask), "bool")
            if len(mask.shape) != 3:
                raise ShapeError(f"layer {self.name!r}: attention_mask must be [batch, target, source], got shape "
                                 f"{mask.shape}")
            mask = ops.expand_dims(mask, 1)
        if use_causal_mask:
            target, source = query.shape[1], value.shape[1]
            if target is None or source is None:
                raise ShapeError(f"layer {self.name!r}: use_causal_mask needs the target and source lengths known, "
                                 f"got {target} and {source}")
            causal = ops.constant(np.tril(np.ones((target, source), bool))[None, None])
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def get_config(self):
        return super().get_config() | {
            "num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
            "dropout": self.dropout, "use_bias": self.use_bias, "output_shape": self.output_dim, "seed": self.seed,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }
