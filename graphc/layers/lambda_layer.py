"""``Lambda``: a Python function as a layer."""
from __future__ import annotations

from graphc.ir.errors import InvalidArgumentError

from .base import Layer
from .serialization import register


@register
class Lambda(Layer):
    """Calls ``function(inputs, **arguments)``, as ``tf.keras.layers.Lambda``. The function is code,
    not data: a model holding a Lambda layer cannot be saved as a config (write a ``Layer``
    subclass and ``gc.layers.register`` it instead)."""

    def __init__(self, function, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise InvalidArgumentError(f"layer {self.name!r}: function must be callable, got {type(function).__name__}")
        self.function = function
        self.arguments = dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        raise InvalidArgumentError(
            f"layer {self.name!r} (Lambda of {getattr(self.function, '__qualname__', self.function)!r}) cannot be "
            "saved as a config: its function is code, and loading a config never runs code. Write a Layer "
            "subclass and register it with gc.layers.register"
        )
