"""Rebuilding a graph node by node: the mechanism every pass uses to return a new graph."""
from __future__ import annotations

from typing import Callable

from ..graph import Graph, Node, Value
from ..registry import get_op

# A node rule sees the node being copied, its inputs already mapped into the new graph, and the
# writer; it returns values standing for the node's results, or None to copy the node unchanged.
NodeRule = Callable[[Node, list[Value], "GraphWriter"], list[Value] | None]


class GraphWriter:
    """The graph being built; new nodes inherit the metadata of the node being rewritten."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.origin: Node | None = None

    def emit(self, op: str, inputs: list[Value], attrs: dict | None = None, like: Node | None = None) -> list[Value]:
        attrs = attrs or {}
        types = get_op(op).infer([v.type for v in inputs], **self.graph.resolve_attrs(attrs))
        meta = like or self.origin
        return self.graph.add_node(op, inputs, attrs, types, **(meta.meta if meta else {})).outputs

    def copy(self, node: Node, inputs: list[Value]) -> list[Value]:
        return self.graph.copy_node(node, inputs).outputs


def rebuild(graph: Graph, rule: NodeRule, nodes: list[Node] | None = None) -> Graph:
    """A new graph with ``graph``'s inputs, variables and outputs, each node passed through ``rule``."""
    new = Graph(graph.name)
    new.variables = dict(graph.variables)
    vmap: dict[Value, Value] = {v: new.add_input(v.type, v.name) for v in graph.inputs}
    writer = GraphWriter(new)
    for node in graph.nodes if nodes is None else nodes:
        inputs = [vmap[v] for v in node.inputs]
        writer.origin = node
        results = rule(node, inputs, writer)
        if results is None:
            results = writer.copy(node, inputs)
        vmap.update(zip(node.outputs, results))
    new.outputs = [vmap[v] for v in graph.outputs]
    return new


def structure(graph: Graph) -> tuple:
    """The ops and wiring of a graph, independent of value identities: equal before and after a
    pass that changed nothing."""
    ids = {v: i for i, v in enumerate(graph.values())}
    return tuple((n.op, tuple(ids[v] for v in n.inputs)) for n in graph.nodes) + tuple(ids[v] for v in graph.outputs)
