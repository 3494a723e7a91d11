"""From a fused graph to an executable: code generation, LLVM's O3 pipeline, loading, caching."""
from __future__ import annotations

from typing import Callable

from graphc.ir.errors import GraphcError, InternalCompilerError
from graphc.ir.graph import Graph

from . import cache, target
from .codegen import generate, layout, unsupported_ops
from .matmul import blas_symbols
from .runtime import Executable


class UnsupportedGraph(Exception):
    """The graph holds ops this backend cannot lower (the caller falls back to the interpreter)."""


def _untimed(name: str, fn: Callable):
    return fn()


def compile_graph(graph: Graph, timer: Callable = _untimed) -> Executable:
    """Compiles a fused graph (or loads its object code from the disk cache).

    ``timer(stage_name, fn)`` runs each stage (so the caller can time them)."""
    missing = unsupported_ops(graph)
    if missing:
        raise UnsupportedGraph(", ".join(sorted(missing)))
    try:
        return _compile(graph, timer)
    except GraphcError:
        raise
    except Exception as error:  # a bug in graphc outside any one node's code (LLVM, loading)
        raise InternalCompilerError(
            f"internal error while compiling graph {graph.name!r} (a bug in graphc): {type(error).__name__}: {error}"
        ) from error


def _compile(graph: Graph, timer: Callable) -> Executable:
    key = timer("cache_key", lambda: cache.cache_key(graph)) if cache.enabled() else None
    object_code = timer("cache_load", lambda: cache.load(key)) if key else None
    ir_text = None
    if object_code is None:
        program = timer("codegen", lambda: generate(graph))
        module = timer("llvm_optimize", lambda: target.optimize(program.ir))
        object_code = timer("llvm_emit", lambda: target.emit_object(module))
        ir_text = program.ir
        if key:
            cache.store(key, object_code)
    else:
        program = timer("layout", lambda: layout(graph))
    code = timer("load", lambda: target.LoadedCode(object_code, blas_symbols()))
    return Executable(graph, program, code, ir_text)
