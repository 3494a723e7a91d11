"""Code generation: a fused graph becomes one LLVM module with one entry point.

``graphc_entry(tid, nthreads, slots, dims, sync)`` runs every node in order; each thread calls it
with its own ``tid`` and the threads meet at a barrier after each node. ``slots`` holds a pointer
per buffer (see ``program.Slot``), ``dims`` the run-time sizes of the symbolic dimensions, ``sync`` the
barrier words and the error flag. A variable's current value is only read: its new value is built
in a buffer of its own (slot kind 'assigned'), which the runtime publishes when the call succeeds —
so a failing call leaves every variable as it was, and a concurrent reader never sees a value half
written (``graphc.ir.state``).
"""
from __future__ import annotations

import functools

from graphc.ir.graph import Graph
from graphc.ir.registry import OPS
from llvmlite import ir

from . import control, teams
from .blas import is_gemm_kernel
from .emission import (
    GraphLayout,
    KernelFunctions,
    SlotTable,
    VariableSlots,
    find_transposed_operands,
    lay_out_graph,
)
from .emitter import KERNEL_TYPE, Emitter, call_in_turn
from .lowering import lowering_of, unlowered_ops
from .partition import module_texts
from .program import CALL, ENTRY, SYNC_ERROR, Program, symbols_of, variable_slots
from .pyobjects import (
    ARRAY_DATA, ARRAY_DESCR, ARRAY_DIMS, ARRAY_FITS, ARRAY_FLAGS, ARRAY_NDIM, OBJECT_TYPE, SYNC_ARRAY_TYPE, SYNC_HOLDER_OFFSET,
    SYNC_HOLDER_TYPE, SYNC_INPUT_DTYPES, SYNC_SLOTS, SYNC_TUPLE_TYPE, TUPLE_ITEMS, TUPLE_SIZE,
)
from .scalar import I8, I32, I64


def unsupported_ops(graph: Graph) -> set[str]:
    """Ops of ``graph`` this backend cannot lower."""
    supported = {name for name, opdef in OPS.items() if lowering_of(opdef) and not opdef.regions}
    return unlowered_ops(graph) | control.unsupported_in_regions(graph, supported)


class CodeGen:
    """Lays out and emits the top-level graph: its entry points, its inputs, results and variables."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.module = ir.Module(name=graph.name)
        self.table = SlotTable()
        self.symbols = {name: i for i, name in enumerate(symbols_of(graph))}
        self.graph_layout: GraphLayout | None = None

    def layout(self) -> Program:
        """Every buffer's slot (the program without its code): cheap, and the same on every run."""
        g = self.graph
        inputs = [self.table.new_slot("input", i, v.dtype, v.type.shape) for i, v in enumerate(g.inputs)]
        output_slot = functools.cache(lambda k: self.table.new_slot("output", k, g.outputs[k].dtype, g.outputs[k].type.shape))
        variables = VariableSlots(self.table, g)
        self.graph_layout = lay_out_graph(self.table, g, inputs, output_slot, variables, find_transposed_operands(g))
        return Program(g.name, "", self.table.slots, list(self.symbols), list(g.nodes), self.graph_layout.output_slots,
                       self.table.arena_bytes)

    def build(self) -> Program:
        """The program with its LLVM IR."""
        program = self.layout()
        emitted = KernelFunctions(self.module, self.symbols, self.graph.nodes)
        kernels = emitted.of_graph(self.graph_layout)
        entry = ir.Function(self.module, KERNEL_TYPE, ENTRY)
        finish = Emitter(self.module, "finish", self.graph_layout.slot_of, self.symbols, len(self.graph.nodes))
        finish.copy_buffers(self.graph_layout.copies)  # results that share another buffer, staged assignments
        finish = finish.finish()
        if any(is_gemm_kernel(k.node) for k in kernels):  # products run by BLAS's threads: see teams
            teams.emit_entry(entry, kernels, finish, call_in_turn)
        else:
            b = ir.IRBuilder(entry.append_basic_block("entry"))
            call_in_turn(b, entry.args, kernels)
            b.call(finish, entry.args)
            b.ret_void()
        call = self._emit_call_wrapper(entry, program)
        functions = list(dict.fromkeys(k.function for k in kernels))  # (a kernel may run for several nodes)
        program.ir, program.parts = module_texts(self.module, functions, [entry, call], emitted.texts)
        return program

    def _emit_call_wrapper(self, entry: ir.Function, program: Program) -> ir.Function:
        """``graphc_call(sync, inputs, arrays) -> status``: checks the tuple ``inputs`` and stores each
        array's data pointer in its slot of the table whose address is a sync word (``pyobjects``),
        likewise each array of the tuple ``arrays`` (outputs, variables, assigned variables: made by the
        runtime, not checked), clears the other sync words and runs the entry on one thread;
        returns 0, -1 when the code flagged an error, or the positive status of an input that does
        not fit (nothing ran). Saves the runtime reading every address in Python: the per-call
        overhead of small graphs."""
        inputs = [(i, tuple(s.shape)) for i, s in enumerate(program.slots) if s.kind == "input"]
        arrays = program.output_slots + variable_slots(program)
        fn = ir.Function(self.module, ir.FunctionType(I64, [I64.as_pointer(), I8.as_pointer(), I8.as_pointer()]), CALL)
        sync, arguments, objects = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        for word in range(4):
            b.store(ir.Constant(I64, 0), b.gep(sync, [ir.Constant(I64, word)]))
        slots = b.inttoptr(b.load(b.gep(sync, [ir.Constant(I64, SYNC_SLOTS)])), I8.as_pointer().as_pointer())
        emit_argument_reads(b, arguments, sync, slots, inputs)
        for k, slot in enumerate(arrays):
            b.store(read_field(b, read_field(b, objects, TUPLE_ITEMS + 8 * k), ARRAY_DATA), b.gep(slots, [ir.Constant(I64, slot)]))
        dims = b.gep(sync, [ir.Constant(I64, 4)])  # no symbolic sizes: an unused word
        b.call(entry, [ir.Constant(I64, 0), ir.Constant(I64, 1), slots, dims, sync])
        flagged = b.icmp_signed("!=", b.load(b.gep(sync, [ir.Constant(I64, SYNC_ERROR)])), ir.Constant(I64, 0))
        b.ret(b.select(flagged, ir.Constant(I64, -1), ir.Constant(I64, 0)))
        return fn


def read_field(b: ir.IRBuilder, obj, offset: int, type_=I8.as_pointer()):
    """Emits the load of the field at ``offset`` of the object at ``obj`` (an i8*)."""
    return b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, offset)]), type_.as_pointer()))


def emit_argument_reads(b: ir.IRBuilder, arguments, sync, slots, inputs: list[tuple[int, tuple]]):
    """Emits, at ``b``, the checks of the tuple ``arguments`` against ``inputs`` ((slot, static shape)
    per input) and the stores of their data pointers into ``slots``; a failed check returns a
    positive status from the function (1: not a tuple of ``len(inputs)``; 2 + k: argument k). Leaves
    ``b`` where every check passed."""
    def word(obj, offset: int, type_=I64):
        return read_field(b, obj, offset, type_)

    def sync_word(index: int):
        return b.load(b.gep(sync, [ir.Constant(I64, index)]))

    def require(condition, status: int):
        with b.if_then(b.not_(condition), likely=False):
            b.ret(ir.Constant(I64, status))

    require(b.icmp_unsigned("==", word(arguments, OBJECT_TYPE), sync_word(SYNC_TUPLE_TYPE)), 1)
    require(b.icmp_signed("==", word(arguments, TUPLE_SIZE), ir.Constant(I64, len(inputs))), 1)
    for k, (slot, shape) in enumerate(inputs):
        item = word(arguments, TUPLE_ITEMS + 8 * k, I8.as_pointer())
        from_holder = b.icmp_unsigned("==", word(item, OBJECT_TYPE), sync_word(SYNC_HOLDER_TYPE))
        start = b.block
        with b.if_then(from_holder):
            held = b.load(b.bitcast(b.gep(item, [sync_word(SYNC_HOLDER_OFFSET)]), I8.as_pointer().as_pointer()))
            in_holder = b.block
        array = b.phi(I8.as_pointer())
        array.add_incoming(item, start)
        array.add_incoming(held, in_holder)
        require(b.icmp_unsigned("!=", array, ir.Constant(I8.as_pointer(), None)), k + 2)
        require(b.icmp_unsigned("==", word(array, OBJECT_TYPE), sync_word(SYNC_ARRAY_TYPE)), k + 2)
        fits = b.and_(
            b.icmp_unsigned("==", word(array, ARRAY_DESCR), sync_word(SYNC_INPUT_DTYPES + k)),
            b.icmp_signed("==", word(array, ARRAY_NDIM, I32), ir.Constant(I32, len(shape))),
        )
        flags = b.and_(word(array, ARRAY_FLAGS, I32), ir.Constant(I32, ARRAY_FITS))
        fits = b.and_(fits, b.icmp_signed("==", flags, ir.Constant(I32, ARRAY_FITS)))
        require(fits, k + 2)
        if shape:
            dims = word(array, ARRAY_DIMS, I64.as_pointer())
            same = [b.icmp_signed("==", b.load(b.gep(dims, [ir.Constant(I64, d)])), ir.Constant(I64, n))
                    for d, n in enumerate(shape) if isinstance(n, int)]  # (symbolic: runs through the table)
            require(functools.reduce(b.and_, same, ir.Constant(ir.IntType(1), 1)), k + 2)
        b.store(word(array, ARRAY_DATA, I8.as_pointer()), b.gep(slots, [ir.Constant(I64, slot)]))


def generate(graph: Graph) -> Program:
    """The program (LLVM IR and buffer layout) for a fused graph."""
    return CodeGen(graph).build()


def layout(graph: Graph) -> Program:
    """The buffer layout ``generate`` would give, without generating code (for cached code)."""
    return CodeGen(graph).layout()
