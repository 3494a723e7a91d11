"""The verifier: checks that a graph is well formed. It runs after tracing and after every pass."""
from __future__ import annotations

from .errors import IRError
from .graph import Graph, Node
from .registry import OPS
from .types import TensorType


def verify(graph: Graph) -> Graph:
    """Returns ``graph`` or raises IRError naming the first problem and its node: an unknown op, a
    result not linked to its node, a value used but defined nowhere in the graph, a cycle, a value
    used before it is defined, an unknown variable, or result types that disagree with the op's
    shape rule. Graphs held by nodes (``Node.subgraphs``: kernels' bodies, control-flow regions) are verified too."""
    where = _Descriptions(graph)
    _check_structure(graph, where)
    defined = set(graph.inputs)
    for node in graph.nodes:
        for i, v in enumerate(node.inputs):
            if v not in defined:
                # in node order every input is defined before its use unless the graph has a cycle
                _check_acyclic(graph, where)
                raise IRError(f"{where[node]}: input {i} ({_value(v, where)}) is used before it is defined")
        _check_types(graph, node, where)
        for subgraph in node.subgraphs.values():
            verify(subgraph)
        defined.update(node.outputs)
    return graph


class _Descriptions:
    """Where each node is, in words (``where[node]``), written only for the node an error names."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.position: dict[Node, int] | None = None

    def get(self, node: Node, default: str) -> str:
        if self.position is None:
            self.position = {n: i for i, n in enumerate(self.graph.nodes)}
        if node not in self.position:
            return default
        where = f"graph {self.graph.name}, node {self.position[node]} ({node.op})"
        return where + (f" at {node.loc}" if node.loc else "")

    def __getitem__(self, node: Node) -> str:
        return self.get(node, node.op)


def _value(v, where: _Descriptions) -> str:
    producer = "a graph input" if v.node is None else f"result {v.index} of {where.get(v.node, v.node.op)}"
    return f"{v.type}, {producer}"


def _check_structure(graph: Graph, where: dict) -> None:
    """Every op known, every value defined exactly once in this graph."""
    defined = set()
    for i, v in enumerate(graph.inputs):
        if v in defined or v.node is not None:
            raise IRError(f"graph {graph.name}: input {i} ({v.type}) is listed twice or is a node's result")
        defined.add(v)
    for node in graph.nodes:
        if node.op not in OPS:
            raise IRError(f"{where[node]}: unknown op {node.op!r}")
        for i, v in enumerate(node.outputs):
            if v in defined or v.node is not node or v.index != i:
                raise IRError(f"{where[node]}: result {i} is defined twice or not linked to its node")
            defined.add(v)
    for node in graph.nodes:
        for i, v in enumerate(node.inputs):
            if v not in defined:
                raise IRError(f"{where[node]}: input {i} ({_value(v, where)}) is not defined in this graph")
    for i, v in enumerate(graph.outputs):
        if v not in defined:
            raise IRError(f"graph {graph.name}: output {i} ({_value(v, where)}) is not defined in this graph")


def _check_acyclic(graph: Graph, where: dict) -> None:
    import networkx as nx  # loaded on first use: importing graphc stays fast

    data = nx.DiGraph()
    data.add_nodes_from(graph.nodes)
    data.add_edges_from((v.node, node) for node in graph.nodes for v in node.inputs if v.node is not None)
    try:
        cycle = nx.find_cycle(data)
    except nx.NetworkXNoCycle:
        return
    path = " -> ".join(where[a] for a, _ in cycle) + " -> " + where[cycle[0][0]]
    raise IRError(f"graph {graph.name}: has a cycle: {path}")


def _check_types(graph: Graph, node: Node, where: _Descriptions) -> None:
    if "var" in node.attrs and node.attrs["var"] not in graph.variables:
        raise IRError(f"{where[node]}: unknown variable {node.attrs['var']!r} (the graph declares {sorted(graph.variables)})")
    attrs = graph.resolve_attrs(node.attrs)
    recorded = tuple(v.type for v in node.outputs)
    key = None if "var" in attrs else _signature(node.op, node.inputs, attrs, recorded)
    if key in _AGREEING:
        return
    try:
        inferred = OPS[node.op].infer([v.type for v in node.inputs], **attrs)
    except Exception as error:  # noqa: BLE001 - any failure of the shape rule means a malformed node
        raise IRError(f"{where[node]}: the op's shape rule rejects its inputs or attributes: {_message(error)}") from None
    if len(inferred) != len(recorded) or not all(map(_types_agree, recorded, inferred)):
        raise IRError(
            f"{where[node]}: results typed {', '.join(map(str, recorded)) or 'none'} but the op's shape rule "
            f"gives {', '.join(map(str, inferred)) or 'none'}"
        )
    if key is not None and len(_AGREEING) < _AGREEING_MAX:
        _AGREEING.add(key)


# Signatures (op, input types, attributes, result types) whose result types the op's shape rule has
# accepted: shape rules are pure, so a pass that copies a node need not have its rule run again.
_AGREEING: set = set()
_AGREEING_MAX = 1 << 16


def _signature(op: str, inputs, attrs: dict, recorded: tuple) -> tuple | None:
    """The signature of a node, or None when an attribute is not a plain value (an array, a graph)."""
    try:
        attr_keys = tuple((name, _plain(value)) for name, value in sorted(attrs.items()))
    except TypeError:
        return None
    return op, tuple(v.type for v in inputs), attr_keys, recorded


def _plain(value):
    """``value`` with its type, so that equal keys mean equal attributes (``1``, ``1.0`` and ``True``
    differ, as do ``0.0`` and ``-0.0``); TypeError for anything but numbers, strings, None and tuples."""
    if isinstance(value, (tuple, list)):
        return type(value).__name__, tuple(map(_plain, value))
    if isinstance(value, float):
        return "float", value.hex()
    if value is None or isinstance(value, (bool, int, str)):
        return type(value).__name__, value
    raise TypeError(type(value).__name__)


def _message(error: Exception) -> str:
    return getattr(error, "message", None) or f"{type(error).__name__}: {error}"


def _types_agree(recorded: TensorType, inferred: TensorType) -> bool:
    """Equal, where any two symbolic dimensions agree (a shape rule may name a size afresh)."""
    if recorded.dtype != inferred.dtype or recorded.ndim != inferred.ndim:
        return False
    return all(a == b or (isinstance(a, str) and isinstance(b, str)) for a, b in zip(recorded.shape, inferred.shape))
