"""``gc.layers``: Keras-style layers. A ``Layer`` creates its weights lazily, from the shape of its
first input (``build``), and computes in ``call``; calling it runs ``call`` inside its name scope.

    class Linear(gc.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return gc.matmul(inputs, self.w) + self.b

The base layer is in ``base.py``, the layers by kind in ``core.py``, ``convolution.py`` and
``normalization.py``, ``serialize``/``deserialize`` by class name in ``serialization.py``.
"""
from .base import Layer, symbolic_call, unique_layer_name
from .convolution import AveragePool2D, AveragePooling2D, Conv2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from .normalization import BatchNormalization
from .serialization import deserialize, register, serialize

__all__ = [
    "Activation", "AveragePool2D", "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout",
    "Flatten", "Input", "InputLayer", "Layer", "MaxPool2D", "MaxPooling2D", "Reshape", "deserialize",
    "register", "serialize", "symbolic_call", "unique_layer_name",
]
