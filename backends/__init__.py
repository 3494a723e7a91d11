"""Backends turn a graph into results: the NumPy interpreter (reference) and, later, native code."""
