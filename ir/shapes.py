"""Concrete shapes: re-running the shape rules of a graph on the input shapes of one call."""
from __future__ import annotations

from .errors import GraphcError
from .graph import Graph, Value
from .registry import get_op
from .types import TensorType


def concrete_types(graph: Graph, input_types: list[TensorType]) -> dict[Value, TensorType]:
    """The type of every value (kernel bodies included) when the inputs have ``input_types``.

    Raises the shape rule's error where the sizes do not fit (a run-time dimension mismatch)."""
    types: dict[Value, TensorType] = dict(zip(graph.inputs, input_types))
    for node in graph.nodes:
        in_types = [types[v] for v in node.inputs]
        if node.op == "fused":
            body = node.attrs["body"]
            inner = concrete_types(body, in_types)
            types.update(inner)
            out_types = [inner[v] for v in body.outputs]
        else:
            try:
                out_types = get_op(node.op).infer(in_types, **graph.resolve_attrs(node.attrs))
            except GraphcError as error:
                raise error.at(node) from None
        types.update(zip(node.outputs, out_types))
    return types
