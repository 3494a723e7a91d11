"""The ``graphviz`` Python package, an optional dependency: graphc imports and runs without it, and
only drawing asks for it, through ``import_graphviz``."""
from __future__ import annotations

from ..optional import MissingDependencyError, optional_imports


class GraphvizMissingError(MissingDependencyError):
    """A picture was asked for but the ``graphviz`` Python package is not installed."""


def import_graphviz():
    """The ``graphviz`` module, or ``GraphvizMissingError`` saying how to install it."""
    with optional_imports("drawing a graph needs the graphviz Python package",
                          "pip install graphviz (rendering .svg, .png or .pdf files also needs Graphviz's dot program; "
                          "Debian: apt-get install graphviz)", GraphvizMissingError):
        import graphviz
    return graphviz
