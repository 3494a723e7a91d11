"""Benchmarks, side by side in one run: graphc (LLVM backend) against NumPy, and against JAX,
TensorFlow and PyTorch when they are installed. Every figure is the median of repeated runs; the
ratio column is NumPy's time divided by the other's (higher is faster).

    make bench              # all workloads
    python bench/run.py W1 W4

W1 gelu_tanh(x) * y + z on float32[2**24]
W2 row softmax of float32[4096, 1024]
W3 MLP training step 784-512-512-10, batch 256, float32, softmax cross-entropy, SGD
W3b the same step for an MLP 1024-1024-10, batch 512
W4 per-call overhead: x * 2 + 1 on float32[4]
W5 first-call latency of W3 (trace + optimise + compile) in a fresh process, cold and warm cache
W6 CNN training step (bench/cnn.py): f32[64, 28, 28, 1] NHWC, conv 3x3x32 relu, maxpool 2x2, conv 3x3x64
   relu, maxpool 2x2, dense 128 relu, dense 10, softmax cross-entropy, SGD; checked against NumPy by
   hand (and the peers' first loss) before it is timed; TensorFlow in a tf.function, PyTorch eager;
   then its first call in a fresh process, cold and warm cache, as W5
W7 compile time of long elementwise chains in a fresh process, cold cache: 750 and 1,500 steps of
   sin(x) * c + d, 10,000 and 20,000 simple ops (x * c, x - d); each doubling's growth ratio (time at
   2n over time at n: 2 is linear)
W8 inference: W3's forward pass (batch 256), graphc against ONNX Runtime on graphc's ONNX export
W9 inference: the digits CNN of examples/digits_cnn.py (batch 256), likewise (bench/onnx_inference.py)
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads  # noqa: E402


SETTLE_SECONDS = 0.3  # see median_time


def median_time(fn, repeats: int, min_seconds: float = 0.2) -> float:
    """Median seconds per call over ``repeats`` batches, each at least ``min_seconds`` long, after
    ``SETTLE_SECONDS`` of sleep: the threads of the implementation timed before (NumPy's OpenBLAS)
    keep a core busy for about 0.1 s after its last call, and graphc's W3 step took 8-11 ms in that
    time against 3.7 ms after it, enough to move a median of nine batches."""
    time.sleep(SETTLE_SECONDS)
    fn()
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(min_seconds / once / repeats) if once < min_seconds / repeats else 1)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def _format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} us"
    return f"{seconds * 1e3:8.2f} ms"


def report_of_new_process(script: str, *args: str, cache_dir: str) -> dict:
    """What a bench script (``first_call.py``, ``compile_time.py``) reports, as JSON, from a new process."""
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, script), *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_call_latency(cache_dir: str, *workload: str) -> float:
    """Seconds the first compiled call of W3 (or of ``W6``) takes, in a new process."""
    return report_of_new_process("first_call.py", *workload, cache_dir=cache_dir)["seconds"]


def first_calls(label: str, *workload: str) -> None:
    """The median of 3 first calls with a cold cache, then of 3 with a warm one."""
    with tempfile.TemporaryDirectory() as cache:
        cold = statistics.median(first_call_latency(tempfile.mkdtemp(dir=cache), *workload) for _ in range(3))
        first_call_latency(cache, *workload)  # fills the cache
        warm = statistics.median(first_call_latency(cache, *workload) for _ in range(3))
    print(f"{label + ' (cold cache)':<44} {'graphc':<10} {_format_time(cold)}")
    print(f"{label + ' (warm cache)':<44} {'graphc':<10} {_format_time(warm)}")


# W7: (chain, size n): the first call is timed at n and 2n
CHAIN_SIZES = [("sin", 750, "steps of sin(x)*c+d"), ("simple", 10_000, "simple ops")]


def compile_growth() -> None:
    """W7: the first call of each chain at n and 2n, cold cache, and the growth ratio. The process's
    CPU time is shown too: on a loaded machine it is the steadier figure."""
    for kind, n, what in CHAIN_SIZES:
        reports = []
        for size in (n, 2 * n):
            with tempfile.TemporaryDirectory() as cache:
                reports.append(report_of_new_process("compile_time.py", kind, str(size), cache_dir=cache))
            wall, cpu = reports[-1]["seconds"], reports[-1]["cpu_seconds"]
            print(f"{f'W7 first call, {size:,} {what}':<44} {'graphc':<10} {_format_time(wall)}"
                  f"  (CPU {_format_time(cpu).strip()})")
        ratio = {key: reports[1][key] / reports[0][key] for key in ("seconds", "cpu_seconds")}
        print(f"{f'W7 growth ratio, {2 * n:,} over {n:,}':<44} {'graphc':<10} {ratio['seconds']:8.2f}x"
              f"  (CPU {ratio['cpu_seconds']:.2f}x)")


def run(selected: list[str]) -> None:
    from graphc.backends.llvm.blas import blas_name

    peers = workloads.available_peers()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}; peers: {', '.join(peers) or 'none installed'}; "
          f"graphc's BLAS: {blas_name()} (GRAPHC_BLAS)")
    header = f"{'workload':<44} {'impl':<10} {'median':>11} {'vs NumPy':>9}"
    print(header)
    print("-" * len(header))
    for name, workload in workloads.WORKLOADS.items():
        if selected and name not in selected:
            continue
        impls = workload.implementations(peers)
        baseline = None
        for impl_name, fn in impls.items():
            if workload.isolated:
                with tempfile.TemporaryDirectory() as cache:
                    report = report_of_new_process(workload.isolated, impl_name, str(workload.repeats), cache_dir=cache)
                seconds = report["seconds"]
            else:
                seconds = median_time(fn, workload.repeats)
            baseline = seconds if impl_name == "numpy" else baseline
            ratio = f"{baseline / seconds:8.2f}x" if baseline else ""
            print(f"{name + ' ' + workload.title:<44} {impl_name:<10} {_format_time(seconds)} {ratio}")
    if not selected or "W5" in selected:
        first_calls("W5 first call of W3")
    if not selected or "W6" in selected:
        first_calls("W6 first call")
    if not selected or "W7" in selected:
        compile_growth()


if __name__ == "__main__":
    run(sys.argv[1:])
