"""Lowering of the region ops ``cond`` and ``while_loop``: native branches and loops.

Each region (a branch, a loop's condition or body) is compiled like a graph of its own: one kernel
function per node, its buffers in slots of the program's slot table, its intermediates in an arena
range of its own (planned by ``plan_memory`` and placed after the main arena). The region op's
function runs on every thread; all threads read the predicate after a barrier, so they take the same
branch and run the same iterations, calling the region's kernel functions with a barrier after each.

- ``cond``: the branches read the cond's operands in place; a branch result computed by a kernel is
  written straight into the cond's result buffer, others (an operand, a constant, a view) are copied.
- ``while_loop``: the loop variables live in the loop's result buffers (the initial values are
  copied in). The body writes the next values to buffers of their own, copied back after the body,
  so a body reading one variable after computing another sees the iteration's old values.

The runtime learns symbolic sizes from the top-level graph, so a region whose values have a size
known only inside it (a shape rule naming a size afresh) is not lowered (``UnsupportedGraph``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from llvmlite import ir

from graphc.ir.graph import Graph, Node, Value
from graphc.ir.passes.memory import align_up, plan_memory

from . import ops
from .lowering import may_fail
from .emitter import SYNC_ERROR, Emitter
from .kernels import Operand, emit_fused
from .scalar import I8, I64, load

__all__ = ["emit_region", "layout_regions", "unsupported_in_regions"]


# -- what can be lowered ----------------------------------------------------------------------------
def _dims_of(graph: Graph) -> set[str]:
    """The symbolic dimensions of ``graph``'s values and of its fused kernels' bodies."""
    found = {d for v in graph.values() for d in v.type.shape if isinstance(d, str)}
    for node in graph.nodes:
        if node.op == "fused":
            found |= _dims_of(node.attrs["body"])
    return found


def unsupported_in_regions(graph: Graph, supported: set[str], known: set[str] | None = None) -> set[str]:
    """What the regions of ``graph``'s region ops hold that cannot be lowered: unsupported ops, and a
    size known only inside a region (the runtime learns sizes from the top-level graph)."""
    known = _dims_of(graph) if known is None else known
    missing: set[str] = set()
    for node in graph.nodes:
        for region in (node.attrs[name] for name in node.opdef.regions):
            missing |= {n.op for n in region.nodes if not n.opdef.regions} - supported
            if _dims_of(region) - known:
                missing.add(f"{node.op} (a size known only inside its region)")
            missing |= unsupported_in_regions(region, supported, known)
    return missing


# -- layout -------------------------------------------------------------------------------------
@dataclass
class RegionLayout:
    """One region's buffers: a slot per value, the slot of a matmul result used only inside its
    kernel (by node index), the layouts of nested region ops, and the copies that put results which
    no kernel writes in place (operands, constants, views) into their slots: (destination, source, value)."""

    graph: Graph
    slot_of: dict[Value, int]
    scratch: dict[int, int] = field(default_factory=dict)
    nested: dict[int, list["RegionLayout"]] = field(default_factory=dict)
    copies: list[tuple[int, int, Value]] = field(default_factory=list)
    next_slots: list[int] = field(default_factory=list)  # while body: the next values of the loop variables


def layout_regions(cg) -> dict[int, list[RegionLayout]]:
    """The layouts of the regions of ``cg.graph``'s region ops, by node index; adds their slots to
    ``cg`` and their arena ranges to ``cg.arena_bytes``."""
    return {
        i: _layout_node(cg, node, cg.slot_of) for i, node in enumerate(cg.graph.nodes) if node.opdef.regions
    }


def _layout_node(cg, node: Node, slot_of: dict[Value, int]) -> list[RegionLayout]:
    operand_slots = [slot_of[v] for v in node.inputs]
    result_slots = [slot_of[v] for v in node.outputs]
    if node.op == "cond":
        return [_layout_graph(cg, g, operand_slots[1:], result_slots)
                for g in (node.attrs["then_branch"], node.attrs["else_branch"])]
    body: Graph = node.attrs["body"]
    n = len(body.outputs)
    inputs = result_slots + operand_slots[n:]  # the loop variables live in the results
    cond_layout = _layout_graph(cg, node.attrs["cond"], inputs, None)
    next_slots = [
        result_slots[k] if v is body.inputs[k] else cg._new_slot("buffer", None, v.dtype, v.type.shape)
        for k, v in enumerate(body.outputs)
    ]
    body_layout = _layout_graph(cg, body, inputs, next_slots)
    body_layout.next_slots = next_slots
    return [cond_layout, body_layout]


def _owns_buffer(v: Value) -> bool:
    return v.node is not None and ops.has_code(v.node)


def _layout_graph(cg, graph: Graph, input_slots: list[int], output_slots: list[int] | None) -> RegionLayout:
    """Slots for a region's values: inputs in ``input_slots``; results a kernel computes straight in
    ``output_slots`` (when given), the others copied there; intermediates in a new arena range."""
    from .codegen import ALIGNMENT

    layout = RegionLayout(graph, dict(zip(graph.inputs, input_slots)))
    plan = plan_memory(graph, ALIGNMENT)
    base = align_up(cg.arena_bytes, ALIGNMENT)
    cg.arena_bytes = base + plan.arena_bytes
    planned = {b.name: b for b in plan.buffers}
    names = {v: f"%{i}" for i, v in enumerate(graph.values())}
    direct: dict[Value, int] = {}
    for k, v in enumerate(graph.outputs if output_slots is not None else ()):
        if _owns_buffer(v) and v not in direct:
            direct[v] = k
    slot_of = layout.slot_of
    for node in graph.nodes:
        if node.op == "constant":
            v = node.outputs[0]
            slot_of[v] = cg._new_slot("constant", node.attrs["value"], v.dtype, v.type.shape)
        elif node.opdef.view:
            slot_of[node.outputs[0]] = slot_of[node.inputs[0]]
        else:
            for v in node.outputs:
                buffer = planned.get(names[v])
                if v in direct:
                    slot_of[v] = output_slots[direct[v]]
                elif buffer is not None and buffer.kind == "arena":
                    slot_of[v] = cg._new_slot("arena", base + buffer.offset, v.dtype, v.type.shape)
                else:
                    slot_of[v] = cg._new_slot("buffer", None, v.dtype, v.type.shape)
    for j, node in enumerate(graph.nodes):
        if node.op == "fused":
            body = node.attrs["body"]
            for n in body.nodes:
                if n.op == "matmul" and n.outputs[0] not in body.outputs:
                    r = n.outputs[0]
                    layout.scratch[j] = cg._new_slot("buffer", None, r.dtype, r.type.shape)
        elif node.opdef.regions:
            layout.nested[j] = _layout_node(cg, node, slot_of)
    if output_slots is not None:
        layout.copies = [
            (output_slots[k], slot_of[v], v) for k, v in enumerate(graph.outputs)
            if direct.get(v) != k and output_slots[k] != slot_of[v]
        ]
    return layout


# -- code -----------------------------------------------------------------------------------------
def emit_region(cg, index: int, node: Node, layouts: list[RegionLayout], slot_of: dict[Value, int] | None = None,
                name: str | None = None) -> ir.Function:
    """The kernel function of region op ``node`` (top-level node ``index``, which errors name)."""
    slot_of = cg.slot_of if slot_of is None else slot_of
    name = name or f"node{index}_{node.op}"
    em = Emitter(cg.module, name, slot_of, cg.symbols, index)
    region_functions = [_region_functions(cg, index, layout, f"{name}.{k}") for k, layout in enumerate(layouts)]
    if node.op == "cond":
        _emit_cond(em, node, layouts, region_functions)
    else:
        _emit_while(em, node, layouts, region_functions)
    return em.finish()


def _region_functions(cg, index: int, layout: RegionLayout, prefix: str) -> list[tuple[Node, ir.Function]]:
    """A kernel function for each node of the region that has code."""
    functions = []
    for j, node in enumerate(layout.graph.nodes):
        if not ops.has_code(node):
            continue
        name = f"{prefix}.node{j}_{node.op}"
        if node.opdef.regions:
            functions.append((node, emit_region(cg, index, node, layout.nested[j], layout.slot_of, name)))
            continue
        em = Emitter(cg.module, name, layout.slot_of, cg.symbols, index)
        if node.op == "fused":
            operand = lambda v: Operand(layout.slot_of[v], v.dtype, v.type.shape)  # noqa: E731
            emit_fused(em, node, [operand(v) for v in node.inputs], [operand(v) for v in node.outputs],
                       layout.scratch.get(j))
        else:
            ops.lower_op(em, node)
        functions.append((node, em.finish()))
    return functions


def _run(em: Emitter, functions) -> None:
    """Calls each kernel function on this thread, with a barrier after each; returns from the region
    op's function when a kernel flagged an error."""
    b = em.builder
    for node, fn in functions:
        b.call(fn, [em.tid, em.nthreads, em.slots, em.dims, em.sync])
        em.barrier()
        if may_fail(node):
            error = b.load_atomic(b.gep(em.sync, [ir.Constant(I64, SYNC_ERROR)]), "acquire", 8)
            with b.if_then(b.icmp_signed("!=", error, ir.Constant(I64, 0)), likely=False):
                b.ret_void()


def _copy(em: Emitter, copies) -> None:
    """Copies whole buffers (thread 0, llvm.memcpy), then waits at a barrier."""
    if not copies:
        return
    b = em.builder
    memcpy = em.module.globals.get("llvm.memcpy.p0i8.p0i8.i64") or ir.Function(
        em.module, ir.FunctionType(ir.VoidType(), [I8.as_pointer(), I8.as_pointer(), I64, ir.IntType(1)]),
        "llvm.memcpy.p0i8.p0i8.i64",
    )
    with em.only_first_thread():
        for dst, src, like in copies:
            nbytes = b.mul(em.product(like.type.shape), ir.Constant(I64, like.dtype.numpy.itemsize))
            pointers = [b.bitcast(em.slot_pointer(s, like.dtype), I8.as_pointer()) for s in (dst, src)]
            b.call(memcpy, [*pointers, nbytes, ir.Constant(ir.IntType(1), 0)])
    em.barrier()


def _predicate(em: Emitter, slot: int) -> ir.Value:
    from graphc.ir.types import bool_

    return load(em.builder, em.slot_pointer(slot, bool_), bool_)


def _emit_cond(em: Emitter, node: Node, layouts, functions) -> None:
    b = em.builder
    with b.if_else(_predicate(em, em.slot_of[node.inputs[0]])) as (then, otherwise):
        for branch, layout, fns in zip((then, otherwise), layouts, functions):
            with branch:
                _run(em, fns)
                _copy(em, layout.copies)


def _emit_while(em: Emitter, node: Node, layouts, functions) -> None:
    b = em.builder
    cond_layout, body_layout = layouts
    body: Graph = node.attrs["body"]
    n = len(body.outputs)
    results = [em.slot_of[v] for v in node.outputs]
    _copy(em, [(results[k], em.slot_of[v], v) for k, v in enumerate(node.inputs[:n]) if em.slot_of[v] != results[k]])
    with b.goto_block(em.prologue):
        count = b.alloca(I64, name="iterations")
    b.store(ir.Constant(I64, 0), count)
    header = b.append_basic_block("loop.header")
    run_body = b.append_basic_block("loop.body")
    done = b.append_basic_block("loop.end")
    b.branch(header)
    b.position_at_end(header)
    limit = node.attrs["maximum_iterations"]
    if limit is not None:
        with b.if_then(b.icmp_signed(">=", b.load(count), ir.Constant(I64, limit)), likely=False):
            b.branch(done)
    _run(em, functions[0])
    b.cbranch(_predicate(em, cond_layout.slot_of[node.attrs["cond"].outputs[0]]), run_body, done)
    b.position_at_end(run_body)
    _run(em, functions[1])
    _copy(em, body_layout.copies)
    _copy(em, [(results[k], body_layout.next_slots[k], v) for k, v in enumerate(node.outputs)
               if body_layout.next_slots[k] != results[k]])
    b.store(b.add(b.load(count), ir.Constant(I64, 1)), count)
    b.branch(header)
    b.position_at_end(done)
