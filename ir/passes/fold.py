"""Constant folding."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import GraphcError
from ..graph import Graph, Node, Value
from ..types import TensorType
from .rebuild import rebuild
from .regions import taken_branch

DEFAULT_MAX_ELEMENTS = 1 << 12

Evaluate = Callable[[str, list, dict, list], list]


def constant_of(value: Value) -> np.ndarray | None:
    """The value of a ``constant`` node's result, else None."""
    node = value.node
    return node.attrs["value"] if node is not None and node.op == "constant" else None


def _static_dims(node: Node) -> tuple[int, ...]:
    """The input dimensions the result of a shape-only op depends on."""
    if node.op == "dim_size":
        return node.attrs["axes"]
    return tuple(range(node.inputs[0].type.ndim))


def _reads_types_only(node: Node) -> bool:
    """Whether the result depends only on the *types* of the inputs (``full_like``, ``dim_size``):
    foldable once the dimensions it reads are static, whatever computes the inputs."""
    return bool(node.inputs) and all(i in node.opdef.shape_only_inputs for i in range(len(node.inputs)))


def _stand_in(node: Node) -> list[np.ndarray] | None:
    """Arrays of the input's shape (zero-stride, no memory) standing for the input of a shape-only
    op, or None when a dimension it reads is known only at run time."""
    t: TensorType = node.inputs[0].type
    if any(not isinstance(t.shape[a], int) for a in _static_dims(node)):
        return None
    shape = tuple(d if isinstance(d, int) else 1 for d in t.shape)
    return [np.broadcast_to(np.zeros((), t.dtype.numpy), shape)]


def fold_constants(graph: Graph, evaluate: Evaluate, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Graph:
    """Replaces every node whose inputs are all constants by ``constant`` nodes holding its results;
    so too ``full_like`` and ``dim_size`` of a value of static shape (they read only its shape).

    ``evaluate(op, arrays, attrs, result_types)`` runs a node (the NumPy backend's ``run_op``).
    A result with more than ``max_elements`` elements, or of unknown size, is not materialised. A
    node whose evaluation fails (an index out of range) is left for run time, which reports the error
    with the op and the user's source line."""

    def rule(node, inputs, writer):
        if node.op == "cond":  # a constant predicate: the branch taken replaces the node
            return taken_branch(node, inputs, writer)
        if not node.opdef.foldable:
            return None
        types = [v.type for v in node.outputs]
        if any(t.size is None or t.size > max_elements for t in types):
            return None
        arrays = _stand_in(node) if _reads_types_only(node) else [constant_of(v) for v in inputs]
        if arrays is None or any(a is None for a in arrays):
            return None
        try:
            results = evaluate(node.op, arrays, node.attrs, types)
        except GraphcError:
            return None
        return [writer.emit("constant", [], {"value": np.array(r)})[0] for r in results]

    return rebuild(graph, rule)
