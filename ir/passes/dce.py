"""Dead-code elimination."""
from __future__ import annotations

from ..graph import Graph
from .rebuild import rebuild


def eliminate_dead_code(graph: Graph) -> Graph:
    """Removes every node that no output and no side effect (variable assignment) depends on.

    Keeps the order of the remaining nodes; variables no node uses any more are dropped."""
    new = rebuild(graph, lambda node, inputs, builder: None, nodes=graph.live_nodes())
    used = {n.attrs["var"] for n in new.nodes if "var" in n.attrs}
    new.variables = {name: var for name, var in new.variables.items() if name in used}
    return new
