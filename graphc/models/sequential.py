"""``gc.Sequential``: a model that is a stack of layers."""
from __future__ import annotations

from graphc.ir.errors import InvalidArgumentError

from ..layers import InputLayer, Layer, deserialize, register, serialize
from ..layers.keras_tensor import KerasTensor
from .model import Model


@register
class Sequential(Model):
    """A stack of layers, each taking the previous one's output, as ``tf.keras.Sequential``.

    ``Sequential([gc.Input(shape=(64,)), gc.layers.Dense(10)])`` builds at once; without an input
    shape the layers build on the first call."""

    _untracked_attributes = frozenset({"_stack", "_input_layer", "_symbolic_outputs"})

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._symbolic_outputs: list = []  # each layer's output KerasTensor, once the input shape is known
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def _trackable_children(self) -> dict:
        return {"layers": self._stack} | super()._trackable_children()

    def add(self, layer: Layer) -> None:
        """Appends ``layer`` (an ``Input`` may come first); builds it when the input shape is known."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history.layer, InputLayer):
            layer = layer._keras_history.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise InvalidArgumentError("an Input can only be the first entry of a Sequential model")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Sequential.add needs a gc.layers.Layer, got {type(layer).__name__}")
        if not self._stack and self._input_layer is None and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape, dtype=layer.dtype)
        self._stack.append(layer)
        if self._input_layer is not None:
            self.build(self._input_layer.batch_shape)

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not self._stack:
            raise InvalidArgumentError("pop: the model has no layers")
        self.train_function = self.test_function = self.predict_function = None
        del self._symbolic_outputs[len(self._stack) - 1:]
        return self._stack.pop()

    def build(self, input_shape=None) -> None:
        if input_shape is None:
            if self._input_layer is None:
                raise InvalidArgumentError("build: give the input shape (or start the model with gc.Input)")
            input_shape = self._input_layer.batch_shape
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=input_shape)
        super().build(tuple(input_shape))
        x = self._symbolic_outputs[-1] if self._symbolic_outputs else self._input_layer.output
        for layer in self._stack[len(self._symbolic_outputs):]:  # each layer called once on KerasTensors
            x = layer(x)
            self._symbolic_outputs.append(x)

    @property
    def inputs(self) -> list:
        """The input KerasTensor (in a list), as in a functional model; known once the input shape is."""
        if self._input_layer is None:
            raise AttributeError(f"Sequential model {self.name!r} has no inputs yet: start it with gc.Input or build it")
        return [self._input_layer.output]

    @property
    def outputs(self) -> list:
        """The last layer's output KerasTensor (in a list), so ``layer.output`` of every layer works."""
        if not self._symbolic_outputs:
            raise AttributeError(f"Sequential model {self.name!r} has no outputs yet: give it an input shape and layers")
        return [self._symbolic_outputs[-1]]

    def call(self, inputs, training=None):
        x, mask = inputs, None
        for layer in self._stack:  # a mask made by one layer (Embedding, Masking) reaches the next ones
            extra = {"mask": mask} if mask is not None and layer.takes_mask() else {}
            x, mask = layer(x, training=training, **extra), layer.compute_mask(x, mask)
        return x

    def get_config(self) -> dict:
        entries = ([self._input_layer] if self._input_layer is not None else []) + self._stack
        return {"name": self.name, "layers": [serialize(layer) for layer in entries]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        model = cls(name=config.get("name"))
        for entry in config.get("layers", []):
            model.add(deserialize(entry, custom_objects))
        return model
