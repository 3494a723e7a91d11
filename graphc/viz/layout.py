"""The walk from a graph to what its picture holds: boxes, edges and the clusters boxes sit in (name
scopes, fused kernels, the regions of ``cond`` and ``while_loop``), before any collapsing. Nothing
here needs Graphviz."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.graph import Graph, Node, Value, common_scope
from graphc.ir.text import ValuePrinter

from .labels import attr_lines, bold, constant_values, lines, node_tooltip, op_count, plural, scalar_text

_OPERAND = "·"  # an operand drawn as an edge, where a box names its inlined scalar operands


@dataclass
class Box:
    """One drawn node of the picture."""

    id: str
    kind: str  # a key of dot.SHAPES
    path: tuple  # the clusters it sits in, outermost first (see Layout.clusters)
    label: str  # HTML-like label body
    tooltip: str
    gradient: bool = False
    members: list = field(default_factory=list)  # the IR nodes it stands for


@dataclass
class Edge:
    source: str
    target: str
    value: Value | None  # None: an ordering (effect) edge
    label_type: bool = False  # the picture does not show the value's type elsewhere
    values: list = field(default_factory=list)  # every value the edge carries once edges merge


@dataclass
class Layout:
    """Boxes, edges and clusters before collapsing. A cluster is named by its path, the tuple of
    ``("scope", full scope name)``, ``("kernel", number)`` and ``("region", number)`` steps from the
    top; ``clusters`` maps each path to ``(kind, name, fused or region node, or None)``. ``printer``
    names types as the text IR does (the same ``d0`` for a symbolic dimension)."""

    printer: ValuePrinter
    boxes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    clusters: dict = field(default_factory=dict)

    def type(self, v: Value) -> str:
        return self.printer.type(v.type)


def build_layout(graph: Graph, *, expand_kernels: bool, inline_scalars: bool, effects: bool) -> Layout:
    """The boxes, edges and clusters of ``graph`` (kernel and region bodies drawn inside their clusters
    with ``expand_kernels``, scalar constants written into their readers' boxes with ``inline_scalars``,
    the ordering of variable reads and writes as edges with ``effects``)."""
    return _Builder(graph, expand_kernels, inline_scalars).build(effects)


class _Builder:
    """Walks the graph (and expanded kernel bodies) into boxes, edges and clusters."""

    def __init__(self, graph: Graph, expand_kernels: bool, inline_scalars: bool):
        self.graph = graph
        self.expand_kernels = expand_kernels
        self.inline_scalars = inline_scalars
        self.layout = Layout(ValuePrinter(full_constants=False))
        self.box_of: dict[Node, str] = {}
        self.kernel_count = 0

    def build(self, effects: bool) -> Layout:
        env: dict[Value, tuple | str] = {}  # value -> (box id, value) or the text of an inlined scalar
        for i, v in enumerate(self.graph.inputs):
            name = v.name or f"input {i}"
            box = self.add_box(
                f"in{i}", "input", (), lines(bold(name), self.type(v)), f"argument {i}: {name}: {self.type(v)}"
            )
            env[v] = (box.id, v)
        self.add_nodes(self.graph, env, "", ())
        for i, v in enumerate(self.graph.outputs):
            box = self.add_box(f"out{i}", "output", (), lines(bold(f"output {i}"), self.type(v)), f"result {i}")
            self.connect(env, v, box.id)
        if effects:
            for a, b in self.graph.effect_edges():
                if a in self.box_of and b in self.box_of:
                    self.layout.edges.append(Edge(self.box_of[a], self.box_of[b], None))
        return self.layout

    def type(self, v: Value) -> str:
        return self.layout.type(v)

    def add_box(self, id: str, kind: str, path: tuple, label: str, tooltip: str, node: Node | None = None) -> Box:
        gradient = bool(node is not None and node.is_gradient)
        box = Box(id, kind, path, label, tooltip, gradient, [node] if node is not None else [])
        self.layout.boxes[id] = box
        if node is not None:
            self.box_of[node] = id
        return box

    def connect(self, env: dict, value: Value, target: str) -> None:
        """An edge from the box producing ``value`` (none for an inlined scalar); the edge names the
        value's type when its producer has several results."""
        source = env.get(value)
        if isinstance(source, tuple):
            box_id, produced = source
            several_results = produced.node is not None and len(produced.node.outputs) > 1
            self.layout.edges.append(Edge(box_id, target, produced, several_results, [produced]))

    def add_nodes(self, graph: Graph, env: dict, prefix: str, base: tuple) -> None:
        """Boxes for ``graph``'s nodes; ``base`` is the cluster path of scope ``prefix``."""
        for node in graph.nodes:
            if self.inline_scalars and _is_scalar_constant(node):
                env[node.outputs[0]] = scalar_text(np.asarray(node.attrs["value"]).reshape(()))
            elif node.op == "fused" and self.expand_kernels:
                self.add_kernel(node, env, prefix, base)
            elif any(isinstance(a, Graph) for a in node.attrs.values()) and self.expand_kernels:
                self.add_region_op(node, env, prefix, base)
            else:
                self.add_node(node, env, self.scope_path(node.scope, prefix, base))

    def scope_path(self, scope: str, prefix: str, base: tuple) -> tuple:
        """The cluster path of ``scope``: ``base`` (the path of scope ``prefix``) and a cluster for each
        level of ``scope`` below ``prefix``."""
        if not scope or scope == prefix or (prefix and not scope.startswith(prefix + "/")):
            return base
        parts = scope.split("/")
        start = len(prefix.split("/")) if prefix else 0
        path = base
        for i in range(start, len(parts)):
            name = "/".join(parts[: i + 1])
            path += (("scope", name),)
            self.layout.clusters.setdefault(path, ("scope", name, None))
        return path

    def add_node(self, node: Node, env: dict, path: tuple) -> None:
        id = f"n{len(self.layout.boxes)}"
        kind, label = self.describe(node, env)
        box = self.add_box(id, kind, path, label, node_tooltip(node), node)
        for v in node.inputs:
            self.connect(env, v, box.id)
        for v in node.outputs:
            env[v] = (box.id, v)

    def describe(self, node: Node, env: dict) -> tuple[str, str]:
        types = [self.type(v) for v in node.outputs]
        if node.op == "read_variable":
            return "variable", lines(bold(node.attrs["var"]), *types)
        if node.op == "assign_variable":
            return "assign", lines(bold(f"assign {node.attrs['var']}"))
        if node.op == "constant":
            return "constant", lines(bold("constant"), *types, *constant_values(node.attrs["value"]))
        if node.op == "fused":
            body = node.attrs["body"]
            header = f"{node.attrs.get('kind', '')} kernel · {plural(op_count(body), 'op')}"
            return "kernel", lines(bold(node.attrs.get("kernel", "fused")), header, *types)
        operands = [env[v] if isinstance(env.get(v), str) else _OPERAND for v in node.inputs]
        head = bold(node.op)
        if any(o != _OPERAND for o in operands):
            head += html.escape(f"({', '.join(operands)})")
        return "op", lines(head, *attr_lines(node), *types)

    def add_kernel(self, node: Node, env: dict, prefix: str, base: tuple) -> None:
        """A kernel as a cluster holding its body; its results come from the body's results."""
        body = node.attrs["body"]
        inner_prefix = common_scope([n.scope for n in body.nodes if n.op != "constant"])
        if prefix and not (inner_prefix == prefix or inner_prefix.startswith(prefix + "/")):
            inner_prefix = prefix
        path = self.scope_path(inner_prefix, prefix, base) + (("kernel", self.kernel_count),)
        self.kernel_count += 1
        self.layout.clusters[path] = ("kernel", node.attrs.get("kernel", "fused"), node)
        body_env = {inner: env.get(outer) for inner, outer in zip(body.inputs, node.inputs)}
        self.add_nodes(body, body_env, inner_prefix, path)
        for outer, inner in zip(node.outputs, body.outputs):
            env[outer] = body_env.get(inner)

    def add_region_op(self, node: Node, env: dict, prefix: str, base: tuple) -> None:
        """A node holding regions (``cond``'s branches, ``while_loop``'s condition and body): its own
        box, and beside it a cluster per region with the region's inputs and nodes, whose results
        flow into the node's box."""
        path = self.scope_path(node.scope, prefix, base)
        op_box = f"n{len(self.layout.boxes)}"
        self.add_node(node, env, path)
        for name, region in ((k, a) for k, a in node.attrs.items() if isinstance(a, Graph)):
            region_path = path + (("region", self.kernel_count),)
            self.kernel_count += 1
            self.layout.clusters[region_path] = ("region", f"{node.op} · {name}", node)
            region_env: dict = {}
            for i, v in enumerate(region.inputs):
                box_id = f"n{len(self.layout.boxes)}"
                self.add_box(box_id, "input", region_path, lines(bold(v.name or f"in {i}"), self.type(v)), "")
                region_env[v] = (box_id, v)
            self.add_nodes(region, region_env, prefix, region_path)
            for v in region.outputs:
                self.connect(region_env, v, op_box)


def _is_scalar_constant(node: Node) -> bool:
    return node.op == "constant" and np.size(node.attrs["value"]) == 1
