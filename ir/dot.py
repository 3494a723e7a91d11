"""Graphviz pictures of a graph: ``Graph.to_dot(...)`` returns a ``graphviz.Digraph``.

What a picture shows:

- each op as a rounded box with its op name, short attributes and result types; scalar constants
  are written into the boxes that read them (``multiply(0.01, ·)``) instead of drawn apart;
- graph inputs (with their argument names), variable reads, variable assignments, constants and
  outputs as distinct shapes; gradient nodes filled in another colour than the forward pass;
- fused kernels as clusters labelled with the kernel's name, kind and op count, their body drawn
  inside (``expand_kernels=False``: one box per kernel);
- name scopes as nested clusters (``collapse_scopes``: whole scopes as single boxes);
- the user's file:line as each node's tooltip (SVG); large constants abbreviated to their type;
  edges labelled with types where a box does not say it (several results, collapsed boxes).

Only the ``graphviz`` package is needed to build the picture; rendering it needs Graphviz's ``dot``.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import graphviz
import numpy as np

from .errors import InvalidArgumentError
from .graph import Graph, Node, Value
from .text import _Printer, format_attr

FONT = "Helvetica,Arial,sans-serif"
COLORS = {
    "forward": "#dbeafe",
    "gradient": "#fed7aa",
    "input": "#bbf7d0",
    "variable": "#fef3c7",
    "assign": "#fde68a",
    "constant": "#e5e7eb",
    "output": "#fbcfe8",
    "kernel": "#f5f3ff",
    "kernel_border": "#7c3aed",
    "scope": "#f8fafc",
    "scope_border": "#64748b",
    "edge": "#475569",
    "gradient_edge": "#c2410c",
}
_SHAPES = {
    "input": ("invhouse", "filled"),
    "variable": ("cylinder", "filled"),
    "assign": ("cylinder", "filled,bold"),
    "constant": ("note", "filled"),
    "output": ("house", "filled"),
    "op": ("box", "rounded,filled"),
    "kernel": ("box", "filled,bold"),
    "group": ("box3d", "filled"),
}
_MAX_ATTR_CHARS = 28
_MAX_CONSTANT_VALUES = 8
_MAX_EDGE_LABEL_TYPES = 2
_OPERAND = "·"


@dataclass
class _Box:
    """One drawn node of the picture."""

    id: str
    kind: str  # a key of _SHAPES
    path: tuple  # the clusters it sits in, outermost first (see _Layout.clusters)
    label: str  # HTML-like label body
    tooltip: str
    gradient: bool = False
    members: list = field(default_factory=list)  # the IR nodes it stands for


@dataclass
class _Edge:
    source: str
    target: str
    value: Value | None  # None: an ordering (effect) edge
    label_type: bool = False  # the picture does not show the value's type elsewhere
    values: list = field(default_factory=list)  # every value the edge carries once edges merge


@dataclass
class _Layout:
    """Boxes, edges and clusters before collapsing. A cluster is named by its path, the tuple of
    ``("scope", full scope name)`` and ``("kernel", number)`` steps from the top; ``clusters`` maps each
    path to ``(kind, name, fused node or None)``."""

    boxes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    clusters: dict = field(default_factory=dict)


# -- public ---------------------------------------------------------------------------------------
def to_dot(
    graph: Graph,
    *,
    gradients: bool = True,
    collapse_scopes: bool | Iterable[str] = False,
    expand_kernels: bool = True,
    inline_scalars: bool = True,
    edge_labels: bool | str = "auto",
    effects: bool = False,
    rankdir: str = "TB",
    title: str | None = None,
) -> graphviz.Digraph:
    """The graph as a Graphviz digraph.

    - ``gradients``: False draws the whole backward pass as one box;
    - ``collapse_scopes``: True draws every outermost name scope as one box; a collection of scope
      names (``"dense_1"``, ``"model/dense_1"``) collapses just those;
    - ``expand_kernels``: False draws each fused kernel as one box instead of a cluster of its body;
    - ``inline_scalars``: False draws scalar constants as nodes of their own;
    - ``edge_labels``: ``"auto"`` labels edges whose type no box shows, True every data edge;
    - ``effects``: also draw the ordering between variable reads and writes (dashed);
    - ``rankdir``: ``"TB"`` (top to bottom) or ``"LR"``; ``title``: the caption (default: the name).
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if edge_labels not in (True, False, "auto"):
        raise InvalidArgumentError(f"to_dot: edge_labels must be True, False or 'auto', got {edge_labels!r}")
    builder = _Builder(graph, expand_kernels, inline_scalars)
    layout = builder.build(effects)
    collapse = _Collapser(layout, gradients, collapse_scopes)
    boxes, edges = collapse.apply()
    caption = title if title is not None else f"{graph.name} · {_count(len(graph.nodes), 'node')}"
    return _emit(graph.name, boxes, edges, layout.clusters, builder.printer, caption, rankdir, edge_labels)


def render_svg(dot: graphviz.Digraph) -> str | None:
    """The picture as SVG text, or None when Graphviz's ``dot`` program is not installed."""
    try:
        return dot.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return None


def mimebundle(graph: Graph, **options) -> dict[str, str]:
    """Notebook display: the SVG picture and the text IR (only the text without ``dot``)."""
    bundle = {"text/plain": str(graph)}
    svg = render_svg(to_dot(graph, **options))
    if svg is not None:
        bundle["image/svg+xml"] = svg
    return bundle


# -- collecting boxes and edges ---------------------------------------------------------------------
class _Builder:
    """Walks the graph (and expanded kernel bodies) into boxes, edges and clusters."""

    def __init__(self, graph: Graph, expand_kernels: bool, inline_scalars: bool):
        self.graph = graph
        self.expand_kernels = expand_kernels
        self.inline_scalars = inline_scalars
        self.printer = _Printer(full_constants=False)
        self.layout = _Layout()
        self.box_of: dict[Node, str] = {}
        self.kernel_count = 0

    def build(self, effects: bool) -> _Layout:
        env: dict[Value, tuple | str] = {}  # value -> (box id, value) or the text of an inlined scalar
        for i, v in enumerate(self.graph.inputs):
            name = v.name or f"input {i}"
            box = self.add_box(
                f"in{i}", "input", (), _lines(_bold(name), self.type(v)), f"argument {i}: {name}: {self.type(v)}"
            )
            env[v] = (box.id, v)
        self.add_nodes(self.graph, env, "", ())
        for i, v in enumerate(self.graph.outputs):
            box = self.add_box(f"out{i}", "output", (), _lines(_bold(f"output {i}"), self.type(v)), f"result {i}")
            self.connect(env, v, box.id)
        if effects:
            for a, b in self.graph.effect_edges():
                if a in self.box_of and b in self.box_of:
                    self.layout.edges.append(_Edge(self.box_of[a], self.box_of[b], None))
        return self.layout

    def type(self, v: Value) -> str:
        return self.printer.type(v.type)

    def add_box(self, id: str, kind: str, path: tuple, label: str, tooltip: str, node: Node | None = None) -> _Box:
        gradient = bool(node is not None and node.is_gradient)
        box = _Box(id, kind, path, label, tooltip, gradient, [node] if node is not None else [])
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
            self.layout.edges.append(_Edge(box_id, target, produced, several_results, [produced]))

    def add_nodes(self, graph: Graph, env: dict, prefix: str, base: tuple) -> None:
        """Boxes for ``graph``'s nodes; ``base`` is the cluster path of scope ``prefix``."""
        for node in graph.nodes:
            if self.inline_scalars and _is_scalar_constant(node):
                env[node.outputs[0]] = _scalar_text(np.asarray(node.attrs["value"]).reshape(()))
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
        box = self.add_box(id, kind, path, label, _tooltip(node), node)
        for v in node.inputs:
            self.connect(env, v, box.id)
        for v in node.outputs:
            env[v] = (box.id, v)

    def describe(self, node: Node, env: dict) -> tuple[str, str]:
        types = [self.type(v) for v in node.outputs]
        if node.op == "read_variable":
            return "variable", _lines(_bold(node.attrs["var"]), *types)
        if node.op == "assign_variable":
            return "assign", _lines(_bold(f"assign {node.attrs['var']}"))
        if node.op == "constant":
            return "constant", _lines(_bold("constant"), *types, *_constant_values(node.attrs["value"]))
        if node.op == "fused":
            body = node.attrs["body"]
            header = f"{node.attrs.get('kind', '')} kernel · {_count(_op_count(body), 'op')}"
            return "kernel", _lines(_bold(node.attrs.get("kernel", "fused")), header, *types)
        operands = [env[v] if isinstance(env.get(v), str) else _OPERAND for v in node.inputs]
        head = _bold(node.op)
        if any(o != _OPERAND for o in operands):
            head += html.escape(f"({', '.join(operands)})")
        return "op", _lines(head, *_attr_lines(node), *types)

    def add_kernel(self, node: Node, env: dict, prefix: str, base: tuple) -> None:
        """A kernel as a cluster holding its body; its results come from the body's results."""
        body = node.attrs["body"]
        inner_prefix = _common_scope([n.scope for n in body.nodes if n.op != "constant"])
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
                self.add_box(box_id, "input", region_path, _lines(_bold(v.name or f"in {i}"), self.type(v)), "")
                region_env[v] = (box_id, v)
            self.add_nodes(region, region_env, prefix, region_path)
            for v in region.outputs:
                self.connect(region_env, v, op_box)


def _is_scalar_constant(node: Node) -> bool:
    return node.op == "constant" and np.size(node.attrs["value"]) == 1


def _common_scope(scopes: list[str]) -> str:
    if not scopes:
        return ""
    parts = [s.split("/") if s else [] for s in scopes]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)


def _op_count(body: Graph) -> int:
    return sum(1 for n in body.nodes if n.op != "constant")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _attr_lines(node: Node) -> list[str]:
    shown = []
    for key, value in node.attrs.items():
        if isinstance(value, Graph) or key in ("value", "kernel", "kind"):
            continue
        if value is False:
            continue
        text = key if value is True else f"{key}={format_attr(key, value)}"
        shown.append(text if len(text) <= _MAX_ATTR_CHARS else text[: _MAX_ATTR_CHARS - 1] + "…")
    return [_small(" ".join(shown))] if shown else []


def _constant_values(value: np.ndarray) -> list[str]:
    """A small constant's values; a large one is abbreviated to its type (already shown)."""
    if value.size > _MAX_CONSTANT_VALUES:
        return []
    if value.ndim == 0:
        return [_small(_scalar_text(value))]
    return [_small("[" + ", ".join(map(_scalar_text, value.reshape(-1))) + "]")]


def _scalar_text(value) -> str:
    return str(np.asarray(value)[()])  # NumPy's shortest text for the value's own precision


def _tooltip(node: Node) -> str:
    parts = [node.loc.long if node.loc else "(no source location)"]
    if node.scope:
        parts.append(f"scope {node.scope}")
    if node.is_gradient:
        parts.append("gradient (backward pass)")
    if node.op == "fused":
        ops = Counter(n.op for n in node.attrs["body"].nodes if n.op != "constant")
        parts.append("body: " + ", ".join(f"{op}×{k}" if k > 1 else op for op, k in ops.items()))
    return "\n".join(parts)


def _lines(*lines: str) -> str:
    return "<br/>".join(lines)


def _bold(text: str) -> str:
    return f"<b>{html.escape(text)}</b>"


def _small(text: str) -> str:
    return f'<font point-size="9" color="#334155">{html.escape(text)}</font>'


# -- collapsing -----------------------------------------------------------------------------------
class _Collapser:
    """Replaces collapsed scopes (and, without ``gradients``, the backward pass) by single boxes."""

    def __init__(self, layout: _Layout, gradients: bool, collapse_scopes):
        self.layout = layout
        self.gradients = gradients
        if collapse_scopes is True or collapse_scopes is False:
            self.collapse_all, self.names = bool(collapse_scopes), frozenset()
        elif isinstance(collapse_scopes, str):
            self.collapse_all, self.names = False, frozenset([collapse_scopes.strip("/")])
        else:
            self.collapse_all, self.names = False, frozenset(s.strip("/") for s in collapse_scopes)
        self.groups: dict[tuple, _Box] = {}

    def target(self, box: _Box) -> tuple | None:
        """The path of the group ``box`` folds into, or None if it stays."""
        if not self.gradients and box.gradient:
            return ("gradients",)
        for i, (kind, name) in enumerate(box.path):
            if kind == "scope" and (self.collapse_all or name in self.names or name.rsplit("/", 1)[-1] in self.names):
                return box.path[: i + 1]
        return None

    def apply(self) -> tuple[dict, list]:
        rep: dict[str, str] = {}
        boxes: dict[str, _Box] = {}
        for box in self.layout.boxes.values():
            key = self.target(box)
            if key is None:
                boxes[box.id], rep[box.id] = box, box.id
                continue
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = _Box(f"g{len(self.groups)}", "group", key[:-1] if key != ("gradients",) else (), "", "", True)
                boxes[group.id] = group
            group.members += box.members
            group.gradient &= box.gradient
            rep[box.id] = group.id
        for key, group in self.groups.items():
            scope = None if key == ("gradients",) else key[-1][1]
            ops = Counter(n.op for n in group.members)
            group.label = _lines(_bold(scope.rsplit("/", 1)[-1] if scope else "backward pass"),
                                 _count(len(group.members), "op"))
            group.tooltip = (f"name scope {scope}: " if scope else "gradients: ") + ", ".join(
                f"{op}×{k}" if k > 1 else op for op, k in ops.most_common()
            )
        return boxes, self.merged_edges(rep, boxes)

    def merged_edges(self, rep: dict, boxes: dict) -> list:
        merged: dict[tuple, _Edge] = {}
        for e in self.layout.edges:
            source, target = rep[e.source], rep[e.target]
            if source == target:
                continue
            grouped = boxes[source].kind == "group" or boxes[target].kind == "group"
            key = (source, target, e.value is None)
            if key in merged:
                merged[key].values += e.values
            else:
                merged[key] = _Edge(source, target, e.value, e.label_type or grouped, list(e.values))
        return list(merged.values())


# -- emitting -------------------------------------------------------------------------------------
def _emit(name, boxes, edges, clusters, printer, caption, rankdir, edge_labels) -> graphviz.Digraph:
    dot = graphviz.Digraph(name=name)
    dot.attr(
        rankdir=rankdir, newrank="true", nodesep="0.2", ranksep="0.3", fontname=FONT, fontsize="12",
        labelloc="t", label=f"<{_caption(caption)}>", tooltip=name, bgcolor="white",
    )
    dot.attr("node", fontname=FONT, fontsize="11", margin="0.08,0.03", height="0.3", penwidth="1")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.6", color=COLORS["edge"], fontcolor="#334155")
    tree = _cluster_tree(boxes.values())
    _emit_tree(dot, tree, (), clusters)
    for e in edges:
        dot.edge(e.source, e.target, **_edge_attrs(e, boxes, printer, edge_labels))
    return dot


def _caption(caption: str) -> str:
    swatches = "".join(
        f'<td bgcolor="{COLORS[key]}" border="1" cellpadding="2"><font point-size="9">{text}</font></td>'
        for key, text in (("forward", "forward"), ("gradient", "gradient"), ("input", "input"),
                          ("variable", "variable"), ("constant", "constant"), ("output", "output"),
                          ("kernel", "fused kernel"))
    )
    return (
        f'<table border="0" cellspacing="3"><tr><td colspan="7"><b>{html.escape(caption)}</b></td></tr>'
        f"<tr>{swatches}</tr></table>"
    )


def _cluster_tree(boxes: Iterable[_Box]) -> dict:
    """{path: ([boxes directly inside], {child paths})} for every cluster path in use."""
    tree: dict[tuple, tuple[list, dict]] = {(): ([], {})}
    for box in boxes:
        for i in range(len(box.path) + 1):
            tree.setdefault(box.path[:i], ([], {}))
            if i:
                tree[box.path[: i - 1]][1][box.path[:i]] = None
        tree[box.path][0].append(box)
    return tree


def _emit_tree(graph, tree: dict, path: tuple, clusters: dict) -> None:
    """The boxes directly in cluster ``path``, then each child cluster as a nested subgraph."""
    items, children = tree[path]
    for box in items:
        shape, style = _SHAPES[box.kind]
        graph.node(
            box.id, label=f"<{box.label}>", shape=shape, style=style, fillcolor=_fill(box), tooltip=box.tooltip,
            **({"penwidth": "2", "color": COLORS["kernel_border"]} if box.kind == "kernel" else {}),
        )
    for child in children:
        kind, name, node = clusters[child]
        number = list(clusters).index(child)  # names stay distinct where scope names differ only in symbols
        with graph.subgraph(name=f"cluster_{number}_{_identifier(name)}") as sub:
            sub.attr(fontsize="10", labeljust="l", **_cluster_attrs(kind, name, node))
            _emit_tree(sub, tree, child, clusters)


def _cluster_attrs(kind: str, name: str, node: Node | None) -> dict:
    if kind == "region":
        return dict(
            label=f"<{_bold(name)}>", style="rounded,filled", fillcolor=COLORS["scope"],
            color=COLORS["kernel_border"], penwidth="1.5", tooltip=_tooltip(node),
        )
    if kind == "kernel":
        title = f"{name} · {node.attrs.get('kind', '')} kernel · {_count(_op_count(node.attrs['body']), 'op')}"
        return dict(
            label=f"<{_bold(title)}>", style="rounded,filled", fillcolor=COLORS["kernel"],
            color=COLORS["kernel_border"], penwidth="1.5", tooltip=_tooltip(node),
        )
    return dict(
        label=f"<{_bold(name.rsplit('/', 1)[-1])}>", style="rounded,dashed,filled", fillcolor=COLORS["scope"],
        color=COLORS["scope_border"], tooltip=f"name scope {name}",
    )


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _fill(box: _Box) -> str:
    if box.kind in ("op", "kernel", "group"):
        return COLORS["gradient" if box.gradient else "forward"]
    return COLORS[box.kind]


def _edge_attrs(e: _Edge, boxes: dict, printer: _Printer, edge_labels) -> dict:
    if e.value is None:
        return {"style": "dashed", "color": "#94a3b8", "constraint": "false", "tooltip": "ordering (variable effect)"}
    types = list(dict.fromkeys(printer.type(v.type) for v in e.values))
    attrs = {"tooltip": ", ".join(types)}
    if boxes[e.source].gradient and boxes[e.target].gradient:
        attrs["color"] = COLORS["gradient_edge"]
    if edge_labels is True or (edge_labels == "auto" and e.label_type):
        shown = types[:_MAX_EDGE_LABEL_TYPES] + (["…"] if len(types) > _MAX_EDGE_LABEL_TYPES else [])
        attrs["label"] = " " + ", ".join(shown)
    return attrs
