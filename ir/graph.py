"""The graph IR: SSA values produced by nodes, in an executable order.

A ``Graph`` has typed inputs (values without a producing node), a list of nodes in execution order
and a list of outputs. Each ``Node`` is one op application with ordered inputs, attributes, typed
results, a name scope and the user's source location. Variables are referenced by name from
``read_variable`` / ``assign_variable`` nodes; ``Graph.variables`` maps each name to its object.
"""
from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import IRError
from .location import Location
from .registry import OpDef, get_op
from .types import TensorType, Typed

if TYPE_CHECKING:
    import networkx as nx

_value_ids = itertools.count()
_display: Callable[[Graph], dict[str, str]] | None = None  # see set_display


def in_dependency_order(items: Iterable, successors: dict, key: Callable) -> list:
    """``items`` in an order where each comes before its ``successors`` (``successors[a]``: those that
    must follow ``a``), the one of least ``key`` first wherever the order is free. Raises IRError on
    a cycle."""
    items = list(items)
    waiting = dict.fromkeys(items, 0)
    for a in items:
        for b in successors.get(a, ()):
            waiting[b] += 1
    ready = [(key(a), i, a) for i, a in enumerate(items) if not waiting[a]]
    heapq.heapify(ready)
    index = {a: i for i, a in enumerate(items)}
    order = []
    while ready:
        _, _, a = heapq.heappop(ready)
        order.append(a)
        for b in successors.get(a, ()):
            waiting[b] -= 1
            if not waiting[b]:
                heapq.heappush(ready, (key(b), index[b], b))
    if len(order) != len(items):
        raise IRError(f"no order respects every dependency: {len(items) - len(order)} items are on a cycle")
    return order


def common_scope(scopes: Iterable[str]) -> str:
    """The longest name scope (``a/b``) that every one of ``scopes`` is in, or ``""``."""
    parts = [s.split("/") if s else [] for s in scopes]
    common = []
    for names in zip(*parts):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    return "/".join(common)


class Value(Typed):
    """One SSA value: a graph input or a node's result."""

    __slots__ = ("id", "type", "node", "index", "name", "__weakref__")

    def __init__(self, type: TensorType, node: "Node | None" = None, index: int = 0, name: str | None = None):
        self.id = next(_value_ids)
        self.type = type
        self.node = node
        self.index = index
        self.name = name

    @property
    def shape(self):
        return self.type.shape

    def __repr__(self) -> str:
        producer = self.node.op if self.node else "input"
        return f"<Value {self.name or self.id}:{self.type} from {producer}>"


class Node:
    """One op application."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "scope", "loc", "is_gradient", "__weakref__")

    def __init__(
        self,
        op: str,
        inputs: Iterable[Value],
        attrs: dict[str, Any],
        output_types: Iterable[TensorType],
        *,
        scope: str = "",
        loc: Location | None = None,
        is_gradient: bool = False,
    ):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.outputs = [Value(t, self, i) for i, t in enumerate(output_types)]
        self.scope = scope
        self.loc = loc
        self.is_gradient = is_gradient

    @property
    def opdef(self) -> OpDef:
        return get_op(self.op)

    @property
    def subgraphs(self) -> dict[str, "Graph"]:
        """The graphs the node holds, by attribute name: a kernel's body, a control-flow op's regions."""
        return {name: a for name, a in self.attrs.items() if isinstance(a, Graph)}

    @property
    def variable(self):
        """The variable a ``read_variable``/``assign_variable`` node touches (its ``var`` attribute), else None."""
        return self.attrs.get("var") if self.opdef.effect else None

    @property
    def calls_host(self) -> bool:
        """Whether running the node calls the host on every run: a stateful host call (``effect="call"``),
        or a region op holding one. Such a node runs in program order with the others and the variable
        writes, and is never removed."""
        return self.opdef.effect == "call" or any(n.calls_host for g in self.subgraphs.values() for n in g.nodes)

    @property
    def meta(self) -> dict[str, Any]:
        """What a copy of the node keeps besides op, inputs and attributes: scope, location, gradient mark."""
        return {"scope": self.scope, "loc": self.loc, "is_gradient": self.is_gradient}

    def __repr__(self) -> str:
        return f"<Node {self.op} -> {', '.join(str(v.type) for v in self.outputs)}>"


class Graph:
    """A typed computation graph in SSA form."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        self.variables: dict[str, Any] = {}

    # -- building ---------------------------------------------------------------------------
    def add_input(self, type: TensorType, name: str | None = None) -> Value:
        value = Value(type, None, len(self.inputs), name)
        self.inputs.append(value)
        return value

    def add_node(self, op: str, inputs, attrs, output_types, **meta) -> Node:
        node = Node(op, inputs, attrs, output_types, **meta)
        self.nodes.append(node)
        return node

    def copy_node(self, node: Node, inputs, attrs: dict[str, Any] | None = None) -> Node:
        """Appends a copy of ``node`` (another graph's, say) reading ``inputs``, with its scope, source
        location and gradient mark; ``attrs`` replaces its attributes."""
        return self.add_node(node.op, inputs, node.attrs if attrs is None else attrs,
                             [v.type for v in node.outputs], **node.meta)

    # -- queries ----------------------------------------------------------------------------
    def resolve_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Attributes as the op's rules take them: a variable's object in place of its name (``var``)."""
        return {**attrs, "var": self.variables[attrs["var"]]} if "var" in attrs else attrs

    def values(self) -> list[Value]:
        """Every value: the inputs, then each node's results in order."""
        return self.inputs + [v for n in self.nodes for v in n.outputs]

    def users(self) -> dict[Value, list[Node]]:
        """For each value, the nodes that read it (in execution order)."""
        users: dict[Value, list[Node]] = {v: [] for v in self.values()}
        for node in self.nodes:
            for v in node.inputs:
                users.setdefault(v, []).append(node)
        return users

    def effect_edges(self) -> list[tuple[Node, Node]]:
        """Ordering constraints that carry no data edge: between variable reads and writes, and between
        host calls (``Node.calls_host``) and the host calls and variable writes before and after them."""
        edges = []
        last_write: dict[str, Node] = {}
        reads_since_write: dict[str, list[Node]] = {}
        last_call: Node | None = None
        writes_since_call: list[Node] = []
        for node in self.nodes:
            if node.calls_host:
                edges.extend([(last_call, node)] if last_call is not None else [])
                edges.extend((w, node) for w in writes_since_call)
                last_call, writes_since_call = node, []
                continue
            var = node.variable
            if var is None:
                continue
            if node.opdef.effect == "read":
                if var in last_write:
                    edges.append((last_write[var], node))
                reads_since_write.setdefault(var, []).append(node)
            else:
                if var in last_write:
                    edges.append((last_write[var], node))
                edges.extend((r, node) for r in reads_since_write.pop(var, []))
                edges.extend([(last_call, node)] if last_call is not None else [])
                last_write[var] = node
                writes_since_call.append(node)
        return edges

    def to_networkx(self) -> nx.DiGraph:
        """Nodes as vertices; data edges (with the value as ``value``) and effect-order edges."""
        import networkx as nx  # loaded on first use: importing graphc stays fast

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for node in self.nodes:
            for v in node.inputs:
                if v.node is not None:
                    g.add_edge(v.node, node, value=v)
        for a, b in self.effect_edges():
            if not g.has_edge(a, b):
                g.add_edge(a, b, value=None)
        return g

    def topological_order(self) -> list[Node]:
        """A valid execution order that keeps the current order wherever it is free to."""
        position = {n: i for i, n in enumerate(self.nodes)}
        successors: dict[Node, set[Node]] = {}
        for node in self.nodes:
            for v in node.inputs:
                if v.node is not None:
                    successors.setdefault(v.node, set()).add(node)
        for a, b in self.effect_edges():
            successors.setdefault(a, set()).add(b)
        return in_dependency_order(self.nodes, successors, position.__getitem__)

    @property
    def kernels(self) -> list[Node]:
        """The fused kernels of a fused graph (empty before fusion)."""
        return [n for n in self.nodes if n.op == "fused"]

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Notebook display: what ``set_display`` installed (graphc.viz: an SVG picture), else the text IR."""
        if _display is None:
            return {"text/plain": str(self)}
        return _display(self)

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")

    def __str__(self) -> str:
        from .text import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, {len(self.outputs)} outputs>"


def set_display(mimebundle: Callable[[Graph], dict[str, str]] | None) -> None:
    """Sets how notebooks show a ``Graph``: ``mimebundle(graph)`` returns Jupyter's ``{mime type: data}``
    (None: the text IR only). The IR draws no pictures itself; ``graphc.viz`` installs its SVG here."""
    global _display
    _display = mimebundle
