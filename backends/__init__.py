"""Backends turn a graph into results: the NumPy interpreter (the reference) and native code (LLVM)."""
