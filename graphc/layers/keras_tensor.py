"""The functional API's symbolic tensors, as Keras's: a ``KerasTensor`` is what ``gc.Input`` and a layer
called on KerasTensors return (a shape with None for the batch, a dtype, and the call that made it);
a ``Node`` is one such call of a layer. ``call_on_keras_tensors`` makes the node: it traces the layer
on placeholders in a throw-away graph, which builds the layer and infers the output shapes without
computing anything."""
from __future__ import annotations

import collections
import itertools

import numpy as np

from graphc.ir import dispatch
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph
from graphc.ir.types import as_dtype

from .. import nest
from ..tensor import Tensor
from ..tensor_shape import TensorShape
from ..tracing import TensorSpec, TraceHandler, placeholder

KerasHistory = collections.namedtuple("KerasHistory", ["layer", "node_index", "tensor_index"])
_tensor_numbers = itertools.count()


class KerasTensor:
    """A symbolic tensor of a functional model: ``shape`` (None for the batch and other sizes known
    only when the model runs), ``dtype``, ``name``, and ``_keras_history`` (the layer, the index of the
    call among its inbound nodes, the index of the tensor among the call's outputs)."""

    def __init__(self, shape, dtype, name=None, history: KerasHistory | None = None):
        self.shape = TensorShape(shape)
        self.dtype = as_dtype(dtype)
        number = next(_tensor_numbers)
        self.name = name or ("keras_tensor" if number == 0 else f"keras_tensor_{number}")
        self._keras_history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self) -> "Node":
        """The layer call that made this tensor."""
        layer, node_index, _ = self._keras_history
        return layer.inbound_nodes[node_index]

    def __repr__(self) -> str:
        shape = "(" + ", ".join(map(str, self.shape)) + ("," if len(self.shape) == 1 else "") + ")"
        return f"<KerasTensor shape={shape}, dtype={self.dtype.name}, name={self.name}>"

    def __array__(self, dtype=None, copy=None):
        raise InvalidArgumentError(
            f"{self!r} is a symbolic input of a functional model and has no value, so gc ops cannot take it: "
            "compute on it with layers (gc.layers.Add, gc.layers.Lambda(lambda t: gc.exp(t)), ...)"
        )

    def __bool__(self):
        raise InvalidArgumentError(f"{self!r} has no value, so it has no truth value: use layers, not Python if/while")

    __hash__ = object.__hash__
    __array_ufunc__ = None  # NumPy defers to the reflected operators: array + KerasTensor -> __radd__

    # Python operators become layer calls (tf.keras's TFOpLambda layers)
    def __add__(self, other): return _operator("add", self, other)
    def __radd__(self, other): return _operator("add", other, self)
    def __sub__(self, other): return _operator("subtract", self, other)
    def __rsub__(self, other): return _operator("subtract", other, self)
    def __mul__(self, other): return _operator("multiply", self, other)
    def __rmul__(self, other): return _operator("multiply", other, self)
    def __truediv__(self, other): return _operator("divide", self, other)
    def __rtruediv__(self, other): return _operator("divide", other, self)
    def __floordiv__(self, other): return _operator("floordiv", self, other)
    def __rfloordiv__(self, other): return _operator("floordiv", other, self)
    def __mod__(self, other): return _operator("mod", self, other)
    def __rmod__(self, other): return _operator("mod", other, self)
    def __pow__(self, other): return _operator("power", self, other)
    def __rpow__(self, other): return _operator("power", other, self)
    def __matmul__(self, other): return _operator("matmul", self, other)
    def __rmatmul__(self, other): return _operator("matmul", other, self)
    def __neg__(self): return _operator("negative", self)
    def __abs__(self): return _operator("abs", self)

    def __getitem__(self, index):
        raise InvalidArgumentError(
            f"{self!r} cannot be indexed: slice it with a layer (gc.layers.Lambda(lambda t: t[...]), gc.layers.Cropping1D)")


def _operator(function: str, *operands):
    from .operator_layer import apply_operator  # a cycle: operator layers are layers

    operands = [x.item() if isinstance(x, np.generic) else x for x in operands]  # NumPy scalars: plain numbers
    for operand in operands:
        if not isinstance(operand, (KerasTensor, int, float)) or isinstance(operand, bool):
            raise InvalidArgumentError(
                f"{function} of a KerasTensor and a {type(operand).__name__}: a Python operator on KerasTensors takes "
                "KerasTensors and Python numbers; use a layer (gc.layers.Add, gc.layers.Lambda) for anything else")
    return apply_operator(function, *operands)


class Node:
    """One call of ``layer`` on KerasTensors: the call's arguments (KerasTensors among other values)
    and its outputs (a KerasTensor or a structure of them)."""

    def __init__(self, layer, call_args: tuple, call_kwargs: dict, outputs):
        self.layer, self.call_args, self.call_kwargs, self.outputs = layer, call_args, call_kwargs, outputs
        self.input_tensors = [t for t in nest.flatten((list(call_args), call_kwargs)) if isinstance(t, KerasTensor)]
        self.output_tensors = nest.flatten(outputs)

    @property
    def parent_nodes(self) -> list["Node"]:
        return [t.node for t in self.input_tensors]

    def arguments(self, value_of):
        """The call's arguments with each KerasTensor replaced by ``value_of(tensor)``."""
        swap = lambda x: value_of(x) if isinstance(x, KerasTensor) else x  # noqa: E731
        return nest.map_structure(swap, list(self.call_args)), nest.map_structure(swap, self.call_kwargs)


def holds_keras_tensors(structure) -> bool:
    return any(isinstance(leaf, KerasTensor) for leaf in nest.flatten(structure))


def call_on_keras_tensors(layer, args: tuple, kwargs: dict):
    """Calls ``layer`` on KerasTensors: traces it on placeholders of their types in a throw-away graph
    (building it), records the call as a new node of the layer and returns its outputs as KerasTensors."""
    graph = Graph(f"{layer.name}_symbolic")
    stand_ins: dict[int, Tensor] = {}

    def stand_in(tensor: KerasTensor) -> Tensor:
        if id(tensor) not in stand_ins:
            stand_ins[id(tensor)] = placeholder(graph, TensorSpec(tensor.shape, tensor.dtype), f"input_{len(stand_ins)}")
        return stand_ins[id(tensor)]

    node = Node(layer, tuple(args), dict(kwargs), None)
    call_args, call_kwargs = node.arguments(stand_in)
    with dispatch.handler(TraceHandler(graph)):
        outputs = layer(*call_args, **call_kwargs)
    node_index = len(layer.inbound_nodes)
    made = []
    for index, leaf in enumerate(nest.flatten(outputs)):
        if not isinstance(leaf, Tensor):
            raise InvalidArgumentError(
                f"layer {layer.name!r} returned a {type(leaf).__name__}, not a tensor, when called on KerasTensors")
        made.append(KerasTensor(leaf.shape, leaf.dtype, history=KerasHistory(layer, node_index, index)))
    node.outputs, node.output_tensors = nest.pack_as(outputs, made), made
    layer.inbound_nodes.append(node)
    return node.outputs
