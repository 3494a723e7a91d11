"""The NumPy backend: reference kernels and a node-by-node interpreter."""
from .interpreter import Interpreter, compile_graph
from .kernels import run_kernel
