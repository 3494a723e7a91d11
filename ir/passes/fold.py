"""Constant folding."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..graph import Graph, Value
from ..registry import get_op
from .rebuild import rebuild

# Ops never evaluated at compile time: state, and whole-graph calls.
_NOT_FOLDABLE = {"read_variable", "assign_variable", "call", "fused", "constant"}
DEFAULT_MAX_ELEMENTS = 1 << 12

Evaluate = Callable[[str, list, dict, list], list]


def constant_of(value: Value) -> np.ndarray | None:
    """The value of a ``constant`` node's result, else None."""
    node = value.node
    return node.attrs["value"] if node is not None and node.op == "constant" else None


def fold_constants(graph: Graph, evaluate: Evaluate, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Graph:
    """Replaces every node whose inputs are all constants by ``constant`` nodes holding its results.

    ``evaluate(op, arrays, attrs, result_types)`` runs a node (the NumPy backend's ``run_kernel``).
    A result with more than ``max_elements`` elements, or of unknown size, is not materialised."""

    def rule(node, inputs, builder):
        if node.op in _NOT_FOLDABLE or get_op(node.op).effect:
            return None
        arrays = [constant_of(v) for v in inputs]
        if any(a is None for a in arrays):
            return None
        types = [v.type for v in node.outputs]
        if any(t.size is None or t.size > max_elements for t in types):
            return None
        results = evaluate(node.op, arrays, node.attrs, types)
        return [builder.emit("constant", [], {"value": np.asarray(r)})[0] for r in results]

    return rebuild(graph, rule)
