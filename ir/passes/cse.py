"""Common-subexpression elimination."""
from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..registry import get_op
from .rebuild import rebuild


def attr_key(value):
    """A hashable stand-in for an attribute value, equal only for attributes that mean the same.

    Arrays compare by dtype, shape and bytes; scalars by type and, for floats, by their exact bits
    (so ``0.0`` and ``-0.0`` differ, and NaN equals NaN); slices by their parts; graphs by identity."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.tobytes())
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, slice):
        return ("slice", attr_key(value.start), attr_key(value.stop), attr_key(value.step))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(attr_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *sorted((k, attr_key(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return (type(value).__name__, value)


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """Replaces each node by an earlier node with the same op, inputs and attributes.

    Variable writes are never merged, and a variable read is merged only with a read of the same
    variable since its last write."""
    seen: dict = {}
    writes: dict[str, int] = {}

    def rule(node, inputs, writer):
        effect = get_op(node.op).effect
        if effect == "write":
            writes[node.attrs["var"]] = writes.get(node.attrs["var"], 0) + 1
        if effect not in (None, "read") or node.calls_host:
            return None
        # the result types are part of the key: equal inputs may still carry different symbolic sizes
        key = (node.op, tuple(v.id for v in inputs), attr_key(node.attrs), tuple(str(v.type) for v in node.outputs))
        if effect == "read":
            key += (writes.get(node.attrs["var"], 0),)
        if key not in seen:
            seen[key] = writer.copy(node, inputs)
        return seen[key]

    return rebuild(graph, rule)
