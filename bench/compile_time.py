"""Prints, as JSON, the seconds the first call of a long elementwise chain takes in this (new) process
(trace, optimise, compile, run), after checking its result against NumPy.

    python bench/compile_time.py sin 1500      # 1,500 steps of sin(x) * c + d
    python bench/compile_time.py simple 20000  # 20,000 ops: x * c, then - d, alternately
"""
import json
import sys
import time

import numpy as np

import graphc as gc

C, D = np.float32(1.0001), np.float32(0.001)


def sin_chain(x, steps: int, lib):
    for _ in range(steps):
        x = lib.sin(x) * C + D
    return x


def simple_chain(x, ops: int, lib=None):
    for i in range(ops):
        x = x * C if i % 2 == 0 else x - D
    return x


CHAINS = {"sin": sin_chain, "simple": simple_chain}


def main(kind: str, n: int) -> None:
    chain = CHAINS[kind]
    x = np.linspace(-2, 2, 4096, dtype=np.float32)
    f = gc.function(lambda x: chain(x, n, gc))
    start = time.perf_counter()
    cpu = time.process_time()
    got = np.asarray(f(x))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    # graphc's sin is correctly rounded, NumPy's float32 sin is not: close, not equal
    np.testing.assert_allclose(got, chain(x, n, np), rtol=1e-4, atol=1e-5)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
