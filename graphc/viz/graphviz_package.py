"""The ``graphviz`` Python package, an optional dependency: graphc imports and runs without it, and
only drawing asks for it, through ``import_graphviz``."""
from __future__ import annotations

from graphc.ir.errors import GraphcError


class GraphvizMissingError(GraphcError, ImportError):
    """A picture was asked for but the ``graphviz`` Python package is not installed."""


def import_graphviz():
    """The ``graphviz`` module, or ``GraphvizMissingError`` saying how to install it."""
    try:
        import graphviz
    except ImportError:
        raise GraphvizMissingError(
            "drawing a graph needs the graphviz Python package, which is not installed: pip install graphviz "
            "(rendering .svg, .png or .pdf files also needs Graphviz's dot program; Debian: apt-get install graphviz)"
        ) from None
    return graphviz
