"""Tracing: running Python once with symbolic tensors to record a graph.

``TraceHandler`` is the dispatch handler in force while a function body is traced: every op bound
inside appends a node to the function's graph. Eager tensors and arrays used inside become
constants; variables are read and written through ``read_variable`` / ``assign_variable`` nodes.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import numpy as np

from graphc.backends.numpy.interpreter import Interpreter
from graphc.ir import dispatch
from graphc.ir.arguments import arguments_of, as_shape
from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph, Value
from graphc.ir.ops.host import holds_host_call
from graphc.ir.types import DType, TensorType, as_dtype, check_size, float32, fresh_dim

from .eager import EAGER
from .tensor import Tensor, eager_array
from .tensor_shape import TensorShape, static_shape


@dataclass(frozen=True)
class TensorSpec:
    """The type of a tensor argument: a ``shape`` whose dimensions are ints or None (any size, a
    symbolic dimension in the graph) and a ``dtype``; ``name`` names the graph input."""

    shape: TensorShape
    dtype: DType = float32
    name: str | None = field(default=None, compare=False)

    def __init__(self, shape, dtype=float32, name=None):
        with arguments_of("TensorSpec"):
            object.__setattr__(self, "shape", static_shape(as_shape(shape, unknown=True)))
            object.__setattr__(self, "dtype", as_dtype(dtype))
            check_size(self.shape, self.dtype)
        object.__setattr__(self, "name", name)

    @classmethod
    def from_value(cls, value) -> "TensorSpec":
        """The spec of a tensor (symbolic dimensions become None) or of an array."""
        if isinstance(value, Tensor):
            return cls([d if isinstance(d, int) else None for d in value.type.shape], value.dtype)
        array = np.asarray(value)
        return cls(array.shape, array.dtype)

    def is_compatible_with(self, other: "TensorSpec") -> bool:
        """True when some tensor could have both types (same dtype and rank, no two known sizes differ)."""
        return (
            self.dtype == other.dtype
            and len(self.shape) == len(other.shape)
            and all(a is None or b is None or a == b for a, b in zip(self.shape, other.shape))
        )

    def is_subtype_of(self, other: "TensorSpec") -> bool:
        """True when every tensor of this type is also of type ``other``."""
        return self.is_compatible_with(other) and all(b is None or a == b for a, b in zip(self.shape, other.shape))

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join('None' if d is None else str(d) for d in self.shape)}]"


REGION_GRAPHS: weakref.WeakSet = weakref.WeakSet()  # the graphs of loop bodies and branches (control_flow's)

_ESCAPED_FROM_REGION = (
    "it was computed inside a loop or branch on tensors ({graph}) and is used after it, which only "
    "variables assigned there (x = ...) can carry out. A Python list appended to in a loop over a symbolic "
    "gc.range cannot grow while the graph runs (graphc's shapes are known when traced): give the loop a bound "
    "known when traced (a Python int or static shape: the loop unrolls), or collect into gc.TensorArray(size=...), "
    "or use gc.map_fn"
)


class TraceHandler(dispatch.GraphBuilder):
    """Records ops into ``graph``; inputs and results are gc.Tensors. ``on_first_product`` (if given)
    is called once, when the first product (an op of fusion kind ``matmul``) is recorded: the
    backend that will compile the graph may prepare for it meanwhile."""

    def __init__(self, graph: Graph, on_first_product=None):
        super().__init__(graph)
        self.on_first_product = on_first_product

    def to_value(self, x) -> Value:
        if isinstance(x, Tensor):
            if not x.is_symbolic:
                return self.add("constant", [], {"value": eager_array(x)})[0]
            if x.graph is not self.graph:
                if x.graph in REGION_GRAPHS:
                    raise InvalidArgumentError(f"the symbolic tensor {x!r} cannot be used here: "
                                               + _ESCAPED_FROM_REGION.format(graph=x.graph.name))
                raise InvalidArgumentError(
                    f"the symbolic tensor {x!r} belongs to another traced function ({x.graph.name}); "
                    "pass it as an argument or return it instead"
                )
            return x.ir_value
        return super().to_value(x)

    def lift(self, x) -> Tensor:
        if isinstance(x, Tensor) and x.graph is self.graph:
            return x
        return self.wrap(self.to_value(x))

    def process(self, opdef, inputs, attrs):
        if self.on_first_product is not None and opdef.fusion_kind == "matmul":
            prepare, self.on_first_product = self.on_first_product, None
            prepare()
        return [self.wrap(v) for v in self.add(opdef.name, [x.ir_value for x in inputs], attrs)]

    def wrap(self, value: Value) -> Tensor:
        return Tensor(value=value, graph=self.graph)


def current_trace() -> TraceHandler | None:
    handler = dispatch.current_handler()
    return handler if isinstance(handler, TraceHandler) else None


@contextlib.contextmanager
def init_scope():
    """Runs the block eagerly even while a function is being traced (for creating state)."""
    with dispatch.handler(EAGER):
        yield


def placeholder(graph: Graph, spec: TensorSpec, name: str) -> Tensor:
    """A new input of ``graph`` of type ``spec``; each None dimension becomes a fresh symbolic size."""
    shape = tuple(fresh_dim() if d is None else d for d in spec.shape)
    return Tensor(value=graph.add_input(TensorType(shape, spec.dtype), name), graph=graph)


def constant_value(tensor: Tensor) -> np.ndarray | None:
    """The value of a symbolic tensor computed only from constants, or None if it depends on inputs
    or variables."""
    if not tensor.is_symbolic:
        return tensor.numpy()
    graph = tensor.graph
    needed, stack = set(), [tensor.ir_value]
    while stack:
        value = stack.pop()
        if value.node is None or value.node.opdef.effect or holds_host_call(value.node):
            return None  # (a host call's function runs when the graph does, never while tracing)
        if value.node not in needed:
            needed.add(value.node)
            stack.extend(value.node.inputs)
    sub = Graph("constant")
    sub.nodes = [n for n in graph.nodes if n in needed]
    sub.outputs = [tensor.ir_value]
    return Interpreter(sub).run([])[0]
