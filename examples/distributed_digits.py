"""Handwritten digits trained data-parallel on Ray workers with gc.distribute.RayStrategy.

Two workers (Ray actors, one CPU each) hold a replica of the digits MLP; each step every replica
computes the gradients of its 32 examples of a global batch of 64, the gradients are averaged by an
all-reduce, and every replica applies the same update. First it checks that one epoch on 2
workers gives the weights of one process with batches of 64; then it trains on, evaluates on held-out
images, and predicts them again with gc.distribute.predict (batch inference on the workers).

    python examples/distributed_digits.py                # a local Ray instance (started here)
    RAY_ADDRESS=ray://head:10001 python examples/distributed_digits.py   # a Ray cluster
    python examples/distributed_digits.py --workers 4 --epochs 10
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as gc


def make_model():
    gc.random.set_seed(0)
    model = gc.Sequential([gc.Input(shape=(64,)), gc.layers.Dense(128, activation="relu"), gc.layers.Dense(10)])
    model.compile(optimizer=gc.optimizers.Adam(3e-3), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-replica-batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()

    import ray
    from sklearn.datasets import load_digits

    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"])
    else:
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    print(f"Ray: {'cluster ' + os.environ['RAY_ADDRESS'] if os.environ.get('RAY_ADDRESS') else 'a local instance'}, "
          f"{ray.cluster_resources().get('CPU', 0):g} CPUs")

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1440], order[1440:]
    global_batch = args.per_replica_batch * args.workers

    strategy = gc.distribute.RayStrategy(num_workers=args.workers)
    with strategy.scope():
        model = make_model()
    print(f"replicas in sync: {strategy.num_replicas_in_sync}; global batch {global_batch} = "
          f"{args.workers} x {args.per_replica_batch}")

    started = time.perf_counter()
    model.fit(x[train], y[train], batch_size=global_batch, epochs=1, shuffle=False, verbose=0)
    one_process = make_model()
    one_process.fit(x[train], y[train], batch_size=global_batch, epochs=1, shuffle=False, verbose=0)
    difference = max(float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
                     for a, b in zip(one_process.get_weights(), model.get_weights()))
    print(f"after one epoch, largest relative weight difference to one process: {difference:.1e}")
    print(f"same weights as one process with batches of {global_batch}: {difference <= 1e-5}")

    history = model.fit(x[train], y[train], batch_size=global_batch, epochs=args.epochs, initial_epoch=1, verbose=2)
    print(f"trained {args.epochs} epochs on {args.workers} workers in {time.perf_counter() - started:.1f} s; "
          f"final loss {history.history['loss'][-1]:.4f}")
    loss, accuracy = model.evaluate(x[test], y[test], verbose=0)
    print(f"held-out accuracy: {accuracy:.3f} ({len(test)} images)")

    strategy.shutdown()  # frees the CPUs its workers hold for the inference workers
    predictions = np.concatenate(list(gc.distribute.predict(model, x[test], batch_size=64, num_workers=args.workers)))
    agree = np.allclose(predictions, model.predict(x[test], verbose=0), rtol=1e-5, atol=1e-5)
    print(f"gc.distribute.predict agrees with model.predict: {agree}")


if __name__ == "__main__":
    main()
