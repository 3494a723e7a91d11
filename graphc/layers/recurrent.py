"""Recurrent layers, unrolled over the time steps: ``SimpleRNN``, ``LSTM`` and ``GRU``.

Each step is written out in the graph (as Keras's ``unroll=True``), so the sequence length must be
known when traced; gradients flow through every step. Gates and weight layouts follow Keras, so
weights move between the two with ``set_weights``."""
from __future__ import annotations

from graphc.ir import ops
from graphc.ir.arguments import as_int
from graphc.ir.errors import ShapeError

from .. import activations, initializers, regularizers
from .base import Layer
from .serialization import register


class _Recurrent(Layer):
    """The loop over time shared by the recurrent layers: ``step(x_t, states) -> (h_t, states)``
    with ``gates`` blocks of ``units`` in the kernels."""

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, return_sequences=False, return_state=False,
                 go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        self.units = as_int(units, "units", low=1)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(f"layer {self.name!r} expects sequences [batch, steps, features] with the features "
                             f"known, got shape {input_shape}")
        width = self.gates * self.units
        self.kernel = self.add_weight((int(input_shape[-1]), width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer, name="recurrent_kernel")
        self.bias = self.add_weight(self.bias_shape(), self.bias_initializer_for(), regularizer=self.bias_regularizer,
                                    name="bias") if self.use_bias else None

    def bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def bias_initializer_for(self):
        return self.bias_initializer

    def state_count(self) -> int:
        return 1

    def call(self, inputs, initial_state=None, mask=None):
        steps = inputs.shape[1]
        if steps is None:
            raise ShapeError(f"layer {self.name!r} unrolls its steps, so their number must be known when traced; "
                             f"got inputs of shape {inputs.shape} (give the sequence length in the input signature)")
        if initial_state is None:
            zeros = ops.add(ops.zeros_like(inputs[:, 0, :1]), ops.zeros((self.units,), inputs.dtype))  # [batch, units]
            states = [zeros] * self.state_count()
        else:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            states = [self._convert_input(s) for s in states]
            if len(states) != self.state_count():
                raise ShapeError(f"layer {self.name!r} has {self.state_count()} states, got {len(states)} in initial_state")
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, previous = [], states[0]
        for t in order:
            h, new_states = self.step(inputs[:, t], states)
            if mask is not None:  # a masked step keeps the states and repeats the previous output (Keras)
                keep = ops.expand_dims(ops.cast(mask[:, t], "bool"), -1)
                new_states = [ops.where(keep, new, old) for new, old in zip(new_states, states)]
                h = ops.where(keep, h, previous)
            states, previous = new_states, h
            outputs.append(h)
        result = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [result, *states] if self.return_state else result

    def compute_mask(self, inputs, mask=None):
        """The input mask goes on with the sequence of outputs (``return_sequences``), else stops."""
        return mask if self.return_sequences and not self.return_state else None

    def get_config(self):
        return super().get_config() | {
            "units": self.units, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards,
        }


def _gates(z, count: int) -> list:
    return list(ops.split(z, count, axis=-1))


@register
class SimpleRNN(_Recurrent):
    """``h_t = activation(x_t W + h_{t-1} U + b)``, as ``tf.keras.layers.SimpleRNN``."""

    def step(self, x, states):
        z = ops.add(ops.matmul(x, self.kernel), ops.matmul(states[0], self.recurrent_kernel))
        h = self.activation(z if self.bias is None else ops.add(z, self.bias))
        return h, [h]


@register
class LSTM(_Recurrent):
    """Long short-term memory, as ``tf.keras.layers.LSTM``: gates input, forget, cell and output
    (Keras's order in the kernels); ``unit_forget_bias`` starts the forget gate's bias at one."""

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def state_count(self) -> int:
        return 2

    def bias_initializer_for(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_ones(shape, dtype):
            parts = [base((units,), dtype), ops.ones((units,), dtype), base((2 * units,), dtype)]
            return ops.concat(parts, 0)

        return forget_ones

    def step(self, x, states):
        h, c = states
        z = ops.add(ops.matmul(x, self.kernel), ops.matmul(h, self.recurrent_kernel))
        if self.bias is not None:
            z = ops.add(z, self.bias)
        i, f, g, o = _gates(z, 4)
        c = ops.add(ops.multiply(self.recurrent_activation(f), c),
                    ops.multiply(self.recurrent_activation(i), self.activation(g)))
        h = ops.multiply(self.recurrent_activation(o), self.activation(c))
        return h, [h, c]

    def get_config(self):
        return super().get_config() | {"recurrent_activation": activations.serialize(self.recurrent_activation),
                                       "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_Recurrent):
    """Gated recurrent unit, as ``tf.keras.layers.GRU`` with its default ``reset_after=True``: gates
    update, reset and candidate (Keras's order); the bias is [2, 3 units], for the input and the
    recurrent products, and the reset gate applies after the recurrent product."""

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def bias_shape(self) -> tuple:
        return (2, 3 * self.units)

    def step(self, x, states):
        (h,) = states
        from_input, from_state = ops.matmul(x, self.kernel), ops.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            from_input, from_state = ops.add(from_input, self.bias[0]), ops.add(from_state, self.bias[1])
        x_z, x_r, x_h = _gates(from_input, 3)
        h_z, h_r, h_h = _gates(from_state, 3)
        z = self.recurrent_activation(ops.add(x_z, h_z))
        r = self.recurrent_activation(ops.add(x_r, h_r))
        candidate = self.activation(ops.add(x_h, ops.multiply(r, h_h)))
        h = ops.add(ops.multiply(z, h), ops.multiply(ops.subtract(1.0, z), candidate))
        return h, [h]

    def get_config(self):
        return super().get_config() | {"recurrent_activation": activations.serialize(self.recurrent_activation)}
