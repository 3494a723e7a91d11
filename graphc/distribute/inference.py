"""``gc.distribute.predict``: batch inference on Ray workers, results streamed in input order.

Each worker (a Ray actor) rebuilds the model from its config and weights (or unpickles the
function) and compiles its prediction once: a last, smaller batch is padded to the batch size and
the padding cut from its result, so every call has the same shapes and reuses the one trace.
"""
from __future__ import annotations

import os
from collections import deque

import numpy as np

from graphc.ir.arguments import arguments_of, as_int
from graphc.ir.errors import InvalidArgumentError

from .. import nest
from ..function import Function, function
from ..models.batching import Batches, positive_or_none
from ..models.model import Model
from .replicas import build_model, model_spec, restore_state, state_files
from .runtime import apply_settings, connect, driver_settings, user_error, wait_placed


class Predictor:
    """The actor body: a model (``kind == "model"``, built from its spec and state) or a function,
    compiled on first use."""

    def __init__(self, kind: str, payload, state, settings: dict):
        apply_settings(settings)  # the driver's backend and op determinism
        if kind == "model":
            model = build_model(payload)
            restore_state(model, None, state)
            self.function = function(lambda x: model(x, training=False), name="distributed_predict")
        else:
            self.function = function(payload, name="distributed_predict")

    def predict(self, batch, size: int):
        outputs = self.function(batch)
        return nest.map_structure(lambda t: np.asarray(t.numpy() if hasattr(t, "numpy") else t)[:size], outputs)

    def pid(self) -> int:
        return os.getpid()


def _padded(batch, size: int):
    """``batch`` with its last example repeated up to ``size`` examples."""
    def pad(leaf):
        leaf = np.asarray(leaf)
        return np.concatenate([leaf, np.repeat(leaf[-1:], size - len(leaf), axis=0)]) if len(leaf) < size else leaf

    return nest.map_structure(pad, batch)


def predict(model_or_function, data, batch_size=None, num_workers=2, cpus_per_worker=1, address=None,
            max_in_flight=None):
    """Yields the predictions of ``model_or_function`` (a ``gc.Model``, a ``gc.function`` or a Python
    function of one batch) for ``data`` (arrays, a structure of arrays, or a ``gc.data.Dataset`` of
    batches), batch by batch in input order, computed on ``num_workers`` Ray workers. Arrays are
    cut into batches of ``batch_size`` (32 by default). At most ``max_in_flight`` batches (default
    two per worker) are queued at once, so the data streams through. The workers stop when the
    iteration ends."""
    with arguments_of("gc.distribute.predict"):
        num_workers = as_int(num_workers, "num_workers", low=1)
        cpus_per_worker = as_int(cpus_per_worker, "cpus_per_worker", low=0)
        max_in_flight = positive_or_none(max_in_flight, "max_in_flight") or 2 * num_workers
        batches = Batches(data, None, None, batch_size, False)
        if isinstance(model_or_function, Model):
            if not model_or_function.built:
                raise InvalidArgumentError("model_or_function: build the model first (call it once, or start it with gc.Input)")
            kind, payload = "model", model_spec(model_or_function)
            state = state_files(model_or_function, None)
        elif isinstance(model_or_function, Function):
            kind, payload, state = "function", model_or_function.python_function, None
        elif callable(model_or_function):
            kind, payload, state = "function", model_or_function, None
        else:
            raise InvalidArgumentError(f"model_or_function must be a gc.Model or a function, got {type(model_or_function).__name__}")
    return _stream(kind, payload, state, batches, num_workers, cpus_per_worker, address, max_in_flight)


def _stream(kind, payload, state, batches, num_workers, cpus_per_worker, address, max_in_flight):
    ray = connect(address, num_workers * cpus_per_worker)
    actor = ray.remote(Predictor).options(num_cpus=cpus_per_worker)
    workers = [actor.remote(kind, payload, state, driver_settings()) for _ in range(num_workers)]
    for rank, ref in enumerate(wait_placed(ray, workers, cpus_per_worker)):
        _result(ray, rank, ref)
    queue: deque = deque()
    full = None
    try:
        for step, batch in enumerate(batches.epoch()):
            (x,) = batch
            size = len(nest.flatten(x)[0])
            full = full or size
            rank = step % num_workers
            queue.append((rank, workers[rank].predict.remote(_padded(x, full) if size < full else x, size)))
            if len(queue) >= max_in_flight:
                yield _result(ray, *queue.popleft())
        while queue:
            yield _result(ray, *queue.popleft())
    finally:
        for worker in workers:
            ray.kill(worker)


def _result(ray, rank: int, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        raise user_error(ray, error, rank) from None
