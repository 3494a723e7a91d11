"""What the top-level graph (``codegen.py``) and each region of ``cond`` and ``while_loop``
(``control.py``) share: the slot table, where a graph's values live, and its nodes' kernel functions.

Every buffer is a slot (``program.Slot``) of the program's slot table (``SlotTable``), where the runtime finds or
allocates it. ``lay_out_graph`` gives each value of a graph a slot — its intermediates in an arena
range of the graph's own, at the offsets ``plan_memory`` chose — and lists the copies that put
results no kernel writes in place into their slots. ``KernelFunctions`` emits one kernel function per
node that has code; a region op's function runs its regions' functions in turn (``control.py``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

from llvmlite import ir

from graphc.ir.errors import GraphcError, InternalCompilerError
from graphc.ir.graph import Graph, Node, Value
from graphc.ir.ops.host import HostFunction
from graphc.ir.passes.memory import align_up, plan_memory

from . import control, ops
from .blas import GEMM_SYMBOLS, is_gemm_kernel
from .emitter import Emitter, Kernel
from .host_calls import HostCall
from .kernels import Operand, emit_fused, has_epilogue
from .lowering import uses_whole_table
from .program import ALIGNMENT, Slot


# -- slots ----------------------------------------------------------------------------------------
class SlotTable:
    """The program's slots, and the size of the arena its 'arena' slots point into."""

    def __init__(self):
        self.slots: list[Slot] = []
        self.arena_bytes = 0
        self._arena_slots: dict[int, int] = {}  # arena offset -> slot

    def new_slot(self, kind: str, key, dtype, shape) -> int:
        self.slots.append(Slot(kind, key, dtype, tuple(shape)))
        return len(self.slots) - 1

    def buffer_slot(self, v: Value) -> int:
        """A new slot for a buffer of ``v``'s type that the runtime allocates."""
        return self.new_slot("buffer", None, v.dtype, v.type.shape)

    def reserve_arena(self, nbytes: int) -> int:
        """Extends the arena by an aligned range of ``nbytes``; returns the range's offset."""
        base = align_up(self.arena_bytes, ALIGNMENT)
        self.arena_bytes = base + nbytes
        return base

    def arena_slot(self, offset: int, v: Value) -> int:
        """The slot of the arena bytes at ``offset``, one per offset: a kernel computing a value in
        place of its input then reads and writes through one pointer, and LLVM vectorises its loop
        (through two, its run-time overlap check fails and the scalar loop runs)."""
        if offset not in self._arena_slots:
            self._arena_slots[offset] = self.new_slot("arena", offset, v.dtype, v.type.shape)
        return self._arena_slots[offset]


class VariableSlots:
    """The slots of the top-level graph's variables as its nodes read and write them. A variable's
    current value is only read (slot kind 'variable'); its new value is built in a buffer of its own
    ('assigned'): in place by a kernel the memory plan lets update it, else copied there at the end
    from the value assigned (a staged assignment, whose value must stay intact until then)."""

    def __init__(self, table: SlotTable, graph: Graph):
        self.table = table
        self.variables = graph.variables
        self.initial = {name: table.new_slot("variable", name, var.type.dtype, var.type.shape)
                        for name, var in graph.variables.items()}
        self.current = dict(self.initial)
        self.assigned: dict[str, int] = {}
        storage: dict[Value, Value] = {}  # a view's value -> the value whose buffer it shares
        for node in graph.nodes:
            if node.opdef.view:
                storage[node.outputs[0]] = storage.get(node.inputs[0], node.inputs[0])
        self.staged_values = {storage.get(n.inputs[0], n.inputs[0]) for n in graph.nodes if n.opdef.effect == "write"}

    def place(self, node: Node, slot_of: dict[Value, int]) -> None:
        """A read gives its value the variable's current slot; a write makes the assigned value's slot current."""
        if node.opdef.effect == "read":
            slot_of[node.outputs[0]] = self.current[node.variable]
        else:
            self.current[node.variable] = slot_of[node.inputs[0]]

    def assigned_slot(self, name: str) -> int:
        if name not in self.assigned:
            var = self.variables[name]
            self.assigned[name] = self.table.new_slot("assigned", name, var.type.dtype, var.type.shape)
        return self.assigned[name]

    def staged_copies(self) -> list[tuple[int, int, object]]:
        """(new value's slot, assigned value's slot, variable) of each variable written whose value
        was not built in its new value's buffer."""
        written = [name for name, slot in self.current.items() if slot != self.initial[name]]
        return [(self.assigned_slot(name), self.current[name], self.variables[name])
                for name in written if self.current[name] != self.assigned_slot(name)]


# -- where a graph's values live --------------------------------------------------------------------
@dataclass
class GraphLayout:
    """One graph's buffers: a slot per value; the slot of a matmul result used only inside its kernel
    (by node index); the layouts of its region ops' regions (by node index); the copies run after
    its nodes, (destination slot, source slot, the value or variable they hold); its results' slots."""

    graph: Graph
    slot_of: dict[Value, int]
    transposed: frozenset[Value] = frozenset()
    scratch: dict[int, int] = field(default_factory=dict)
    regions: dict[int, list["GraphLayout"]] = field(default_factory=dict)
    copies: list[tuple[int, int, object]] = field(default_factory=list)
    output_slots: list[int] = field(default_factory=list)


def lay_out_graph(table: SlotTable, graph: Graph, input_slots: list[int], output_slot: Callable[[int], int] | None,
                  variables: VariableSlots | None = None, transposed: frozenset[Value] = frozenset()) -> GraphLayout:
    """Slots for ``graph``'s values, added to ``table``: its inputs in ``input_slots``; a result a kernel
    computes straight in ``output_slot(k)`` (k: its first index among the results), the other results
    copied there (no results when ``output_slot`` is None: they are read in place); views and
    ``transposed`` results share their input's slot; constants have their own; intermediates go to a
    new arena range at the offsets of the memory plan (those of unknown size to buffers of their own).

    The top-level graph also has ``variables``: a kernel the plan lets update a variable in place
    writes straight into the variable's new value, staged assignments are copied there at the end."""
    layout = GraphLayout(graph, dict(zip(graph.inputs, input_slots)), transposed)
    plan = plan_memory(graph, ALIGNMENT, transposed)
    base = table.reserve_arena(plan.arena_bytes)
    planned = {b.name: b for b in plan.buffers}
    names = {v: f"%{i}" for i, v in enumerate(graph.values())}
    result_index: dict[Value, int] = {}
    for k, v in enumerate(graph.outputs if output_slot is not None else ()):
        result_index.setdefault(v, k)
    staged_values = variables.staged_values if variables is not None else set()
    slot_of = layout.slot_of
    for node in graph.nodes:
        if node.op == "constant":
            v = node.outputs[0]
            slot_of[v] = table.new_slot("constant", node.attrs["value"], v.dtype, v.type.shape)
        elif node.variable is not None:
            variables.place(node, slot_of)
        elif node.opdef.view or (node.outputs and node.outputs[0] in transposed):
            slot_of[node.outputs[0]] = slot_of[node.inputs[0]]
        else:
            for v in node.outputs:
                buffer = planned.get(names[v])
                if v in result_index:
                    slot_of[v] = output_slot(result_index[v])
                elif buffer is not None and buffer.kind == "variable":
                    slot_of[v] = variables.assigned_slot(buffer.inplace_of[1:])
                elif buffer is not None and buffer.kind == "arena" and v not in staged_values:
                    slot_of[v] = table.arena_slot(base + buffer.offset, v)
                else:
                    slot_of[v] = table.buffer_slot(v)
            if isinstance(node.attrs.get("function"), HostFunction):  # its code names it by this slot
                slot_of[node] = table.new_slot("host", HostCall(node, [slot_of[v] for v in node.inputs],
                                                               [slot_of[v] for v in node.outputs]), None, ())
    staged_copies = variables.staged_copies() if variables is not None else []
    for j, node in enumerate(graph.nodes):
        if node.op == "fused":
            _add_scratch(table, layout, j, node.attrs["body"])
        elif node.opdef.regions:
            layout.regions[j] = _lay_out_regions(table, node, slot_of)
    if output_slot is not None:
        layout.output_slots = [output_slot(k) for k in range(len(graph.outputs))]
        layout.copies = [(slot, slot_of[v], v) for slot, v in zip(layout.output_slots, graph.outputs) if slot != slot_of[v]]
    layout.copies += staged_copies
    return layout


def _add_scratch(table: SlotTable, layout: GraphLayout, index: int, body: Graph) -> None:
    """A slot for the matmul result of kernel ``index`` when the kernel uses it only inside: of kind
    'scratch', whose buffer every such kernel shares (kernels never overlap: the threads meet at a
    barrier after each)."""
    for n in body.nodes:
        if n.op == "matmul" and n.outputs[0] not in body.outputs:
            v = n.outputs[0]
            layout.scratch[index] = table.new_slot("scratch", None, v.dtype, v.type.shape)


def _lay_out_regions(table: SlotTable, node: Node, slot_of: dict[Value, int]) -> list[GraphLayout]:
    """The layouts of region op ``node``'s regions, in the order ``control.region_slots`` gives them."""
    layouts = []
    for region in control.region_slots(node, slot_of):
        output_slot = None
        if region.results is not None:
            results = [table.buffer_slot(v) if slot is None else slot for slot, v in zip(region.results, region.graph.outputs)]
            output_slot = results.__getitem__
        layouts.append(lay_out_graph(table, region.graph, region.inputs, output_slot))
    return layouts


def find_transposed_operands(graph: Graph) -> frozenset[Value]:
    """Results of ``transpose`` (last two axes swapped) read only as float matmul operands: BLAS
    reads them transposed from the transpose's input, so no copy is made."""
    users = graph.users()
    found = set()
    for node in graph.nodes:
        if node.op != "transpose" or node.outputs[0].dtype.name not in GEMM_SYMBOLS:
            continue
        rank = node.outputs[0].ndim
        if rank < 2 or tuple(node.attrs["perm"]) != tuple(range(rank - 2)) + (rank - 1, rank - 2):
            continue
        v = node.outputs[0]
        if v in graph.outputs or not users[v] or not all(_reads_as_matmul_operand(u, v) for u in users[v]):
            continue
        found.add(v)
    return frozenset(found)


def _reads_as_matmul_operand(node: Node, value: Value) -> bool:
    """Whether ``node`` is a fused matmul kernel that reads ``value`` only as an operand of its matmul."""
    if node.op != "fused" or node.attrs["kind"] != "matmul":
        return False
    body = node.attrs["body"]
    inner = {b for b, outer in zip(body.inputs, node.inputs) if outer is value}
    mm = next(n for n in body.nodes if n.op == "matmul")
    return all(n is mm for b in inner for n in body.users()[b]) and any(b in mm.inputs for b in inner)


# -- kernel functions -------------------------------------------------------------------------------
class KernelFunctions:
    """Emits the kernel functions of laid-out graphs into ``module``. ``symbols`` numbers the symbolic
    sizes; ``nodes`` are the top-level graph's, which errors name."""

    def __init__(self, module: ir.Module, symbols: dict[str, int], nodes: list[Node]):
        self.module = module
        self.symbols = symbols
        self.nodes = nodes
        self.texts: dict[str, str] = {}  # the text of each kernel with a table of its own, by name
        self._by_body: dict[str, ir.Function] = {}

    def of_graph(self, layout: GraphLayout, prefix: str = "", owner: int | None = None) -> list[Kernel]:
        """The kernel (function named ``{prefix}node{j}_{op}``) of each node of ``layout.graph`` that
        has code. Errors name top-level node ``owner`` (a region's region op), by default the node.
        Top-level kernels have tables of their own (``emitter``; but for ``lowering.uses_whole_table``),
        and one that is another's but for its table is not emitted twice: it is the same function,
        called with its own table."""
        kernels = []
        for j, node in enumerate(layout.graph.nodes):
            if not ops.has_code(node) or any(v in layout.transposed for v in node.outputs):
                continue
            index = j if owner is None else owner
            own_table = owner is None and not uses_whole_table(node)
            name = f"{prefix}node{j}_{node.op}"
            # a product BLAS runs and its epilogue: two kernels, so that the epilogue runs on every thread
            # where BLAS's product runs on the calling thread alone (``teams``)
            parts = ("product", "epilogue") if is_gemm_kernel(node) and has_epilogue(node) else ("",)
            with internal_errors_name(self.nodes[index]):
                kernels.extend(self._node_kernel(layout, j, name + (part and f".{part}"), index, own_table, part)
                               for part in parts)
        return kernels

    def _node_kernel(self, layout: GraphLayout, j: int, name: str, index: int, own_table: bool, part: str) -> Kernel:
        em = Emitter(self.module, name, layout.slot_of, self.symbols, index, own_table)
        fn = self._emit(em, layout, j, part)
        if em.table is None:
            return Kernel(layout.graph.nodes[j], fn, part=part)
        text = str(fn)
        body = text[text.index("\n"):]  # (its first line names it)
        same = self._by_body.setdefault(body, fn)
        if same is fn:
            self.texts[fn.name] = text
        else:
            del self.module.globals[fn.name]
        return Kernel(layout.graph.nodes[j], same, tuple(em.table), part)

    def _emit(self, em: Emitter, layout: GraphLayout, j: int, part: str) -> ir.Function:
        node = layout.graph.nodes[j]
        name = em.function.name
        index = em.node_index
        if node.opdef.regions:
            regions = layout.regions[j]
            functions = [self.of_graph(region, f"{name}.{k}.", index) for k, region in enumerate(regions)]
            control.emit_region_op(em, node, regions, functions)
        elif node.op == "fused":
            def operand(v: Value) -> Operand:
                return Operand(layout.slot_of[v], v.dtype, v.type.shape, v in layout.transposed)

            emit_fused(em, node, [operand(v) for v in node.inputs], [operand(v) for v in node.outputs],
                       layout.scratch.get(j), part)
        else:
            ops.lower_op(em, node)
        return em.finish()


@contextlib.contextmanager
def internal_errors_name(node: Node):
    """Turns an unexpected exception raised while ``node`` is compiled (a bug in graphc) into an
    InternalCompilerError naming the op (a fused kernel's ops) and the user's line."""
    try:
        yield
    except GraphcError as error:
        raise error.with_context(op=_op_name(node)).at(node)
    except Exception as error:
        raise InternalCompilerError(
            f"internal error while compiling it (a bug in graphc): {type(error).__name__}: {error}", op=_op_name(node),
        ).at(node) from error


def _op_name(node: Node) -> str:
    if node.op != "fused":
        return node.op
    return f"fused {node.attrs['kind']} kernel of {', '.join(n.op for n in node.attrs['body'].nodes if n.op != 'constant')}"
