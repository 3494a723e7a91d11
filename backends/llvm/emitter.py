"""Helpers every lowering uses: the kernel function being emitted, its buffers, sizes and loops,
and the calls of kernel functions in turn.

Every node with code becomes one internal function with the entry's signature
``void (i64 tid, i64 nthreads, i8** slots, i64* dims, i64* sync)``: ``slots`` holds one pointer per
buffer, ``dims`` the run-time value of every symbolic dimension, ``sync`` the barrier and error words.
A kernel with a table of its own (``Emitter(..., own_table=True)``) gets in ``slots`` just the
pointers of the buffers it uses, numbered in the order it first uses them: kernels that differ only
in their buffers are then the same function (``KernelFunctions``), compiled once.
"""
from __future__ import annotations

import contextlib
from typing import NamedTuple

from llvmlite import ir

from graphc.ir.graph import Node, Value
from graphc.ir.types import DType

from . import scalar
from .blas import is_gemm_kernel
from .lowering import may_fail
from .program import SYNC_COUNT, SYNC_ERROR, SYNC_ERROR_NODE, SYNC_GENERATION
from .scalar import I1, I8, I64, memory_type

VOID = ir.VoidType()
I8P = I8.as_pointer()
KERNEL_TYPE = ir.FunctionType(VOID, [I64, I64, I8P.as_pointer(), I64.as_pointer(), I64.as_pointer()])

SPINS_BEFORE_YIELD = 2000


class Emitter:
    """Emits one kernel function. ``slot_of`` maps values to slot indices, ``symbols``
    symbolic dimension names to indices in ``dims``; with ``own_table``, ``table`` lists the slots
    whose pointers the function's ``slots`` holds, in order."""

    def __init__(self, module: ir.Module, name: str, slot_of: dict[Value, int], symbols: dict[str, int], node_index: int,
                 own_table: bool = False):
        self.module = module
        self.function = ir.Function(module, KERNEL_TYPE, name)
        self.function.linkage = "internal"
        self.function.attributes.add("noinline")
        self.tid, self.nthreads, self.slots, self.dims, self.sync = self.function.args
        # loads of sizes and buffer pointers go to the prologue, which branches to the body at finish()
        self.prologue = self.function.append_basic_block("prologue")
        self.builder = ir.IRBuilder(self.function.append_basic_block("start"))
        self.slot_of = slot_of
        self.symbols = symbols
        self.node_index = node_index
        self._dim_cache: dict = {}
        self.table: list[int] | None = [] if own_table else None

    # -- sizes ------------------------------------------------------------------------------------
    def dim(self, d) -> ir.Value:
        """A dimension as an i64 value: a constant, or the run-time size of a symbol."""
        if isinstance(d, int):
            return ir.Constant(I64, d)
        if d not in self._dim_cache:
            b = self.builder
            with b.goto_block(self.prologue):
                ptr = b.gep(self.dims, [ir.Constant(I64, self.symbols[d])], inbounds=True)
                self._dim_cache[d] = b.load(ptr)
        return self._dim_cache[d]

    def product(self, dims) -> ir.Value:
        result = ir.Constant(I64, 1)
        static = 1
        for d in dims:
            if isinstance(d, int):
                static *= d
            else:
                result = self.builder.mul(result, self.dim(d))
        return self.builder.mul(result, ir.Constant(I64, static)) if static != 1 else result

    # -- buffers ----------------------------------------------------------------------------------
    def pointer(self, value: Value, dtype: DType | None = None) -> ir.Value:
        """The typed base pointer of a value's buffer."""
        return self.slot_pointer(self.slot_of[value], dtype or value.dtype)

    def slot_pointer(self, slot: int, dtype: DType) -> ir.Value:
        b = self.builder
        if self.table is not None:
            if slot not in self.table:
                self.table.append(slot)
            slot = self.table.index(slot)
        with b.goto_block(self.prologue):
            raw = b.load(b.gep(self.slots, [ir.Constant(I64, slot)], inbounds=True))
            return b.bitcast(raw, memory_type(dtype).as_pointer())

    def element(self, base: ir.Value, offset: ir.Value) -> ir.Value:
        return self.builder.gep(base, [offset], inbounds=True)

    def fill(self, value: Value, number, elements: tuple | None = None) -> None:
        """Stores ``number`` into every element of ``value``'s buffer (or those in ``range(*elements)``)."""
        constant, ptr = scalar.constant(value.dtype, number), self.pointer(value)
        with self.loop(*(elements or (0, self.product(value.type.shape))), "fill") as i:
            scalar.store(self.builder, constant, self.element(ptr, i), value.dtype)

    def scatter_add(self, out: Value, source: Value, loops, elements: tuple | None = None) -> None:
        """``out`` zeroed (or its elements in ``range(*elements)``), then every element of ``source``
        added into the element of ``out`` it is paired with: ``loops(body)`` calls ``body(out offset,
        source offset, inside)`` for each element of ``source``, ``inside`` an i1 saying whether it
        has a partner (the adjoint of a masked gather)."""
        b = self.builder
        src, dst = self.pointer(source), self.pointer(out)
        self.fill(out, 0, elements)

        def body(out_offset, source_offset, inside):
            with b.if_then(inside):
                self.add_into(self.element(dst, out_offset), scalar.load(b, self.element(src, source_offset), out.dtype), out.dtype)

        loops(body)

    def add_into(self, ptr: ir.Value, addend: ir.Value, dtype: DType) -> None:
        """``*ptr += addend`` for an element of a buffer of ``dtype``."""
        b = self.builder
        current = scalar.load(b, ptr, dtype)
        scalar.store(b, b.fadd(current, addend) if dtype.is_floating else b.add(current, addend), ptr, dtype)

    # -- control ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, start, stop, name: str = "i"):
        """``for i in range(start, stop)``; yields ``i``."""
        b = self.builder
        start = start if isinstance(start, ir.Value) else ir.Constant(I64, start)
        stop = stop if isinstance(stop, ir.Value) else ir.Constant(I64, stop)
        pre = b.block
        header = b.append_basic_block(f"{name}.header")
        body = b.append_basic_block(f"{name}.body")
        end = b.append_basic_block(f"{name}.end")
        b.branch(header)
        b.position_at_end(header)
        index = b.phi(I64, name=name)
        index.add_incoming(start, pre)
        b.cbranch(b.icmp_signed("<", index, stop), body, end)
        b.position_at_end(body)
        yield index
        index.add_incoming(b.add(index, ir.Constant(I64, 1)), b.block)
        b.branch(header)
        b.position_at_end(end)

    def chunk(self, total: ir.Value, align: int = 1) -> tuple[ir.Value, ir.Value]:
        """This thread's ``[start, end)`` of ``range(total)``; chunk starts are multiples of ``align``."""
        b = self.builder
        units = total
        if align > 1:
            units = b.sdiv(b.add(total, ir.Constant(I64, align - 1)), ir.Constant(I64, align))
        start = b.sdiv(b.mul(units, self.tid), self.nthreads)
        end = b.sdiv(b.mul(units, b.add(self.tid, ir.Constant(I64, 1))), self.nthreads)
        if align > 1:
            start = b.mul(start, ir.Constant(I64, align))
            end = b.mul(end, ir.Constant(I64, align))
            end = b.select(b.icmp_signed("<", end, total), end, total)
            start = b.select(b.icmp_signed("<", start, total), start, total)
        return start, end

    @contextlib.contextmanager
    def only_first_thread(self):
        """Code in the block runs on thread 0 only."""
        b = self.builder
        with b.if_then(b.icmp_signed("==", self.tid, ir.Constant(I64, 0))):
            yield

    def barrier(self) -> None:
        """Waits for every thread to finish the work before this point."""
        self.builder.call(barrier_function(self.module), [self.nthreads, self.sync])

    def flag_error(self, condition: ir.Value, code: int) -> None:
        """Records error ``code`` for this node when ``condition`` (i1) holds; the runtime raises it."""
        b = self.builder
        with b.if_then(condition, likely=False):
            b.store(ir.Constant(I64, code), b.gep(self.sync, [ir.Constant(I64, SYNC_ERROR)]))
            b.store(ir.Constant(I64, self.node_index), b.gep(self.sync, [ir.Constant(I64, SYNC_ERROR_NODE)]))

    def copy_buffers(self, copies: list[tuple[int, int, object]]) -> None:
        """Copies whole buffers with llvm.memcpy on thread 0: (destination slot, source slot, the value
        or variable whose type they hold)."""
        if not copies:
            return
        b = self.builder
        memcpy = self.module.globals.get("llvm.memcpy.p0i8.p0i8.i64") or ir.Function(
            self.module, ir.FunctionType(VOID, [I8P, I8P, I64, I1]), "llvm.memcpy.p0i8.p0i8.i64",
        )
        with self.only_first_thread():
            for dst, src, like in copies:
                nbytes = b.mul(self.product(like.type.shape), ir.Constant(I64, like.type.dtype.numpy.itemsize))
                pointers = [b.bitcast(self.slot_pointer(s, like.type.dtype), I8P) for s in (dst, src)]
                b.call(memcpy, [*pointers, nbytes, ir.Constant(I1, 0)])

    def finish(self) -> ir.Function:
        b = self.builder
        b.ret_void()
        start = self.function.blocks[1]
        with b.goto_block(self.prologue):
            b.branch(start)
        return self.function


def bool_constant(value: bool) -> ir.Constant:
    return ir.Constant(I1, int(value))


class Kernel(NamedTuple):
    """A node's kernel function, and the slots whose pointers make its table (``Emitter.table``;
    None: it takes its caller's ``slots``); ``part``: ``"product"`` or ``"epilogue"`` for the two
    kernels of a product that BLAS runs followed by an epilogue, else empty."""

    node: Node
    function: ir.Function
    table: tuple[int, ...] | None = None
    part: str = ""

    @property
    def calls_blas(self) -> bool:
        """Whether the kernel runs a BLAS product (``blas.is_gemm_kernel``; not its epilogue)."""
        return self.part != "epilogue" and is_gemm_kernel(self.node)


def kernel_tables(b: ir.IRBuilder, kernels: list[Kernel]) -> ir.Value | None:
    """Room for the widest table of ``kernels`` on the stack of the function ``b`` emits (None: no
    kernel has one)."""
    width = max((len(k.table) for k in kernels if k.table is not None), default=0)
    if not width:
        return None
    with b.goto_entry_block():
        return b.alloca(ir.ArrayType(I8P, width), name="kernel_table")


def call_kernel(b: ir.IRBuilder, args, kernel: Kernel, room: ir.Value | None) -> None:
    """Calls ``kernel`` with the calling function's ``args`` (tid, nthreads, slots, dims, sync), its
    table first filled in ``room`` (``kernel_tables``) from the caller's ``slots``."""
    if kernel.table is not None:
        zero = ir.Constant(I64, 0)
        for k, slot in enumerate(kernel.table):
            pointer = b.load(b.gep(args[2], [ir.Constant(I64, slot)], inbounds=True))
            b.store(pointer, b.gep(room, [zero, ir.Constant(I64, k)], inbounds=True))
        args = [args[0], args[1], b.bitcast(room, I8P.as_pointer()), args[3], args[4]]
    b.call(kernel.function, args)


def call_in_turn(b: ir.IRBuilder, args, kernels: list[Kernel]) -> None:
    """Calls each kernel (``call_kernel``), every thread waiting at a barrier after each; returns
    from the calling function when one whose node may fail flagged an error."""
    nthreads, sync = args[1], args[4]
    barrier = barrier_function(b.module)
    room = kernel_tables(b, kernels)
    for kernel in kernels:
        call_kernel(b, args, kernel, room)
        b.call(barrier, [nthreads, sync])
        if may_fail(kernel.node):
            error = b.load_atomic(b.gep(sync, [ir.Constant(I64, SYNC_ERROR)]), "acquire", 8)
            with b.if_then(b.icmp_signed("!=", error, ir.Constant(I64, 0)), likely=False):
                b.ret_void()


def barrier_function(module: ir.Module) -> ir.Function:
    """``graphc.barrier(nthreads, sync)``: waits until all ``nthreads`` threads have arrived.

    A counter and a generation word in ``sync``; the last thread to arrive resets the counter and
    advances the generation. The others spin with the CPU's pause hint for a while, then yield the
    core to the OS between checks, so a thread waiting out a long BLAS call leaves BLAS's own threads
    the machine."""
    name = "graphc.barrier"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(VOID, [I64, I64.as_pointer()]), name)
    fn.linkage = "internal"
    # one copy: inlined after every kernel it was most of the entry function's code, and LLVM's
    # time on W3's module fell by 11% without it (a call costs nanoseconds next to a kernel)
    fn.attributes.add("noinline")
    nthreads, sync = fn.args
    entry, arrive, last, wait, done = (fn.append_basic_block(n) for n in ("entry", "arrive", "last", "wait", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed("==", nthreads, ir.Constant(I64, 1)), done, arrive)
    b.position_at_end(arrive)
    count_ptr = b.gep(sync, [ir.Constant(I64, SYNC_COUNT)])
    generation_ptr = b.gep(sync, [ir.Constant(I64, SYNC_GENERATION)])
    generation = b.load_atomic(generation_ptr, "acquire", 8)
    arrived = b.atomic_rmw("add", count_ptr, ir.Constant(I64, 1), "acq_rel")
    b.cbranch(b.icmp_signed("==", arrived, b.sub(nthreads, ir.Constant(I64, 1))), last, wait)
    b.position_at_end(last)
    b.store_atomic(ir.Constant(I64, 0), count_ptr, "monotonic", 8)
    b.atomic_rmw("add", generation_ptr, ir.Constant(I64, 1), "release")
    b.branch(done)
    b.position_at_end(wait)
    spins = b.phi(I64)
    spins.add_incoming(ir.Constant(I64, 0), arrive)
    pause = module.globals.get("llvm.x86.sse2.pause") or ir.Function(module, ir.FunctionType(VOID, []), "llvm.x86.sse2.pause")
    sched_yield = module.globals.get("sched_yield") or ir.Function(module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
    with b.if_else(b.icmp_signed("<", spins, ir.Constant(I64, SPINS_BEFORE_YIELD))) as (spin, give_up):
        with spin:
            b.call(pause, [])
        with give_up:
            b.call(sched_yield, [])
    now = b.load_atomic(generation_ptr, "acquire", 8)
    spins.add_incoming(b.add(spins, ir.Constant(I64, 1)), b.block)
    b.cbranch(b.icmp_signed("==", now, generation), wait, done)
    b.position_at_end(done)
    b.ret_void()
    return fn
