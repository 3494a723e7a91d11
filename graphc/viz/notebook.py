"""Jupyter display: graphs and concrete functions as SVG pictures beside their text IR, the text alone
where the graphviz package or Graphviz's ``dot`` program is missing."""
from __future__ import annotations

from graphc.ir.graph import Graph

from ..function import ConcreteFunction
from .dot import graph_to_dot
from .graphviz_package import GraphvizMissingError
from .render import render_svg
from .stages import signature_of, stage_title


def graph_mimebundle(graph: Graph, **options) -> dict[str, str]:
    """A graph's display: the SVG picture (``options`` go to ``graph_to_dot``) and the text IR."""
    bundle = {"text/plain": str(graph)}
    try:
        svg = render_svg(graph_to_dot(graph, **options))
    except GraphvizMissingError:
        return bundle
    if svg is not None:
        bundle["image/svg+xml"] = svg
    return bundle


def mimebundle(cf: ConcreteFunction) -> dict[str, str]:
    """A concrete function's display: its traced graph, titled with the function's signature."""
    graph = cf.graph
    return graph_mimebundle(graph, title=stage_title(signature_of(cf), "traced", graph))
