"""Code generation: a fused graph becomes one LLVM module with one entry point.

``graphc_entry(tid, nthreads, slots, dims, sync)`` runs every node in order; each thread calls it
with its own ``tid`` and the threads meet at a barrier after each node. ``slots`` holds a pointer
per buffer (see ``Slot``), ``dims`` the run-time sizes of the symbolic dimensions, ``sync`` the
barrier words and the error flag. A variable's current value is only read: its new value is built
in a buffer of its own (slot kind 'assigned'), which the runtime publishes when the call succeeds —
so a failing call leaves every variable as it was, and a concurrent reader never sees a value half
written (``graphc.ir.state``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from llvmlite import ir

from graphc.ir.errors import GraphcError, InternalCompilerError
from graphc.ir.graph import Graph, Node, Value
from graphc.ir.passes.memory import plan_memory

from graphc.ir.registry import OPS

from . import control, ops
from .lowering import lowering_of, may_fail, unlowered_ops
from .emitter import KERNEL_TYPE, SYNC_ERROR, Emitter, barrier_function
from .kernels import Operand, emit_fused
from .scalar import I8, I64

ENTRY = "graphc_entry"
# graphc_call(slots, sync, arrays...): the one-thread entry taking NumPy arrays (PyObject*) directly
CALL = "graphc_call"
# offset of the data pointer in NumPy's PyArrayObject (after the object header)
ARRAY_DATA_OFFSET = 16
ALIGNMENT = 64


@dataclass
class Slot:
    """One pointer of the ``slots`` table: where the runtime finds or allocates the buffer.

    kind: 'input' (key: input index), 'output' (key: output index), 'variable' (key: name; its
    current value, read only), 'assigned' (key: name; the buffer its new value is built in),
    'constant' (key: the array), 'arena' (key: the offset in the arena), 'buffer' (an intermediate
    of unknown size the runtime allocates per run-time sizes and reuses)."""

    kind: str
    key: object
    dtype: object
    shape: tuple


@dataclass
class Program:
    name: str
    ir: str
    slots: list[Slot]
    symbols: list[str]
    nodes: list[Node]  # by index, for error messages
    output_slots: list[int] = field(default_factory=list)
    arena_bytes: int = 0


def _reads_as_matmul_operand(node: Node, value: Value) -> bool:
    """Whether ``node`` is a fused matmul kernel that reads ``value`` only as an operand of its matmul."""
    if node.op != "fused" or node.attrs["kind"] != "matmul":
        return False
    body = node.attrs["body"]
    inner = {b for b, outer in zip(body.inputs, node.inputs) if outer is value}
    mm = next(n for n in body.nodes if n.op == "matmul")
    return all(n is mm for b in inner for n in body.users()[b]) and any(b in mm.inputs for b in inner)


def unsupported_ops(graph: Graph) -> set[str]:
    """Ops of ``graph`` this backend cannot lower."""
    supported = {name for name, opdef in OPS.items() if lowering_of(opdef) and not opdef.regions}
    return unlowered_ops(graph) | control.unsupported_in_regions(graph, supported)


def _symbols(graph: Graph) -> list[str]:
    names: list[str] = []

    def visit(g: Graph):
        for v in g.values():
            for d in v.type.shape:
                if isinstance(d, str) and d not in names:
                    names.append(d)
        for n in g.nodes:
            if "body" in n.attrs:
                visit(n.attrs["body"])

    visit(graph)
    for var in graph.variables.values():
        for d in var.type.shape:
            if isinstance(d, str) and d not in names:
                names.append(d)
    return names


class CodeGen:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.module = ir.Module(name=graph.name)
        self.slots: list[Slot] = []
        self.slot_of: dict[Value, int] = {}
        self.arena_slots: dict[int, int] = {}  # arena offset -> slot
        self.symbols = {name: i for i, name in enumerate(_symbols(graph))}

    def _new_slot(self, kind, key, dtype, shape) -> int:
        self.slots.append(Slot(kind, key, dtype, tuple(shape)))
        return len(self.slots) - 1

    def _assign_slots(self) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Slots for every value; returns the 'assigned' slots and the staged writes (variable, slot)
        to copy into them at the end.

        Intermediates go to the arena at the offsets of the memory plan (those of unknown size get a
        buffer of their own); a kernel the plan lets update a variable in place writes straight into
        the variable's 'assigned' buffer."""
        g = self.graph
        self.transposed = self._find_transposed_operands()
        plan = plan_memory(g, ALIGNMENT, frozenset(self.transposed))
        self.arena_bytes = plan.arena_bytes
        names = {v: f"%{i}" for i, v in enumerate(g.values())}
        planned = {b.name: b for b in plan.buffers}
        # a staged assignment is copied into its variable at the very end: its value must stay intact
        root = {}
        for n in g.nodes:
            if n.opdef.view:
                root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])
        staged_values = {root.get(n.inputs[0], n.inputs[0]) for n in g.nodes if n.op == "assign_variable"}
        for i, v in enumerate(g.inputs):
            self.slot_of[v] = self._new_slot("input", i, v.dtype, v.type.shape)
        var_slots = {name: self._new_slot("variable", name, var.type.dtype, var.type.shape) for name, var in g.variables.items()}
        current = dict(var_slots)
        assigned: dict[str, int] = {}

        def assigned_slot(name: str) -> int:
            if name not in assigned:
                var = g.variables[name]
                assigned[name] = self._new_slot("assigned", name, var.type.dtype, var.type.shape)
            return assigned[name]
        outputs = {v: i for i, v in enumerate(g.outputs)}
        for node in g.nodes:
            if node.op == "constant":
                v = node.outputs[0]
                self.slot_of[v] = self._new_slot("constant", node.attrs["value"], v.dtype, v.type.shape)
            elif node.op == "read_variable":
                self.slot_of[node.outputs[0]] = current[node.attrs["var"]]
            elif node.op == "assign_variable":
                current[node.attrs["var"]] = self.slot_of[node.inputs[0]]
            elif node.opdef.view or node.outputs[0] in self.transposed:
                self.slot_of[node.outputs[0]] = self.slot_of[node.inputs[0]]
            else:
                for v in node.outputs:
                    buffer = planned.get(names[v])
                    if v in outputs:
                        self.slot_of[v] = self._new_slot("output", outputs[v], v.dtype, v.type.shape)
                    elif buffer is not None and buffer.kind == "variable":
                        self.slot_of[v] = assigned_slot(buffer.inplace_of[1:])
                    elif buffer is not None and buffer.kind == "arena" and v not in staged_values:
                        self.slot_of[v] = self._arena_slot(buffer.offset, v)
                    else:
                        self.slot_of[v] = self._new_slot("buffer", None, v.dtype, v.type.shape)
        written = [name for name, slot in current.items() if slot != var_slots[name]]
        staged = [(name, current[name]) for name in written if current[name] != assigned_slot(name)]
        return assigned, staged

    def _arena_slot(self, offset: int, v: Value) -> int:
        """The slot of the arena bytes at ``offset``, one per offset: a kernel computing a value in
        place of its input then reads and writes through one pointer, and LLVM vectorises its loop
        (through two, its run-time overlap check fails and the scalar loop runs)."""
        if offset not in self.arena_slots:
            self.arena_slots[offset] = self._new_slot("arena", offset, v.dtype, v.type.shape)
        return self.arena_slots[offset]

    def _operand(self, v: Value) -> Operand:
        return Operand(self.slot_of[v], v.dtype, v.type.shape, v in self.transposed)

    def _find_transposed_operands(self) -> set[Value]:
        """Results of ``transpose`` (last two axes swapped) read only as float matmul operands: BLAS
        reads them transposed from the transpose's input, so no copy is made."""
        g = self.graph
        users = g.users()
        found = set()
        for node in g.nodes:
            if node.op != "transpose" or not node.outputs[0].dtype.is_floating:
                continue
            rank = node.outputs[0].ndim
            if rank < 2 or tuple(node.attrs["perm"]) != tuple(range(rank - 2)) + (rank - 1, rank - 2):
                continue
            v = node.outputs[0]
            if v in g.outputs or not users[v] or not all(_reads_as_matmul_operand(u, v) for u in users[v]):
                continue
            found.add(v)
        return found

    def _emit_node(self, index: int, node: Node) -> ir.Function | None:
        with internal_errors_name(node):
            return self._lower_node(index, node)

    def _lower_node(self, index: int, node: Node) -> ir.Function | None:
        if not ops.has_code(node) or any(v in self.transposed for v in node.outputs):
            return None
        if node.opdef.regions:
            return control.emit_region(self, index, node, self.regions[index])
        em = Emitter(self.module, f"node{index}_{node.op}", self.slot_of, self.symbols, index)
        if node.op == "fused":
            emit_fused(em, node, [self._operand(v) for v in node.inputs], [self._operand(v) for v in node.outputs],
                       self.scratch.get(index))
        else:
            ops.lower_op(em, node)
        return em.finish()

    def layout(self) -> Program:
        """Every buffer's slot (the program without its code): cheap, and the same on every run."""
        g = self.graph
        assigned, staged = self._assign_slots()
        self.scratch = {}  # node index -> slot of a matmul result used only inside its kernel
        for i, node in enumerate(g.nodes):
            if node.op == "fused":
                body = node.attrs["body"]
                for n in body.nodes:
                    if n.op == "matmul" and n.outputs[0] not in body.outputs:
                        r = n.outputs[0]
                        self.scratch[i] = self._new_slot("buffer", None, r.dtype, r.type.shape)
        # results that share another buffer (an input, a variable, a view) are copied out at the end
        self.regions = control.layout_regions(self)  # slots of cond and while_loop regions; extends the arena
        self.copies, output_slots = [], []
        for i, v in enumerate(g.outputs):
            slot = self.slot_of[v]
            if self.slots[slot].kind != "output" or self.slots[slot].key != i:
                target = self._new_slot("output", i, v.dtype, v.type.shape)
                self.copies.append((target, slot, v))
                slot = target
            output_slots.append(slot)
        self.copies += [(assigned[name], slot, g.variables[name]) for name, slot in staged]
        return Program(g.name, "", self.slots, list(self.symbols), list(g.nodes), output_slots, self.arena_bytes)

    def build(self) -> Program:
        """The program with its LLVM IR."""
        program = self.layout()
        g = self.graph
        functions = [(i, n, self._emit_node(i, n)) for i, n in enumerate(g.nodes)]
        entry = ir.Function(self.module, KERNEL_TYPE, ENTRY)
        tid, nthreads, slots, dims, sync = entry.args
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        barrier = barrier_function(self.module)
        error_ptr = b.gep(sync, [ir.Constant(I64, SYNC_ERROR)])
        for i, node, fn in functions:
            if fn is None:
                continue
            b.call(fn, [tid, nthreads, slots, dims, sync])
            b.call(barrier, [nthreads, sync])
            if may_fail(node):
                failed = b.icmp_signed("!=", b.load_atomic(error_ptr, "acquire", 8), ir.Constant(I64, 0))
                with b.if_then(failed, likely=False):
                    b.ret_void()
        finals = Emitter(self.module, "finish", self.slot_of, self.symbols, len(g.nodes))
        for dst, src, like in self.copies:
            self._copy(finals, dst, src, like)
        b.call(finals.finish(), [tid, nthreads, slots, dims, sync])
        b.ret_void()
        self._emit_call_wrapper(entry, program)
        program.ir = str(self.module)
        return program

    def _emit_call_wrapper(self, entry: ir.Function, program: Program) -> None:
        """``graphc_call(slots, sync, inputs..., outputs..., variables..., assigned...)``: stores each
        array's data pointer in its slot, clears the sync words and runs the entry on one thread. Saves
        the runtime reading every address in Python: the per-call overhead of small graphs."""
        arrays = [i for i, s in enumerate(self.slots) if s.kind == "input"] + program.output_slots + variable_slots(program)
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I8.as_pointer().as_pointer(), I64.as_pointer()]
                                                      + [I8.as_pointer()] * len(arrays)), CALL)
        slots, sync, *objects = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        for slot, obj in zip(arrays, objects):
            field = b.bitcast(b.gep(obj, [ir.Constant(I64, ARRAY_DATA_OFFSET)]), I8.as_pointer().as_pointer())
            b.store(b.load(field), b.gep(slots, [ir.Constant(I64, slot)]))
        for word in range(4):
            b.store(ir.Constant(I64, 0), b.gep(sync, [ir.Constant(I64, word)]))
        dims = b.gep(sync, [ir.Constant(I64, 4)])  # no symbolic sizes: an unused word
        b.call(entry, [ir.Constant(I64, 0), ir.Constant(I64, 1), slots, dims, sync])
        b.ret_void()

    def _copy(self, em: Emitter, dst_slot: int, src_slot: int, like) -> None:
        """Copies a whole buffer (on thread 0) with llvm.memcpy."""
        b = em.builder
        dtype = like.type.dtype
        nbytes = b.mul(em.product(like.type.shape), ir.Constant(I64, _item_size(dtype)))
        memcpy = self.module.globals.get("llvm.memcpy.p0i8.p0i8.i64") or ir.Function(
            self.module, ir.FunctionType(ir.VoidType(), [I8.as_pointer(), I8.as_pointer(), I64, ir.IntType(1)]),
            "llvm.memcpy.p0i8.p0i8.i64",
        )
        dst = b.bitcast(em.slot_pointer(dst_slot, dtype), I8.as_pointer())
        src = b.bitcast(em.slot_pointer(src_slot, dtype), I8.as_pointer())
        with em.only_first_thread():
            b.call(memcpy, [dst, src, nbytes, ir.Constant(ir.IntType(1), 0)])


def variable_slots(program: Program) -> list[int]:
    """The slots of the variables' current values, then those of their new values."""
    return [i for kind in ("variable", "assigned") for i, s in enumerate(program.slots) if s.kind == kind]


@contextlib.contextmanager
def internal_errors_name(node: Node):
    """Turns an unexpected exception raised while ``node`` is compiled (a bug in graphc) into an
    InternalCompilerError naming the op (a fused kernel's ops) and the user's line."""
    try:
        yield
    except GraphcError as error:
        raise error.with_context(op=_op_name(node), location=node.loc.long if node.loc else None)
    except Exception as error:
        raise InternalCompilerError(
            f"internal error while compiling it (a bug in graphc): {type(error).__name__}: {error}",
            op=_op_name(node), location=node.loc.long if node.loc else None,
        ) from error


def _op_name(node: Node) -> str:
    if node.op != "fused":
        return node.op
    return f"fused {node.attrs['kind']} kernel of {', '.join(n.op for n in node.attrs['body'].nodes if n.op != 'constant')}"


def _item_size(dtype) -> int:
    return dtype.numpy.itemsize


def generate(graph: Graph) -> Program:
    """The program (LLVM IR and buffer layout) for a fused graph."""
    return CodeGen(graph).build()


def layout(graph: Graph) -> Program:
    """The buffer layout ``generate`` would give, without generating code (for cached code)."""
    return CodeGen(graph).layout()
