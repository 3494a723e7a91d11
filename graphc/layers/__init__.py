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

The base layer is in ``base.py``, the layers by kind in ``core.py``, ``convolution.py``,
``normalization.py``, ``embedding.py``, ``pooling.py`` (global pooling), ``merging.py``,
``input_layer.py`` (``Input``; the functional API's ``KerasTensor`` and nodes in ``keras_tensor.py``),
``resizing.py``, ``lambda_layer.py``, ``attention.py`` and ``recurrent.py``,
``serialize``/``deserialize`` by class name in ``serialization.py``.
"""
from .attention import MultiHeadAttention
from .base import Layer, symbolic_call, unique_layer_name
from .convolution import (
    AveragePool2D, AveragePooling2D, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, MaxPool2D, MaxPooling2D,
    SeparableConv2D,
)
from .core import Activation, Dense, Dropout, Flatten, Masking, Reshape
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .lambda_layer import Lambda
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization
from .operator_layer import TFOpLambda  # noqa: F401  (registered: configs of models with operators load)
from .pooling import GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D
from .recurrent import GRU, LSTM, SimpleRNN
from .resizing import Cropping1D, Cropping2D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .serialization import deserialize, register, serialize

# Keras's shorter names
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D

__all__ = [
    "Activation", "Add", "Average", "AveragePool2D", "AveragePooling2D", "BatchNormalization", "Concatenate",
    "Conv1D", "Conv2D", "Conv2DTranspose", "Cropping1D", "Cropping2D", "Dense", "DepthwiseConv2D", "Dropout",
    "Embedding", "Flatten", "GRU", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GroupNormalization", "Input", "InputLayer", "LSTM", "Lambda", "Layer", "LayerNormalization", "Masking",
    "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum", "MultiHeadAttention", "Multiply", "Reshape",
    "SeparableConv2D", "SimpleRNN", "Subtract", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "deserialize",
    "register", "serialize", "symbolic_call", "unique_layer_name",
]
