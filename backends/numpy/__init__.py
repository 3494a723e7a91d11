"""The NumPy backend: the reference implementation of every op and a node-by-node interpreter."""
from graphc.ir.registry import OPS

from . import ops_nn as _ops_nn  # noqa: F401  (random numbers, image patches)
from .interpreter import Interpreter, compile_graph
from .ops import BACKEND, run_op

_missing = sorted(name for name, opdef in OPS.items() if BACKEND not in opdef.implementations)
assert not _missing, f"ops without a NumPy implementation: {_missing}"
