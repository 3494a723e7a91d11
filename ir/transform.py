"""Graph-to-graph building blocks: copying a graph's nodes into another graph."""
from __future__ import annotations

from typing import Callable

from .graph import Graph, Node, Value


def clone_into(
    target: Graph,
    source: Graph,
    inputs: list[Value],
    substitute: Callable[[Node], list[Value] | None] = lambda node: None,
) -> dict[Value, Value]:
    """Copies ``source``'s nodes to the end of ``target``, reading ``inputs`` in place of
    ``source.inputs``; returns the map from ``source`` values to ``target`` values.

    ``substitute(node)`` may return values to use for a node's results instead of copying it (an empty
    list drops a node without results)."""
    vmap: dict[Value, Value] = dict(zip(source.inputs, inputs))
    for name, var in source.variables.items():
        target.variables.setdefault(name, var)
    for node in source.nodes:
        replacement = substitute(node)
        if replacement is None:
            replacement = target.copy_node(node, [vmap[v] for v in node.inputs]).outputs
        vmap.update(zip(node.outputs, replacement))
    return vmap
