"""Where a compiled step's time goes, kernel by kernel: W6 (bench/cnn.py), W3 or W3b (the MLP steps
of bench/workloads.py) compiled with a cycle counter read around each kernel call of the generated
entry function, summed over the steps run.

    python bench/kernel_profile.py [W6|W3|W3b] [STEPS]   # that graphc step (default W6), STEPS (50) timed

Prints the wall time per step and, per kernel of the fused graph (``graphs["fused"]`` names them),
its mega-cycles per step of the time-stamp counter (its rate is the CPU's base clock: divide by
it for seconds) and its share; a kernel's count includes the barrier after it, so a kernel that
calls BLAS counts BLAS's threads' wall time. The compile cache is switched off: instrumented code
is never cached, nor read from the cache. Run it with OpenBLAS's threads as the benchmark runs them
(``OPENBLAS_NUM_THREADS`` unset), or with one thread to see the work without BLAS's threading.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time

os.environ["GRAPHC_CACHE"] = "0"  # before graphc reads its settings

from llvmlite import ir  # noqa: E402

from graphc.backends.llvm import codegen, emitter  # noqa: E402
from graphc.backends.llvm.scalar import I64  # noqa: E402

COUNTERS = "graphc_kernel_cycles"
MAX_COUNTERS = 4096


def instrumented_call_in_turn(kernels: list):
    """A replacement for ``emitter.call_in_turn`` that adds the cycles thread 0 spends in each kernel
    (with its barrier: the kernel's wall time) to its counter in the global array ``COUNTERS``;
    ``kernels`` receives each counter's kernel name. (The entry calls kernels from several places
    where the team of ``teams`` runs them: each place has counters of its own.)"""

    def call_in_turn(b: ir.IRBuilder, args, functions: list[emitter.Kernel]) -> None:
        counters = b.module.globals.get(COUNTERS)
        if counters is None:
            array = ir.ArrayType(I64, MAX_COUNTERS)
            counters = ir.GlobalVariable(b.module, array, COUNTERS)
            counters.initializer = ir.Constant(array, [0] * MAX_COUNTERS)
        cycles = b.module.declare_intrinsic("llvm.readcyclecounter", (), ir.FunctionType(I64, []))
        barrier = emitter.barrier_function(b.module)
        first = len(kernels)
        kernels.extend(" ".join(filter(None, (kernel.node.attrs.get("kernel", kernel.node.op), kernel.part)))
                       for kernel in functions)
        assert len(kernels) <= MAX_COUNTERS
        room = emitter.kernel_tables(b, functions)
        for k, kernel in enumerate(functions):
            start = b.call(cycles, [])
            emitter.call_kernel(b, args, kernel, room)
            b.call(barrier, [args[1], args[4]])
            with b.if_then(b.icmp_signed("==", args[0], ir.Constant(I64, 0))):
                counter = b.gep(counters, [ir.Constant(I64, 0), ir.Constant(I64, first + k)])
                b.store(b.add(b.load(counter), b.sub(b.call(cycles, []), start)), counter)

    return call_in_turn


def _step(workload: str):
    """(compiled step, its arguments) of ``workload``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if workload == "W6":
        from cnn import cnn_data, graphc_cnn_step

        params, x, labels = cnn_data()
        return graphc_cnn_step(params)[0], (x, labels)
    import workloads

    mlps = {"W3": (workloads.SIZES, workloads.BATCH), "W3b": (workloads.W3B_SIZES, workloads.W3B_BATCH)}
    sizes, batch = mlps[workload]
    weights, biases, x, labels = workloads.mlp_data(sizes=sizes, batch=batch)
    return workloads.graphc_mlp_step(weights, biases), (x, labels)


def main(workload: str, steps: int) -> None:
    kernels: list[str] = []
    codegen.call_in_turn = instrumented_call_in_turn(kernels)
    step, (x, labels) = _step(workload)
    step(x, labels)
    executable = step.get_concrete_function(x, labels).compiled().native()
    counts = (ctypes.c_int64 * MAX_COUNTERS).from_address(executable.symbol_address(COUNTERS))
    for _ in range(2):
        step(x, labels)
    ctypes.memset(counts, 0, ctypes.sizeof(counts))
    start = time.perf_counter()
    for _ in range(steps):
        step(x, labels)
    wall = (time.perf_counter() - start) / steps
    total = sum(counts) or 1
    print(f"{wall * 1e3:.2f} ms per step (wall), {total / steps / 1e6:.2f} Mcycles per step in kernels")
    for cycles, name in sorted(zip(counts, kernels), reverse=True):
        if cycles:  # (kernels the step ran another way count none)
            print(f"  {name:28s} {cycles / steps / 1e6:7.3f} Mcycles {100 * cycles / total:5.1f}%")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    workload = arguments.pop(0) if arguments and arguments[0].startswith("W") else "W6"
    main(workload, int(arguments[0]) if arguments else 50)
