"""The NumPy backend: reference kernels and a node-by-node interpreter."""
from graphc.ir.registry import OPS

from . import kernels_nn as _kernels_nn  # noqa: F401  (random numbers, image patches)
from .interpreter import Interpreter, compile_graph
from .kernels import BACKEND, run_kernel

_missing = sorted(name for name, opdef in OPS.items() if BACKEND not in opdef.implementations)
assert not _missing, f"ops without a NumPy kernel: {_missing}"
