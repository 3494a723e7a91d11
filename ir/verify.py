"""The verifier: checks that a graph is well formed. It runs after tracing and after every pass."""
from __future__ import annotations

import networkx as nx

from .errors import GraphcError, IRError
from .graph import Graph
from .registry import OPS
from .types import TensorType


def _types_agree(recorded: TensorType, inferred: TensorType) -> bool:
    if recorded.dtype != inferred.dtype or recorded.ndim != inferred.ndim:
        return False
    return all(a == b or (isinstance(a, str) and isinstance(b, str)) for a, b in zip(recorded.shape, inferred.shape))


def verify(graph: Graph) -> Graph:
    """Raises IRError naming the first problem: an unknown op, a value used before it is defined or
    defined twice, a result type the op's shape rule disagrees with, an unknown variable, a cycle."""
    defined = set()
    for v in graph.inputs:
        if v in defined:
            raise IRError(f"graph {graph.name}: input {v!r} is listed twice")
        defined.add(v)
    for position, node in enumerate(graph.nodes):
        where = f"graph {graph.name}, node {position} ({node.op})" + (f" at {node.loc}" if node.loc else "")
        if node.op not in OPS:
            raise IRError(f"{where}: unknown op")
        for i, v in enumerate(node.inputs):
            if v not in defined:
                raise IRError(f"{where}: input {i} ({v!r}) is used before it is defined")
        attrs = dict(node.attrs)
        if "var" in attrs:
            if attrs["var"] not in graph.variables:
                raise IRError(f"{where}: unknown variable {attrs['var']!r}")
            attrs["var"] = graph.variables[attrs["var"]]
        try:
            inferred = OPS[node.op].infer([v.type for v in node.inputs], **attrs)
        except GraphcError as error:
            raise IRError(f"{where}: {error.message}") from None
        recorded = [v.type for v in node.outputs]
        if len(inferred) != len(recorded) or not all(map(_types_agree, recorded, inferred)):
            raise IRError(
                f"{where}: results typed {', '.join(map(str, recorded)) or 'none'} but the op's shape rule "
                f"gives {', '.join(map(str, inferred)) or 'none'}"
            )
        for i, v in enumerate(node.outputs):
            if v in defined or v.node is not node or v.index != i:
                raise IRError(f"{where}: result {i} is defined twice or not linked to its node")
            defined.add(v)
    for i, v in enumerate(graph.outputs):
        if v not in defined:
            raise IRError(f"graph {graph.name}: output {i} ({v!r}) is not defined")
    if not nx.is_directed_acyclic_graph(graph.to_networkx()):
        raise IRError(f"graph {graph.name}: has a cycle")
    return graph
