"""Dead-code elimination."""
from __future__ import annotations

from ..graph import Graph, Node
from ..registry import get_op
from .rebuild import rebuild


def live_nodes(graph: Graph) -> list[Node]:
    """The nodes an output, a variable write or a host call (``Node.calls_host``) depends on through data, in order.

    Ordering constraints between reads and writes of a variable keep nothing alive: a read whose
    value no one uses is dead even when a write of the same variable follows it."""
    live = {v.node for v in graph.outputs if v.node is not None}
    live |= {n for n in graph.nodes if get_op(n.op).effect == "write" or n.calls_host}
    for node in reversed(graph.nodes):  # consumers come after their producers
        if node in live:
            live.update(v.node for v in node.inputs if v.node is not None)
    return [n for n in graph.nodes if n in live]


def eliminate_dead_code(graph: Graph) -> Graph:
    """Removes every node that no output and no side effect (variable assignment, host call) depends on.

    Keeps the order of the remaining nodes; variables no node uses any more are dropped."""
    new = rebuild(graph, lambda node, inputs, writer: None, nodes=live_nodes(graph))
    used = {n.attrs["var"] for n in new.nodes if "var" in n.attrs}
    new.variables = {name: var for name, var in new.variables.items() if name in used}
    return new
