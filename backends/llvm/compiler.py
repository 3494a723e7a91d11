"""From a fused graph to an executable: code generation, LLVM's O3 pipeline (a large module in parts
compiled at once, see ``partition``), loading, caching.

A graph whose object code and buffer layout are both in the cache runs without the code generator
(``codegen``) or llvmlite being imported: the layout is read back (``program.read_layout``), not
laid out again."""
from __future__ import annotations

from typing import Callable

from graphc.ir.errors import GraphcError, InternalCompilerError
from graphc.ir.graph import Graph

from . import cache, elf, loader
from .blas import GEMM_SYMBOLS, blas_symbols
from .program import CALL, ENTRY, read_layout, stored_layout
from .runtime import Executable


class UnsupportedGraph(Exception):
    """The graph holds ops this backend cannot lower (the caller falls back to the interpreter)."""


def _untimed(name: str, fn: Callable):
    return fn()


def compile_graph(graph: Graph, timer: Callable = _untimed) -> Executable:
    """Compiles a fused graph (or loads its object code from the disk cache).

    ``timer(stage_name, fn)`` runs each stage (so the caller can time them)."""
    try:
        return _compile(graph, timer)
    except (GraphcError, UnsupportedGraph):
        raise
    except Exception as error:  # a bug in graphc outside any one node's code (LLVM, loading)
        raise InternalCompilerError(
            f"internal error while compiling graph {graph.name!r} (a bug in graphc): {type(error).__name__}: {error}"
        ) from error


def _compile(graph: Graph, timer: Callable) -> Executable:
    key = timer("cache_key", lambda: cache.cache_key(graph)) if cache.enabled() else None
    cached = _load_cached(graph, key, timer) if key else None  # (code only for a graph that compiled)
    if cached is not None:
        return Executable(graph, *cached)
    # the code generator and LLVM are imported only here: a process whose code is all cached never loads them
    from .codegen import generate, unsupported_ops

    missing = unsupported_ops(graph)
    if missing:
        raise UnsupportedGraph(", ".join(sorted(missing)))
    from . import target

    program = timer("codegen", lambda: generate(graph))
    object_code = elf.join_parts(timer("llvm_compile", lambda: target.compile_parts(program.parts)))
    if key:
        cache.store(key, object_code)
        _store_layout(key, program, graph)
    code = timer("load", lambda: load_object(object_code))
    return Executable(graph, program, code, program.ir)


def load_object(object_code: bytes):
    """``object_code`` (one object, or the parts ``elf.join_parts`` joined) loaded into this process:
    by graphc itself where it can (``loader``), else, or for an object it does not load, by LLVM
    (MCJIT); never by LLVM when it calls a function defined nowhere (``loader.Unresolved``: LLVM
    would leave a call to address 0). The BLAS is loaded only for code that names its routines
    (``GEMM_SYMBOLS``, undefined symbols of the object)."""
    objects = elf.split_parts(object_code)
    symbols = blas_symbols() if any(name.encode() in object_code for name in GEMM_SYMBOLS.values()) else {}
    if loader.applies():
        try:
            return loader.LoadedParts(objects, symbols)
        except loader.Unsupported as why:
            cache.log.info("object code loaded by LLVM: %s", why)
    from . import target

    return target.LoadedCode(objects, symbols)


def _load_cached(graph: Graph, key: str, timer: Callable):
    """(program, loaded code) from the cache entry for ``key``, or None on a miss. Object code that
    calls a function defined nowhere, or lacks an entry point once loaded, is reported and is a
    miss too (so the caller rebuilds it and overwrites the entry); ``cache.load`` has checked its
    structure (llvmlite raises no errors)."""
    object_code = timer("cache_load", lambda: cache.load(key))
    if object_code is None:
        return None
    try:
        code = timer("load", lambda: load_object(object_code))
    except loader.Unresolved as error:
        cache.reject(key, str(error))
        return None
    missing = [name for name in (ENTRY, CALL) if not code.address(name)]
    if missing:
        cache.reject(key, f"it defines no {' or '.join(missing)}")
        return None
    return timer("layout", lambda: _layout(graph, key)), code


def _layout(graph: Graph, key: str):
    """The buffer layout of the code cached under ``key``: read from its cache entry, else laid out
    by the code generator (and stored for the next process)."""
    stored = cache.load(key, cache.LAYOUT)
    if stored is not None:
        try:
            return read_layout(stored, graph)
        except ValueError as error:
            cache.reject(key, str(error), cache.LAYOUT)
    from .codegen import layout

    program = layout(graph)
    _store_layout(key, program, graph)
    return program


def _store_layout(key: str, program, graph: Graph) -> None:
    stored = stored_layout(program, graph)
    if stored is not None:
        cache.store(key, stored, cache.LAYOUT)
