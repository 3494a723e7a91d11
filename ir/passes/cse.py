"""Common-subexpression elimination."""
from __future__ import annotations

import numpy as np

from ..graph import Graph
from .rebuild import rebuild


def attr_key(value):
    """A hashable stand-in for an attribute value (arrays by content, slices by their parts)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, (tuple, list)):
        return tuple(attr_key(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, attr_key(v)) for k, v in value.items()))
    if isinstance(value, float) and value != value:
        return ("nan",)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Replaces each node by an earlier node with the same op, inputs and attributes.

    Variable writes are never merged, and a variable read is merged only with a read of the same
    variable since its last write."""
    seen: dict = {}
    writes: dict[str, int] = {}

    def rule(node, inputs, builder):
        if node.op == "assign_variable":
            writes[node.attrs["var"]] = writes.get(node.attrs["var"], 0) + 1
            return None
        key = (node.op, tuple(v.id for v in inputs), attr_key(node.attrs))
        if node.op == "read_variable":
            key += (writes.get(node.attrs["var"], 0),)
        if key in seen:
            return seen[key]
        seen[key] = builder.copy(node, inputs)
        return seen[key]

    return rebuild(graph, rule)
