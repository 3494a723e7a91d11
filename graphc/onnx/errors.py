"""The errors of ``gc.onnx``: a graph ONNX cannot express, an ONNX model graphc cannot load."""
from __future__ import annotations

from graphc.ir.errors import GraphcError

from ..optional import optional_imports


class ExportError(GraphcError, ValueError):
    """A graphc op (named, with the user's line) that ONNX cannot express, or a graph it cannot hold."""


class LoadError(GraphcError, ValueError):
    """An ONNX file graphc cannot load: not ONNX, corrupt, unsafe, or with an op graphc lacks."""


def require_onnx():
    """The ``onnx`` package, or ``MissingDependencyError`` naming the extra that installs it."""
    with optional_imports("gc.onnx needs the onnx package", "pip install 'graphc[onnx]'"):
        import onnx
    return onnx
