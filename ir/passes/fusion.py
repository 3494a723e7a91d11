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

Fusion never duplicates a node (scalar constants are copied into each kernel that reads them) and
never creates a cycle: before each merge, a search of the graph of kernels (kept up to date merge by
merge) looks for a path from one group to the other through a third. Ops that read or write variables
stay outside kernels, in their traced order.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import Graph, Node, Value, common_scope, in_dependency_order
from .rebuild import GraphWriter

# The most nodes one kernel holds: LLVM's loop vectoriser takes time quadratic in a loop's length
# (a kernel of 3,000 nodes took 3 s, of 6,000 nodes 11 s); longer chains become several kernels.
MAX_KERNEL_NODES = 256


def fusible_kind(node: Node) -> str | None:
    """'elementwise', 'reduction' or 'matmul' for ops a kernel can hold (the op's ``fusion_kind``);
    None for the others."""
    kind = node.opdef.fusion_kind
    return None if kind == "opaque" else kind


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
    matmuls = [n for n in nodes if n.opdef.fusion_kind == "matmul"]
    reductions = [n for n in nodes if n.opdef.reduction]
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
        if node.opdef.fusion_kind == "matmul":
            classes[node.outputs[0]] = "full"
            continue
        if node.opdef.reduction:
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


def _value_class(value: Value, space: Space) -> str | None:
    """The class of a fusible node's result in a kernel of ``space`` (as ``kernel_space`` assigns it)."""
    node = value.node
    if value is not node.outputs[0]:
        return None
    return "full" if node.opdef.fusion_kind == "matmul" else space.value_class(value.type.shape)


@dataclass(eq=False)
class _Group:
    """Nodes forming one kernel (or one unfused node), with the kernel's kind and space."""

    nodes: list[Node]  # in no particular order until ``Groups.finish``
    first: int  # position of its first node in the graph
    kind: str | None = None  # None: a node that is not fused
    space: Space | None = None


class Groups:
    """The graph of kernels being formed: every node in a group (unfused nodes alone in theirs) and
    the edges between groups: data, and the traced order of the ops that read or write variables.

    ``visits`` counts the work of forming them: nodes moved or examined by merges, and groups searched
    for cycles. It grows linearly with the graph where every node has a bounded number of inputs and
    users: a merge looks only at the edges of the smaller group, and the smaller group moves."""

    def __init__(self, graph: Graph):
        self.position = {n: i for i, n in enumerate(graph.nodes)}
        self.group_of = {n: self._single(n, i) for i, n in enumerate(graph.nodes)}
        self.users = graph.users()
        self.succ: dict[_Group, set[_Group]] = {g: set() for g in self.group_of.values()}
        self.pred: dict[_Group, set[_Group]] = {g: set() for g in self.group_of.values()}
        for a, b in _ordering_edges(graph):
            self.succ[self.group_of[a]].add(self.group_of[b])
            self.pred[self.group_of[b]].add(self.group_of[a])
        self.visits = 0

    @staticmethod
    def _single(node: Node, position: int) -> _Group:
        if fusible_kind(node) is None:
            return _Group([node], position)
        kind, space = kernel_space([node])
        return _Group([node], position, kind, space)

    def groups(self) -> list[_Group]:
        return sorted(self.succ, key=lambda g: g.first)

    def merged_space(self, a: _Group, b: _Group) -> tuple[str, Space] | None:
        """The kind and space of one kernel holding the nodes of ``a`` and ``b`` (both fusible
        groups), or None if they cannot form one: exactly what ``kernel_space`` of their union says,
        found from the two groups' own kinds and spaces and the edges between them."""
        if len(a.nodes) + len(b.nodes) > MAX_KERNEL_NODES:
            return None
        if a.kind == "elementwise":
            a, b = b, a  # ``a`` decides the space: the one that is not elementwise, if any
        if b.kind != "elementwise":
            if "matmul" in (a.kind, b.kind) or a.space != b.space:
                return None  # two matmuls, a matmul and reductions, or reductions over other spaces
        elif a.space.value_class(b.space.shape) is None:
            return None  # every value of an elementwise group has its shape
        if not self._edges_fit(a, b, a.space):
            return None
        return a.kind, a.space

    def _edges_fit(self, a: _Group, b: _Group, space: Space) -> bool:
        """Whether every read between ``a`` and ``b`` is one a kernel of ``space`` can make."""
        small, large = (a, b) if len(a.nodes) <= len(b.nodes) else (b, a)
        self.visits += len(small.nodes)
        for node in small.nodes:
            reads = [(node, v) for v in node.inputs if v.node is not None and self.group_of[v.node] is large]
            reads += [(u, v) for v in node.outputs for u in self.users[v] if self.group_of[u] is large]
            if not all(_may_read(reader, value, space) for reader, value in reads):
                return False
        return True

    def creates_cycle(self, a: _Group, b: _Group, horizon: int) -> bool:
        """Whether merging ``a`` and ``b`` makes a cycle: a path leaves one and reaches the other
        through a third group.

        Groups whose first node comes after ``horizon`` are not searched. That is exact while every
        group holding a node after ``horizon`` is a single node (as when partitioning in order): the
        edges of such nodes lead only to later nodes, never back to ``a`` or ``b``."""
        for src, dst in ((a, b), (b, a)):
            stack = [g for g in self.succ[src] if g is not dst and g.first <= horizon]
            seen = set(stack)
            while stack:
                self.visits += 1
                for g in self.succ[stack.pop()]:
                    if g is dst:
                        return True
                    if g not in seen and g.first <= horizon:
                        seen.add(g)
                        stack.append(g)
        return False

    def merge(self, a: _Group, b: _Group, kind: str, space: Space) -> None:
        """Puts the nodes and edges of ``a`` and ``b`` into one group (the larger of the two)."""
        gone, into = (a, b) if len(a.nodes) <= len(b.nodes) else (b, a)
        self.visits += len(gone.nodes)
        into.nodes += gone.nodes
        into.first = min(gone.first, into.first)
        into.kind, into.space = kind, space
        for n in gone.nodes:
            self.group_of[n] = into
        for s in self.succ.pop(gone):
            self.pred[s].discard(gone)
            if s is not into:
                self.pred[s].add(into)
                self.succ[into].add(s)
        for p in self.pred.pop(gone):
            self.succ[p].discard(gone)
            if p is not into:
                self.succ[p].add(into)
                self.pred[into].add(p)

    def finish(self) -> None:
        """Puts every group's nodes in graph order."""
        for g in self.succ:
            g.nodes.sort(key=self.position.__getitem__)

    def topological_order(self) -> list[_Group]:
        """The groups in an order that respects every edge, keeping the graph's order where it is free to."""
        return in_dependency_order(self.succ, self.succ, lambda g: g.first)


def _may_read(reader: Node, value: Value, space: Space) -> bool:
    """Whether, in one kernel of ``space``, ``reader`` may read ``value`` computed in the same kernel."""
    if reader.opdef.fusion_kind == "matmul":
        return False  # a matmul's operands come from outside its kernel
    if reader.opdef.reduction:
        if value is not reader.inputs[0]:
            return True
        reader_class = "full"
    else:
        reader_class = space.value_class(reader.outputs[0].type.shape)
    return _value_class(value, space) in _MAY_READ[reader_class]


def _ordering_edges(graph: Graph) -> list[tuple[Node, Node]]:
    """Data edges, and each op that touches a variable or calls the host before the next such op."""
    edges = [(v.node, n) for n in graph.nodes for v in n.inputs if v.node is not None]
    stateful = [n for n in graph.nodes if n.opdef.effect or n.calls_host]
    return edges + list(zip(stateful, stateful[1:]))


def form_groups(graph: Graph, merge: bool = True) -> Groups:
    """Groups the fusible nodes of ``graph`` into kernels, greedily from producers to consumers;
    with ``merge`` False, every fusible node is a kernel of its own."""
    groups = Groups(graph)
    for i, node in enumerate(graph.nodes):
        if not merge or fusible_kind(node) is None:
            continue
        for value in node.inputs:
            producer = value.node
            if producer is None or fusible_kind(producer) is None:
                continue
            mine, theirs = groups.group_of[node], groups.group_of[producer]
            if mine is theirs:
                continue
            merged = groups.merged_space(mine, theirs)
            if merged is None or groups.creates_cycle(mine, theirs, horizon=i):
                continue
            groups.merge(mine, theirs, *merged)
    groups.finish()
    return groups


def partition(graph: Graph) -> list[list[Node]]:
    """The kernels ``fuse`` forms: the fusible nodes of ``graph`` in groups, each in graph order."""
    return [g.nodes for g in form_groups(graph).groups() if g.kind is not None]


def fuse(graph: Graph) -> Graph:
    """A new graph in which every fusible node is inside a ``fused`` node (see the module docstring).

    A group of fusible nodes none of whose results is used outside it forms no kernel: it is dropped."""
    return _kernels(graph, form_groups(graph))


def kernel_per_op(graph: Graph) -> Graph:
    """``fuse`` without fusion: every fusible node in a ``fused`` node of its own, which is the form
    backends lower (the pipeline's ``fusion`` option switched off)."""
    return _kernels(graph, form_groups(graph, merge=False))


def _kernels(graph: Graph, groups: Groups) -> Graph:
    users = groups.users
    outputs = set(graph.outputs)

    new = Graph(graph.name)
    new.variables = dict(graph.variables)
    vmap: dict[Value, Value] = {v: new.add_input(v.type, v.name) for v in graph.inputs}
    writer = GraphWriter(new)
    count = 0
    for group in groups.topological_order():
        if group.kind is None:
            (node,) = group.nodes
            vmap.update(zip(node.outputs, writer.copy(node, [vmap[v] for v in node.inputs])))
            continue
        members = set(group.nodes)
        escaping = [
            v for n in group.nodes for v in n.outputs
            if v in outputs or any(u not in members for u in users.get(v, []))
        ]
        if not escaping:  # a kernel would compute nothing anyone reads
            continue
        kind = group.kind
        name = f"{kind}_{count}"
        count += 1
        body, external = _kernel_body(name, group.nodes, escaping)
        fused = new.add_node(
            "fused", [vmap[v] for v in external], {"kernel": name, "kind": kind, "body": body},
            [v.type for v in escaping], scope=common_scope(n.scope for n in group.nodes), loc=group.nodes[0].loc,
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
    # a matmul reads its operands from memory: a constant it reads stays a buffer outside the kernel
    matmul_operands = {v for node in nodes if node.opdef.fusion_kind == "matmul" for v in node.inputs}
    for node in nodes:
        for v in node.inputs:
            if v in vmap or v.node in members:
                continue
            if _is_scalar_constant(v) and v not in matmul_operands:
                vmap[v] = GraphWriter(body).copy(v.node, [])[0]
            else:
                external.append(v)
                vmap[v] = body.add_input(v.type, v.name)
    for node in nodes:
        copy = body.copy_node(node, [vmap[v] for v in node.inputs])
        vmap.update(zip(node.outputs, copy.outputs))
    body.outputs = [vmap[v] for v in escaping]
    return body, external


