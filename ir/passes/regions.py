"""Passes and region ops (``cond``, ``while_loop``): every pass also runs inside their sub-graphs.

A region op is one opaque node to the pass running on its graph (nothing is fused or moved across
its boundary); its regions are graphs of their own, optimised and fused by the same passes, innermost
first. Constant folding replaces a ``cond`` whose predicate is a constant by the branch it takes.
"""
from __future__ import annotations

from typing import Callable

from ..graph import Graph, Node, Value
from ..transform import clone_into
from .rebuild import GraphWriter, rebuild


def map_regions(graph: Graph, transform: Callable[[Graph], Graph]) -> Graph:
    """``graph`` with each region of its region ops replaced by ``transform(region)`` (``graph``
    itself when it has no region op)."""
    if not any(n.opdef.regions for n in graph.nodes):
        return graph

    def rule(node: Node, inputs: list[Value], writer: GraphWriter):
        if not node.opdef.regions:
            return None
        attrs = {**node.attrs, **{name: transform(node.attrs[name]) for name in node.opdef.regions}}
        return writer.graph.copy_node(node, inputs, attrs).outputs

    return rebuild(graph, rule)


def in_regions(run: Callable[[Graph], Graph]) -> Callable[[Graph], Graph]:
    """The pass ``run`` applied to every region (innermost first), then to the graph."""

    def run_everywhere(graph: Graph) -> Graph:
        return run(map_regions(graph, run_everywhere))

    return run_everywhere


def taken_branch(node: Node, inputs: list[Value], writer: GraphWriter) -> list[Value] | None:
    """For a ``cond`` whose predicate is a constant: the taken branch's nodes, copied in place of the
    node, and their results; else None."""
    producer = inputs[0].node
    if producer is None or producer.op != "constant":
        return None
    branch = node.attrs["then_branch" if bool(producer.attrs["value"]) else "else_branch"]
    vmap = clone_into(writer.graph, branch, inputs[1:])
    return [vmap[v] for v in branch.outputs]
