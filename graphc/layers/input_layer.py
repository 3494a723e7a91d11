"""``gc.Input`` and ``InputLayer``: the entry of a model, as Keras's. ``Input`` returns the layer's
symbolic output (a ``KerasTensor``), to start a functional model or a ``Sequential`` one."""
from __future__ import annotations

from graphc.ir.arguments import as_int, as_shape
from graphc.ir.errors import InvalidArgumentError

from .base import Layer
from .keras_tensor import KerasHistory, KerasTensor, Node
from .serialization import register


@register
class InputLayer(Layer):
    """The input of a model: its shape with the batch dimension (None: any size) and dtype. Its
    ``output`` is the KerasTensor that functional models start from."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        if batch_shape is None:
            if shape is None:
                raise InvalidArgumentError("Input needs a shape (without the batch dimension) or a batch_shape")
            batch_size = None if batch_size is None else as_int(batch_size, "batch_size", low=1)
            batch_shape = (batch_size,) + as_shape(shape, one_int=True, unknown=True)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = as_shape(batch_shape, "batch_shape", unknown=True)
        self.built = True
        self._output_shape = self.batch_shape
        tensor = KerasTensor(self.batch_shape, self.dtype, self.name, KerasHistory(self, 0, 0))
        self.inbound_nodes.append(Node(self, (), {}, tensor))

    @property
    def shape(self) -> tuple:
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype.name, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None) -> KerasTensor:
    """A symbolic input, as ``tf.keras.Input``: ``shape`` excludes the batch dimension (``batch_size``
    fixes it). Call layers on it and give it to ``gc.Model(inputs, outputs)``, or start a
    ``gc.Sequential`` with it."""
    return InputLayer(shape, batch_size, dtype, name, batch_shape).output
