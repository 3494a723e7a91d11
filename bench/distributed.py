"""Data-parallel training on Ray (``make bench-distributed``): steps per second of one process,
of a RayStrategy with 1 worker and with 2 workers, on the same global batch (strong scaling),
and the scaling efficiency of 2 workers over 1 (speed-up / 2).

The workload is the W3 MLP (784-512-512-10, float32, SGD) at a global batch of 256: big enough that a
step computes for a few milliseconds, so Ray's per-step messages (two rounds: the driver to the
workers, the workers through the all-reduce actor) are not all there is. Each figure is the median
of 3 timed epochs of 20 steps after a warm-up epoch (compiling). On a 2-core machine the 2 workers,
the driver and the all-reduce actor share the two cores, which bounds the speed-up well below 2.

    python bench/distributed.py [--batch 256] [--steps 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import graphc as gc


def make_model():
    gc.random.set_seed(0)
    model = gc.Sequential([gc.Input(shape=(784,)), gc.layers.Dense(512, activation="relu"),
                           gc.layers.Dense(512, activation="relu"), gc.layers.Dense(10)])
    model.compile(optimizer=gc.optimizers.SGD(0.01), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def steps_per_second(model, x, y, batch: int, steps: int) -> float:
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)  # warm-up: compiles
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        times.append(time.perf_counter() - start)
    return steps / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    import ray

    cpus = os.cpu_count() or 1
    ray.init(num_cpus=max(cpus, 2), include_dashboard=False, log_to_driver=False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch * args.steps, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.batch * args.steps)

    one_process = steps_per_second(make_model(), x, y, args.batch, args.steps)
    print(f"MLP 784-512-512-10, global batch {args.batch}, {args.steps} steps per epoch, {cpus} cores")
    print(f"  one process (no Ray)     {one_process:8.1f} steps/s")
    rates = {}
    for workers in (1, 2):
        strategy = gc.distribute.RayStrategy(num_workers=workers)
        with strategy.scope():
            model = make_model()
        rates[workers] = steps_per_second(model, x, y, args.batch, args.steps)
        strategy.shutdown()
        print(f"  RayStrategy, {workers} worker{'s' if workers > 1 else ' '}   {rates[workers]:8.1f} steps/s")
    speedup = rates[2] / rates[1]
    print(f"  2 workers over 1: speed-up {speedup:.2f}, scaling efficiency {speedup / 2:.0%}")
    if cpus <= 2:
        print(f"  note: this machine has {cpus} cores, shared by the 2 workers, the driver and the all-reduce "
              "actor (and anything else running): the speed-up is bounded well below 2 here")


if __name__ == "__main__":
    main()
