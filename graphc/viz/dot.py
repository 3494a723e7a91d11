"""A graph's picture: ``graph_to_dot(graph)`` returns a ``graphviz.Digraph``.

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

Building the picture needs the ``graphviz`` Python package (``GraphvizMissingError`` without it);
rendering it needs Graphviz's ``dot`` program (see ``render``).
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Iterable

from graphc.ir.errors import InvalidArgumentError
from graphc.ir.graph import Graph, Node

from .collapse import collapse
from .graphviz_package import import_graphviz
from .labels import bold, node_tooltip, op_count, plural
from .layout import Box, Edge, Layout, build_layout

if TYPE_CHECKING:
    import graphviz

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
_SHAPES = {  # by Box.kind
    "input": ("invhouse", "filled"),
    "variable": ("cylinder", "filled"),
    "assign": ("cylinder", "filled,bold"),
    "constant": ("note", "filled"),
    "output": ("house", "filled"),
    "op": ("box", "rounded,filled"),
    "kernel": ("box", "filled,bold"),
    "group": ("box3d", "filled"),
}
_MAX_EDGE_LABEL_TYPES = 2


def graph_to_dot(
    graph: Graph,
    *,
    gradients: bool = True,
    collapse_scopes: bool | str | Iterable[str] = False,
    expand_kernels: bool = True,
    inline_scalars: bool = True,
    edge_labels: bool | str = "auto",
    effects: bool = False,
    rankdir: str = "TB",
    title: str | None = None,
) -> graphviz.Digraph:
    """The graph as a Graphviz digraph.

    - ``gradients``: False draws the whole backward pass as one box;
    - ``collapse_scopes``: True draws every outermost name scope as one box; a scope name or a
      collection of them (``"dense_1"``, ``"model/dense_1"``) collapses just those;
    - ``expand_kernels``: False draws each fused kernel as one box instead of a cluster of its body;
    - ``inline_scalars``: False draws scalar constants as nodes of their own;
    - ``edge_labels``: ``"auto"`` labels edges whose type no box shows, True every data edge;
    - ``effects``: also draw the ordering between variable reads and writes and host calls (dashed);
    - ``rankdir``: ``"TB"`` (top to bottom) or ``"LR"``; ``title``: the caption (default: the name).
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if edge_labels not in (True, False, "auto"):
        raise InvalidArgumentError(f"to_dot: edge_labels must be True, False or 'auto', got {edge_labels!r}")
    graphviz = import_graphviz()
    layout = build_layout(graph, expand_kernels=expand_kernels, inline_scalars=inline_scalars, effects=effects)
    boxes, edges = collapse(layout, gradients=gradients, collapse_scopes=collapse_scopes)
    caption = title if title is not None else f"{graph.name} · {plural(len(graph.nodes), 'node')}"
    dot = graphviz.Digraph(name=graph.name)
    dot.attr(
        rankdir=rankdir, newrank="true", nodesep="0.2", ranksep="0.3", fontname=FONT, fontsize="12",
        labelloc="t", label=f"<{_caption(caption)}>", tooltip=graph.name, bgcolor="white",
    )
    dot.attr("node", fontname=FONT, fontsize="11", margin="0.08,0.03", height="0.3", penwidth="1")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.6", color=COLORS["edge"], fontcolor="#334155")
    _emit_tree(dot, _cluster_tree(boxes.values()), (), layout.clusters)
    for e in edges:
        dot.edge(e.source, e.target, **_edge_attrs(e, boxes, layout, edge_labels))
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


def _cluster_tree(boxes: Iterable[Box]) -> dict:
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
            label=f"<{bold(name)}>", style="rounded,filled", fillcolor=COLORS["scope"],
            color=COLORS["kernel_border"], penwidth="1.5", tooltip=node_tooltip(node),
        )
    if kind == "kernel":
        title = f"{name} · {node.attrs.get('kind', '')} kernel · {plural(op_count(node.attrs['body']), 'op')}"
        return dict(
            label=f"<{bold(title)}>", style="rounded,filled", fillcolor=COLORS["kernel"],
            color=COLORS["kernel_border"], penwidth="1.5", tooltip=node_tooltip(node),
        )
    return dict(
        label=f"<{bold(name.rsplit('/', 1)[-1])}>", style="rounded,dashed,filled", fillcolor=COLORS["scope"],
        color=COLORS["scope_border"], tooltip=f"name scope {name}",
    )


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _fill(box: Box) -> str:
    if box.kind in ("op", "kernel", "group"):
        return COLORS["gradient" if box.gradient else "forward"]
    return COLORS[box.kind]


def _edge_attrs(e: Edge, boxes: dict, layout: Layout, edge_labels) -> dict:
    if e.value is None:
        return {"style": "dashed", "color": "#94a3b8", "constraint": "false", "tooltip": "ordering (variable or host call effect)"}
    types = list(dict.fromkeys(layout.type(v) for v in e.values))
    attrs = {"tooltip": ", ".join(types)}
    if boxes[e.source].gradient and boxes[e.target].gradient:
        attrs["color"] = COLORS["gradient_edge"]
    if edge_labels is True or (edge_labels == "auto" and e.label_type):
        shown = types[:_MAX_EDGE_LABEL_TYPES] + (["…"] if len(types) > _MAX_EDGE_LABEL_TYPES else [])
        attrs["label"] = " " + ", ".join(shown)
    return attrs
