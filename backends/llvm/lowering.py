"""How the LLVM backend registers its code with each op, and how it runs every op.

Code is registered with the op itself (``graphc.ir.registry.implement``), in two kinds: ``node_code``
(``BACKEND``) emits a node run on its own (``ops.py``: data movement, indexing, creation);
``element_code`` (``ELEMENT``) emits one element of an elementwise op inside a fused kernel
(``scalar.py``). Every other op is run by what its ``OpDef`` says it is: see ``lowering_of``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from graphc.ir.graph import Graph, Node
from graphc.ir.registry import OpDef, implement
from graphc.ir.types import DType

BACKEND = "llvm"
ELEMENT = "llvm.element"


class Lowering(NamedTuple):
    """Registered code: ``emit(em, node)`` for node code; ``emit(b, args, in_types, out_type, attrs)``
    returning one element's IR value for element code (a fallible one also takes ``flag_error``).
    ``fallible(result dtype)`` says whether the code may flag an error (an index out of range, an
    integer to a negative power) that the call then raises. ``whole_table``: the node code uses its
    function's whole slot table (``Emitter.slots``), not only its own buffers (see ``emitter``).
    ``splits``: the node code shares its work among the threads itself (``Emitter.chunk``); other
    node code runs on thread 0."""

    emit: Callable
    fallible: Callable[[DType], bool]
    whole_table: bool = False
    splits: bool = False


def _register(kind: str, op: str, fallible: bool | Callable[[DType], bool], whole_table: bool = False,
              splits: bool = False):
    may_fail = fallible if callable(fallible) else (lambda dtype: fallible)

    def register(emit):
        implement(op, kind)(Lowering(emit, may_fail, whole_table, splits))
        return emit

    return register


def node_code(op: str, fallible: bool | Callable[[DType], bool] = False, whole_table: bool = False,
              splits: bool = False):
    """Registers the code of ``op`` run as a node of its own: ``@node_code("transpose")``."""
    return _register(BACKEND, op, fallible, whole_table, splits)


def element_code(op: str, fallible: bool | Callable[[DType], bool] = False):
    """Registers the element code of elementwise ``op``: ``element_code("add")(lower_add)``."""
    return _register(ELEMENT, op, fallible)


def lowering_of(opdef: OpDef) -> str | None:
    """How this backend runs an op, or None when it cannot:
    - ``"node code"``: an op run on its own (``ops.py``);
    - ``"element code"``: an elementwise op (or a broadcast) inside fused kernels (``scalar.py``), or
      ``"element code of its decomposition"`` for one that has none of its own (the ops it is written with);
    - ``"reduction"``, ``"matmul"``: the loops of fused kernels (``kernels.py``, ``matmul.py``);
    - ``"no code"``: views share their input's buffer, constants and variables live in the runtime's;
    - ``"kernel"``: a fused kernel; ``"regions"``: control flow (``control.py``)."""
    if BACKEND in opdef.implementations:
        return "node code"
    if opdef.view or opdef.effect or opdef.name == "constant":
        return "no code"
    if opdef.regions:
        return "regions"
    if opdef.name == "fused":
        return "kernel"
    if opdef.fusion_kind == "elementwise":
        if ELEMENT in opdef.implementations:
            return "element code"
        return "element code of its decomposition" if opdef.decomposition else None
    return None if opdef.fusion_kind == "opaque" else opdef.fusion_kind


def may_fail(node: Node) -> bool:
    """Whether ``node``'s native code may flag an error: its own code may, or a node of a kernel body
    or a region it holds may."""
    code = node.opdef.implementations.get(BACKEND) or node.opdef.implementations.get(ELEMENT)
    if isinstance(code, Lowering) and node.outputs and code.fallible(node.outputs[0].dtype):
        return True
    return any(may_fail(n) for graph in node.subgraphs.values() for n in graph.nodes)


def uses_whole_table(node: Node) -> bool:
    """Whether ``node``'s code needs its function's whole slot table: a region op's (its regions'
    kernels read it) and node code registered ``whole_table``."""
    code = node.opdef.implementations.get(BACKEND)
    return bool(node.opdef.regions) or (isinstance(code, Lowering) and code.whole_table)


def unlowered_ops(graph: Graph) -> set[str]:
    """The ops of ``graph``, of its kernels' bodies and of its regions this backend cannot run."""
    missing = {n.op for n in graph.nodes if lowering_of(n.opdef) is None}
    return missing.union(*(unlowered_ops(g) for n in graph.nodes for g in n.subgraphs.values()))
