"""Kernel fusion: partitioning a graph into ``fused`` nodes that backends lower one unit each.

A kernel has an *iteration space* S (a shape) and a set of *reduced axes* R (empty for elementwise
kernels). Every value a kernel computes is of one of three classes:

- *full*: shape S, computed once per point of S;
- *row*: shape S with the axes R set to 1 (``keepdims``), or removed, computed once per point of the
  kept axes (a per-row value, such as the maximum of a softmax row);

and every reduction in it reduces a full value over exactly R. A full value may read row values
(kept-dims form); a row value reads only row values of its own form. So softmax (max, subtract, exp,
sum, divide) is one kernel: per row, a pass for the maximum, one for the sum, one for the result.

Three kinds of kernels:
- ``elementwise``: elementwise ops (and broadcasts) of one output shape;
- ``reduction``: reductions over the same S and R with their elementwise producers and consumers;
- ``matmul``: one matmul with an epilogue of elementwise ops on its result (bias, activation, an
  SGD update), applied while the result is hot in cache.

Fusion never duplicates a node (scalar constants are copied into each kernel that reads them), never
creates a cycle (checked on the graph of kernels with networkx) and never moves ops that touch
variables, so side effects keep their order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ..graph import Graph, Node, Value
from ..registry import get_op
from .rebuild import Builder

REDUCTIONS = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")
_SHAPE_ONLY = ("broadcast_to", "broadcast_like", "full_like")


def fusible_kind(node: Node) -> str | None:
    """'elementwise', 'reduction' or 'matmul' for ops a kernel can hold; None for the others."""
    if node.op == "matmul":
        return "matmul"
    if node.op in REDUCTIONS:
        return "reduction"
    if get_op(node.op).elementwise or node.op in _SHAPE_ONLY:
        return "elementwise"
    return None


def _is_scalar_constant(value: Value) -> bool:
    return value.node is not None and value.node.op == "constant" and value.node.attrs["value"].size == 1


@dataclass
class Space:
    """A kernel's iteration space S and reduced axes R."""

    shape: tuple
    axes: frozenset = frozenset()

    def row_shapes(self) -> tuple[tuple, tuple]:
        keep = tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))
        drop = tuple(d for i, d in enumerate(self.shape) if i not in self.axes)
        return keep, drop

    def value_class(self, shape: tuple) -> str | None:
        if shape == self.shape:
            return "full"
        if self.axes:
            keep, drop = self.row_shapes()
            if shape == keep:
                return "row"
            if shape == drop:
                return "row_dropped"
        return None


# which classes a value of each class may read from inside its kernel
_MAY_READ = {"full": {"full", "row"}, "row": {"row"}, "row_dropped": {"row_dropped"}}


def kernel_space(nodes: list[Node]) -> tuple[str, Space] | None:
    """The kind and space of a kernel holding ``nodes``, or None if they cannot form one."""
    members = set(nodes)
    matmuls = [n for n in nodes if n.op == "matmul"]
    reductions = [n for n in nodes if n.op in REDUCTIONS]
    if len(matmuls) > 1 or (matmuls and reductions):
        return None
    if matmuls:
        (mm,) = matmuls
        if any(v.node in members for v in mm.inputs):
            return None  # only epilogues: the matmul's operands come from outside
        space, kind = Space(mm.outputs[0].type.shape), "matmul"
    elif reductions:
        first = reductions[0]
        space, kind = Space(first.inputs[0].type.shape, frozenset(first.attrs["axes"])), "reduction"
        if any(r.inputs[0].type.shape != space.shape or frozenset(r.attrs["axes"]) != space.axes for r in reductions):
            return None
    else:
        space, kind = Space(nodes[0].outputs[0].type.shape), "elementwise"
    classes: dict[Value, str] = {}
    for node in nodes:
        if node.op == "matmul":
            classes[node.outputs[0]] = "full"
            continue
        if node.op in REDUCTIONS:
            cls = space.value_class(node.outputs[0].type.shape)
            reads = [("full", node.inputs[0])]
        else:
            cls = space.value_class(node.outputs[0].type.shape)
            reads = [(cls, v) for v in node.inputs]
        if cls is None:
            return None
        for reader_cls, v in reads:
            if v.node in members and classes.get(v) not in _MAY_READ[reader_cls]:
                return None
        classes[node.outputs[0]] = cls
    return kind, space


@dataclass
class _Group:
    nodes: list[Node] = field(default_factory=list)


def _contracted(graph: Graph, group_of: dict[Node, "_Group"]) -> nx.DiGraph:
    """The graph of groups (unfused nodes are groups of their own), with data and effect edges."""
    dag = nx.DiGraph()
    for node in graph.nodes:
        dag.add_node(id(group_of[node]))
    for a, b in graph.to_networkx().edges:
        ga, gb = id(group_of[a]), id(group_of[b])
        if ga != gb:
            dag.add_edge(ga, gb)
    return dag


def _creates_cycle(dag: nx.DiGraph, a: int, b: int) -> bool:
    """Merging groups a and b is cyclic if a path leaves one and reaches the other through a third."""
    for src, dst in ((a, b), (b, a)):
        for succ in dag.successors(src):
            if succ != dst and nx.has_path(dag, succ, dst):
                return True
    return False


def partition(graph: Graph) -> list[list[Node]]:
    """Groups the fusible nodes of ``graph`` into kernels, greedily from producers to consumers."""
    group_of: dict[Node, _Group] = {n: _Group([n]) for n in graph.nodes}
    position = {n: i for i, n in enumerate(graph.nodes)}
    for node in graph.nodes:
        if fusible_kind(node) is None:
            continue
        for value in node.inputs:
            producer = value.node
            if producer is None or fusible_kind(producer) is None:
                continue
            mine, theirs = group_of[node], group_of[producer]
            if mine is theirs:
                continue
            merged = sorted(mine.nodes + theirs.nodes, key=position.__getitem__)
            if kernel_space(merged) is None:
                continue
            if _creates_cycle(_contracted(graph, group_of), id(mine), id(theirs)):
                continue
            theirs.nodes = merged
            for n in mine.nodes:
                group_of[n] = theirs
    seen, groups = set(), []
    for node in graph.nodes:
        g = group_of[node]
        if fusible_kind(node) is not None and id(g) not in seen:
            seen.add(id(g))
            groups.append(g.nodes)
    return groups


def fuse(graph: Graph) -> Graph:
    """A new graph in which every fusible node is inside a ``fused`` node (see the module docstring)."""
    groups = partition(graph)
    group_of: dict[Node, _Group] = {n: _Group([n]) for n in graph.nodes}
    for nodes in groups:
        g = _Group(nodes)
        for n in nodes:
            group_of[n] = g
    users = graph.users()
    outputs = set(graph.outputs)
    dag = _contracted(graph, group_of)
    first = {}
    for i, n in enumerate(graph.nodes):
        first.setdefault(id(group_of[n]), i)
    order = nx.lexicographical_topological_sort(dag, key=first.__getitem__)
    by_id = {id(group_of[n]): group_of[n] for n in graph.nodes}

    new = Graph(graph.name)
    new.variables = dict(graph.variables)
    vmap: dict[Value, Value] = {v: new.add_input(v.type, v.name) for v in graph.inputs}
    builder = Builder(new)
    count = 0
    for gid in order:
        group = by_id[gid]
        if len(group.nodes) == 1 and fusible_kind(group.nodes[0]) is None:
            node = group.nodes[0]
            vmap.update(zip(node.outputs, builder.copy(node, [vmap[v] for v in node.inputs])))
            continue
        kind, _ = kernel_space(group.nodes)
        name = f"{kind}_{count}"
        count += 1
        members = set(group.nodes)
        escaping = [
            v for n in group.nodes for v in n.outputs
            if v in outputs or any(u not in members for u in users.get(v, []))
        ]
        body, external = _kernel_body(name, group.nodes, escaping)
        node = group.nodes[0]
        fused = new.add_node(
            "fused", [vmap[v] for v in external], {"kernel": name, "kind": kind, "body": body},
            [v.type for v in escaping], scope=_common_scope(group.nodes), loc=node.loc,
            is_gradient=all(n.is_gradient for n in group.nodes),
        )
        vmap.update(zip(escaping, fused.outputs))
    new.outputs = [vmap[v] for v in graph.outputs]
    return new


def _kernel_body(name: str, nodes: list[Node], escaping: list[Value]) -> tuple[Graph, list[Value]]:
    """The kernel's own graph, and the outside values it reads (its inputs, in order)."""
    members = set(nodes)
    body = Graph(name)
    vmap: dict[Value, Value] = {}
    external: list[Value] = []
    for node in nodes:
        for v in node.inputs:
            if v in vmap or v.node in members:
                continue
            if _is_scalar_constant(v):
                vmap[v] = Builder(body).copy(v.node, [])[0]
            else:
                external.append(v)
                vmap[v] = body.add_input(v.type, v.name)
    for node in nodes:
        copy = body.add_node(
            node.op, [vmap[v] for v in node.inputs], node.attrs, [v.type for v in node.outputs],
            scope=node.scope, loc=node.loc, is_gradient=node.is_gradient,
        )
        vmap.update(zip(node.outputs, copy.outputs))
    body.outputs = [vmap[v] for v in escaping]
    return body, external


def _common_scope(nodes: list[Node]) -> str:
    scopes = [n.scope.split("/") if n.scope else [] for n in nodes]
    common = []
    for parts in zip(*scopes):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)
