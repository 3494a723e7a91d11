"""ONNX, both ways: ``export`` writes a graphc graph as an ONNX model, ``load`` reads one into graphc.

Needs the ``onnx`` extra (``pip install 'graphc[onnx]'``: the onnx package, and onnxruntime to run
exported models); importing graphc does not import it.
"""
from .errors import ExportError, LoadError
from .export import DEFAULT_OPSET, export
from .load import load

__all__ = ["DEFAULT_OPSET", "ExportError", "LoadError", "export", "load"]
