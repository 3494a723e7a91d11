"""One team of threads for the whole step: the kernels of a graph that calls BLAS run on the BLAS's
own OpenMP threads.

A BLAS threaded with OpenMP (MKL) keeps its threads waiting for work after each product. graphc's
own workers, waiting at a barrier while a product ran, competed with them for the cores, so graphs
that call BLAS ran their kernels on one thread. Where the BLAS's OpenMP runtime is known
(``blas.openmp_functions``), the runtime calls the entry once, with the team's size as
``nthreads``, and the entry hands each run of kernels between two products to that runtime's
``GOMP_parallel``: the same threads run graphc's kernels and, from the calling thread between the
runs, BLAS's products (``Kernel.calls_blas``). A product's epilogue is a kernel of its own, in the
run after the product: on the whole team. Sync word ``SYNC_OPENMP`` holds the address of three
function addresses (``GOMP_parallel``, ``omp_get_thread_num``, ``omp_get_num_threads``), or 0 where
the threads are graphc's own: every thread then calls the entry, which calls the same runs.
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from .emitter import I8P, VOID, Kernel
from .lowering import may_fail
from .program import SYNC_ERROR, SYNC_OPENMP
from .scalar import I1, I32, I64

_I32_FUNCTION = ir.FunctionType(I32, [])
_TEAM_FUNCTION = ir.FunctionType(VOID, [I8P])
_PARALLEL = ir.FunctionType(VOID, [_TEAM_FUNCTION.as_pointer(), I8P, I32, I32])  # GOMP_parallel(fn, data, threads, flags)
# what the team function reads: slots, dims, sync, whether on the team, tid and nthreads (when not), the run
_ARGUMENTS = ir.LiteralStructType([I8P.as_pointer(), I64.as_pointer(), I64.as_pointer(), I1, I64, I64, I64])
SLOTS, DIMS, SYNC, ON_TEAM, TID, NTHREADS, RUN = range(7)


def emit_entry(entry: ir.Function, kernels: list[Kernel], finish: ir.Function, call_in_turn: Callable) -> None:
    """Emits the body of ``entry`` (``KERNEL_TYPE``): ``kernels`` in runs (``_runs``), then ``finish``.
    On the OpenMP team when sync word ``SYNC_OPENMP`` is set and ``nthreads`` > 1 (the runtime then
    calls the entry on one thread): a product on the calling thread alone, the runs between products
    on the team. Otherwise every thread calls each in turn, as in the entry of a graph without BLAS
    calls. The runs between products are the cases of one function, ``graphc.team`` (a function per
    run cost LLVM about 1.5 ms each). ``call_in_turn`` (``emitter.call_in_turn``) emits the kernel
    calls."""
    module = entry.module
    tid, nthreads, slots, dims, sync = entry.args
    runs = _runs(kernels)
    team_function = _team_function(module, runs, call_in_turn)
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    address = b.load(b.gep(sync, [ir.Constant(I64, SYNC_OPENMP)]))
    on_team = b.and_(b.icmp_signed("!=", address, ir.Constant(I64, 0)), b.icmp_signed(">", nthreads, ir.Constant(I64, 1)))
    arguments = b.alloca(_ARGUMENTS, name="team_arguments")
    for field, value in ((SLOTS, slots), (DIMS, dims), (SYNC, sync), (ON_TEAM, on_team), (TID, tid), (NTHREADS, nthreads)):
        b.store(value, _field(b, arguments, field))
    # on the team, the calling thread runs the products alone and finish: thread 0 of 1
    alone = [b.select(on_team, ir.Constant(I64, 0), tid), b.select(on_team, ir.Constant(I64, 1), nthreads), slots, dims, sync]
    data = b.bitcast(arguments, I8P)
    for index, run in enumerate(runs):
        if run[0].calls_blas:
            call_in_turn(b, alone, run)  # (returns from the entry when it flags an error)
            continue
        b.store(ir.Constant(I64, index), _field(b, arguments, RUN))
        with b.if_else(on_team) as (team, each_thread):
            with team:
                parallel = b.inttoptr(b.load(b.inttoptr(address, I64.as_pointer())), _PARALLEL.as_pointer())
                b.call(parallel, [team_function, data, b.trunc(nthreads, I32), ir.Constant(I32, 0)])
            with each_thread:
                b.call(team_function, [data])
        if any(may_fail(k.node) for k in run):  # every thread reads the flag after the run's last barrier
            error = b.load_atomic(b.gep(sync, [ir.Constant(I64, SYNC_ERROR)]), "acquire", 8)
            with b.if_then(b.icmp_signed("!=", error, ir.Constant(I64, 0)), likely=False):
                b.ret_void()
    b.call(finish, alone)
    b.ret_void()


def _field(b: ir.IRBuilder, arguments, field: int) -> ir.Value:
    return b.gep(arguments, [ir.Constant(I32, 0), ir.Constant(I32, field)])


def _runs(kernels: list[Kernel]) -> list[list[Kernel]]:
    """``kernels`` in runs: each product that calls BLAS alone, the kernels between them together."""
    runs: list[list[Kernel]] = []
    for kernel in kernels:
        if kernel.calls_blas or not runs or runs[-1][0].calls_blas:
            runs.append([kernel])
        else:
            runs[-1].append(kernel)
    return runs


def _team_function(module: ir.Module, runs: list[list[Kernel]], call_in_turn: Callable) -> ir.Function:
    """``graphc.team(i8* arguments)``: the kernels of the run ``arguments`` names, in turn, called by
    each thread of the team (its number and the team's size from OpenMP) or by each thread calling
    the entry (``tid`` and ``nthreads`` from ``arguments``)."""
    fn = ir.Function(module, _TEAM_FUNCTION, "graphc.team")
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    arguments = b.bitcast(fn.args[0], _ARGUMENTS.as_pointer())
    slots, dims, sync, on_team, tid, nthreads, run = (b.load(_field(b, arguments, k)) for k in range(7))
    given = b.block
    with b.if_then(on_team):
        functions = b.inttoptr(b.load(b.gep(sync, [ir.Constant(I64, SYNC_OPENMP)])), I64.as_pointer())
        numbers = []
        for k in (1, 2):  # omp_get_thread_num, omp_get_num_threads
            function = b.inttoptr(b.load(b.gep(functions, [ir.Constant(I64, k)])), _I32_FUNCTION.as_pointer())
            numbers.append(b.sext(b.call(function, []), I64))
        asked = b.block
    thread_numbers = []
    for from_team, from_arguments in zip(numbers, (tid, nthreads)):
        phi = b.phi(I64)
        phi.add_incoming(from_team, asked)
        phi.add_incoming(from_arguments, given)
        thread_numbers.append(phi)
    done = fn.append_basic_block("done")
    switch = b.switch(run, done)
    for index, kernels in enumerate(runs):
        if kernels[0].calls_blas:
            continue
        case = fn.append_basic_block(f"run.{index}")
        switch.add_case(ir.Constant(I64, index), case)
        b.position_at_end(case)
        call_in_turn(b, [*thread_numbers, slots, dims, sync], kernels)
        b.ret_void()
    b.position_at_end(done)
    b.ret_void()
    return fn
