"""Lowering of the region ops ``cond`` and ``while_loop``: native branches and loops.

Each region (a branch, a loop's condition or body) is compiled like a graph of its own
(``emission.py``): one kernel function per node, its buffers in slots of the program's slot table,
its intermediates in an arena range of its own (planned by ``plan_memory`` and placed after the main
arena). This module says where each region's inputs and results live and how the region op's
function runs its regions: branches and loops. The region op's
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

from dataclasses import dataclass

from llvmlite import ir

from graphc.ir.graph import Graph, Node, Value
from graphc.ir.types import bool_

from .emitter import Emitter, Kernel, call_in_turn
from .scalar import I64, load

__all__ = ["RegionSlots", "emit_region_op", "region_slots", "unsupported_in_regions"]


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


# -- where the regions' values live -----------------------------------------------------------
@dataclass
class RegionSlots:
    """Where a region's inputs are and its results go: ``results`` holds a slot per result, None for a
    buffer of its own (made just before the region is laid out); ``results`` is None when the results
    are read where they are computed (a loop's condition)."""

    graph: Graph
    inputs: list[int]
    results: list[int | None] | None


def region_slots(node: Node, slot_of: dict[Value, int]) -> list[RegionSlots]:
    """The slots of region op ``node``'s regions, given those of its operands and results."""
    operand_slots = [slot_of[v] for v in node.inputs]
    result_slots = [slot_of[v] for v in node.outputs]
    if node.op == "cond":
        return [RegionSlots(g, operand_slots[1:], result_slots) for g in (node.attrs["then_branch"], node.attrs["else_branch"])]
    body: Graph = node.attrs["body"]
    n = len(body.outputs)
    inputs = result_slots + operand_slots[n:]  # the loop variables live in the results
    next_slots = [result_slots[k] if v is body.inputs[k] else None for k, v in enumerate(body.outputs)]
    return [RegionSlots(node.attrs["cond"], inputs, None), RegionSlots(body, inputs, next_slots)]


# -- code -----------------------------------------------------------------------------------------
def emit_region_op(em: Emitter, node: Node, layouts: list, functions: list[list[Kernel]]) -> None:
    """The code of region op ``node``'s kernel function, given its regions' layouts (``GraphLayout``s
    in ``region_slots`` order) and their kernel functions."""
    if node.op == "cond":
        _emit_cond(em, node, layouts, functions)
    else:
        _emit_while(em, node, layouts, functions)


def _copy(em: Emitter, copies) -> None:
    """Copies whole buffers, then waits for them at a barrier."""
    if copies:
        em.copy_buffers(copies)
        em.barrier()


def _predicate(em: Emitter, slot: int) -> ir.Value:
    return load(em.builder, em.slot_pointer(slot, bool_), bool_)


def _emit_cond(em: Emitter, node: Node, layouts, functions) -> None:
    b = em.builder
    with b.if_else(_predicate(em, em.slot_of[node.inputs[0]])) as (then, otherwise):
        for branch, layout, fns in zip((then, otherwise), layouts, functions):
            with branch:
                call_in_turn(b, em.function.args, fns)
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
    call_in_turn(b, em.function.args, functions[0])
    b.cbranch(_predicate(em, cond_layout.slot_of[node.attrs["cond"].outputs[0]]), run_body, done)
    b.position_at_end(run_body)
    call_in_turn(b, em.function.args, functions[1])
    _copy(em, body_layout.copies)
    _copy(em, [(results[k], body_layout.output_slots[k], v) for k, v in enumerate(node.outputs)
               if body_layout.output_slots[k] != results[k]])
    b.store(b.add(b.load(count), ir.Constant(I64, 1)), count)
    b.branch(header)
    b.position_at_end(done)
