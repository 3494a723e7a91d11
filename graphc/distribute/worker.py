"""One worker of a ``RayStrategy`` (a Ray actor): it holds a replica of every model made in the
strategy's scope and runs their training steps and ``strategy.run``'s functions.

A training step is two compiled functions around the all-reduce: the model's own ``train_step``
traced with the optimizer replaced by a recorder (so it computes the loss, the gradients and the
metric updates but applies nothing; a custom ``train_step`` works the same way), then, once every
replica's gradients are averaged, the real ``optimizer.apply_gradients``. Every replica applies the
same averaged bytes from the same state, so the replicas stay bit-identical.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle

import numpy as np

from graphc.ir import ops
from graphc.ir.errors import InvalidArgumentError

from .. import nest, optimizers
from .. import random as gc_random
from ..function import Function, function
from .context import ReplicaContext, get_replica_context, replica_scope
from .replicas import build_model, restore_state, state_files
from .runtime import apply_settings


class GradientRecorder:
    """Stands in for a replica's optimizer while its ``train_step`` is traced: ``apply_gradients``
    records the gradients (zeros for None) instead of applying them."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.pairs: list = []

    def apply_gradients(self, grads_and_vars, name=None):
        self.pairs = [(ops.zeros_like(v) if g is None else g, v) for g, v in grads_and_vars]

    minimize = optimizers.Optimizer.minimize  # its gradients go to this apply_gradients

    def __getattr__(self, name):
        return getattr(self.optimizer, name)


class AllReducingOptimizer:
    """A replica's optimizer inside ``strategy.run``: ``apply_gradients`` first sums the gradients
    across the replicas (as TensorFlow's optimizers do in a replica context), so losses are scaled
    by the global batch size; eagerly or inside ``gc.function`` (the sum is then a host call)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def apply_gradients(self, grads_and_vars, name=None):
        pairs = list(grads_and_vars)
        given = [i for i, (g, _) in enumerate(pairs) if g is not None]
        summed = dict(zip(given, get_replica_context().all_reduce("SUM", [pairs[i][0] for i in given])))
        return self.optimizer.apply_gradients([(summed.get(i), v) for i, (_, v) in enumerate(pairs)], name=name)

    minimize = optimizers.Optimizer.minimize

    def __getattr__(self, name):
        return getattr(self.optimizer, name)


class _ReplicaUnpickler(pickle.Unpickler):
    """Turns the driver's models and optimizers, referred to by ``strategy.run``'s function, into
    this worker's replicas of them."""

    def __init__(self, data, worker):
        import io

        super().__init__(io.BytesIO(data))
        self.worker = worker

    def persistent_load(self, pid):
        kind, index = pid[0], pid[1]
        if kind == "function":
            if index not in self.worker.functions:
                self.worker.functions[index] = Function(*_ReplicaUnpickler(pid[2], self.worker).load())
            return self.worker.functions[index]
        if kind == "model":
            return self.worker.models[index]
        if kind == "optimizer":
            return AllReducingOptimizer(self.worker.optimizers[index])
        return AllReducingOptimizer(self.worker.standalone_optimizer(index, pid[2]))


class Worker:
    """The actor body: ``rank`` among ``size`` replicas of the models in ``specs`` (restored from
    ``states``), all-reducing through ``group``."""

    def __init__(self, rank: int, size: int, specs: list, states: list, seed: int, group, settings: dict):
        self.rank, self.size, self.group = rank, size, group
        apply_settings(settings)  # the driver's choices
        gc_random.set_seed(seed + rank)  # per-replica random streams, reproducible from the seed
        self.models, self.optimizers, self.recorders = [], [], []
        self.steps: dict = {}
        self.standalone: dict = {}
        self.pending_metrics: dict = {}
        self.functions: dict = {}  # the gc.Functions strategy.run sent, by the driver's token
        self.exchanges: dict = {}  # per model: the exchanges its last step's compiled function made
        self.ensure_models(specs, states)

    def ensure_models(self, specs: list, states: list | None) -> None:
        """Builds the models of ``specs`` this worker lacks (made in the scope after it started, or
        lost when Ray restarted it), restored from ``states`` when given."""
        for index in range(len(self.models), len(specs)):
            model = build_model(specs[index])
            optimizer = model.optimizer
            if states is not None:
                restore_state(model, optimizer, states[index])
            self.models.append(model)
            self.optimizers.append(optimizer)
            self.recorders.append(GradientRecorder(optimizer) if optimizer is not None else None)

    # -- housekeeping ------------------------------------------------------------------------------
    def pid(self) -> int:
        return os.getpid()

    def set_group(self, group) -> None:
        self.group = group

    def configure(self, settings: dict) -> None:
        """Takes the driver's settings again (they changed since this worker started)."""
        apply_settings(settings)

    def standalone_optimizer(self, key, config):
        if key not in self.standalone:
            self.standalone[key] = optimizers.get(config)
        return self.standalone[key]

    def snapshot(self, index: int, with_state: bool):
        """The model's state files (when asked) and this replica's metric states."""
        model = self.models[index]
        files = state_files(model, self.optimizers[index]) if with_state else None
        return files, [np.asarray(v.numpy()) for v in _metric_variables(model)]

    def restore(self, index: int, files, metric_states) -> None:
        """Sets the model's state from ``files`` and its metrics' states from ``metric_states``. A
        replica that has not traced its step yet lacks the compiled metrics (they are made by the
        first step): their states are added to what the first step gives them."""
        model = self.models[index]
        restore_state(model, self.optimizers[index], files)
        model.reset_metrics()
        variables = _metric_variables(model)
        for variable, value in zip(variables, metric_states or []):
            variable.assign(value)
        self.pending_metrics[index] = (len(variables), list(metric_states or [])[len(variables):])

    def digest(self, index: int) -> str:
        """A hash of every variable of the model and its optimizer (replicas in sync agree on it)."""
        h = hashlib.sha256()
        for variable in self.models[index].variables + (self.optimizers[index].variables if self.optimizers[index] else []):
            h.update(np.ascontiguousarray(variable.numpy()).tobytes())
        return h.hexdigest()

    # -- training ------------------------------------------------------------------------------------
    def _step_functions(self, index: int):
        if index not in self.steps:
            model, recorder = self.models[index], self.recorders[index]
            eager = True if model.run_eagerly else None

            def gradients(data):
                logs = model.train_step(data)
                return logs, [g for g, _ in recorder.pairs]

            def apply(grads):
                recorder.optimizer.apply_gradients(zip(grads, [v for _, v in recorder.pairs]))

            self.steps[index] = (function(gradients, eager=eager, name="replica_gradients"),
                                 function(apply, eager=eager, name="replica_apply"))
        return self.steps[index]

    def train_step(self, index: int, shard, weight: float, key, check: bool):
        """One step on this replica's ``shard`` (None: no examples this step), its gradients weighted
        by ``weight`` (its share of the global batch) in the all-reduce. Returns the metrics of every
        replica combined (on the chief; None elsewhere) and, with ``check``, the state's digest."""
        model, recorder = self.models[index], self.recorders[index]
        model.optimizer = recorder
        gradients, apply = self._step_functions(index)
        if shard is not None:
            exchanges = []
            with self.exchanges_of_a_call(key, exchanges) as reducer:
                with replica_scope(ReplicaContext(self.rank, self.size, reducer, weight)):
                    _, grads = gradients(shard)
            self.exchanges[index] = exchanges
            grads = [np.asarray(g.numpy()) for g in grads]
        elif recorder.pairs:
            self._take_part_without_examples(key, self.exchanges.get(index, []))
            grads = [np.zeros(v.shape, v.dtype.numpy) for _, v in recorder.pairs]
        else:
            raise InvalidArgumentError("a replica got no examples before its first step: make the first global "
                                       "batch at least as large as the number of replicas")
        synced = [v for v in model.non_trainable_variables if v.dtype.is_floating]
        metric_vars = _metric_variables(model)
        start, pending = self.pending_metrics.pop(index, (0, []))
        for variable, value in zip(metric_vars[start:], pending):  # sums and counts: they add
            variable.assign(np.asarray(variable.numpy()) + value)
        # two flat vectors, in the values' own dtype: the gradients and synced variables, weighted by the
        # replica's share (in float64, by the all-reduce), and the metric states, summed
        shared = grads + [np.asarray(v.numpy()) for v in synced]
        metric_states = [np.asarray(v.numpy()) for v in metric_vars]
        leaves = [_flatten(shared), _flatten(metric_states)]
        total_shared, total_metrics = self.group_reduce(key, "SUM", leaves, [weight, 1.0])
        values, totals = _unflatten(total_shared, shared), _unflatten(total_metrics, metric_states)
        model.optimizer = recorder.optimizer
        apply(values[:len(grads)])
        for variable, value in zip(synced, values[len(grads):]):
            variable.assign(value)
        logs = self._global_metrics(model, metric_vars, totals) if self.rank == 0 else None
        return logs, (self.digest(index) if check else None)

    @contextlib.contextmanager
    def exchanges_of_a_call(self, scope, log: list | None = None):
        """The reducer of the exchanges one call makes (``strategy.run``'s function, a ``fit`` step's
        compiled function: SyncBatchNormalization's statistics and their gradients), keyed by
        ``scope`` and their order, and logged in ``log``. When the call ends the group learns that
        this replica joins no more exchanges in ``scope``: a replica waiting for it in one gets an
        error instead of waiting forever."""
        counter = itertools.count()

        def reducer(op, leaves, weights):
            if log is not None:
                log.append((op, [(leaf.shape, leaf.dtype) for leaf in leaves], weights is not None))
            return self.group_reduce(("exchange", scope, next(counter)), op, leaves, weights)

        try:
            yield reducer
        finally:
            self.group.finish.remote(scope, self.rank)

    def _take_part_without_examples(self, key, exchanges: list) -> None:
        """A replica without examples in this step still takes part in the exchanges the other
        replicas' compiled steps make (as logged at its last step), with zeros of weight 0: otherwise
        they would wait for it in vain."""
        with self.exchanges_of_a_call(key) as reducer:
            for op, specs, weighted in exchanges:
                zeros = [np.zeros(shape, dtype) for shape, dtype in specs]
                reducer(op, zeros, [0.0] * len(zeros) if weighted else None)

    def _global_metrics(self, model, metric_vars, totals) -> dict:
        """The metrics' results over every replica's examples: this replica's metric states swapped
        for the sums over the replicas (Keras's metrics keep sums and counts), then put back."""
        local = [np.asarray(v.numpy()) for v in metric_vars]
        for variable, total in zip(metric_vars, totals):
            variable.assign(total)
        try:
            return {k: float(np.asarray(v.numpy())) for k, v in model.get_metrics_result().items()}
        finally:
            for variable, value in zip(metric_vars, local):
                variable.assign(value)

    # -- evaluate and predict ----------------------------------------------------------------------------
    def test_step(self, index: int, shard, key):
        """The model's test step on this replica's ``shard`` (None: no examples this step); the
        metrics over every replica's examples so far (on the chief; None elsewhere)."""
        model = self.models[index]
        if shard is not None:
            model.make_test_function()(shard)
        # a replica without examples this step still adds what its earlier steps counted; one that has
        # not run a step yet may lack the metrics' variables (the first step makes them): nothing to add
        metric_vars = _metric_variables(model)
        states = [np.asarray(v.numpy()) for v in metric_vars]
        (total,) = self.group_reduce(key, "SUM", [_flatten(states)] if metric_vars else None)
        return self._global_metrics(model, metric_vars, _unflatten(total, states)) if self.rank == 0 else None

    def predict_step(self, index: int, shard):
        """The model's outputs for ``shard``, as NumPy arrays."""
        outputs = self.models[index].make_predict_function()(shard)
        return nest.map_structure(lambda t: np.asarray(t.numpy()), outputs)

    def reset_metrics(self, index: int) -> None:
        self.models[index].reset_metrics()

    def group_reduce(self, key, op: str, leaves: list | None, weights: list | None = None) -> list:
        import ray

        problem, result = ray.get(self.group.all_reduce.remote(key, self.rank, op, leaves, weights))
        if problem is not None:
            raise InvalidArgumentError(problem)
        return result

    # -- strategy.run --------------------------------------------------------------------------------
    def run(self, payload: bytes, call_id: int):
        """Calls the pickled ``(fn, args, kwargs)`` in this replica's context; tensors in the result
        come back as NumPy arrays."""
        fn, args, kwargs = _ReplicaUnpickler(payload, self).load()
        with self.exchanges_of_a_call(("run", call_id)) as reducer, \
                replica_scope(ReplicaContext(self.rank, self.size, reducer)):
            result = fn(*args, **kwargs)
        return nest.map_structure(lambda t: np.asarray(t.numpy()) if hasattr(t, "numpy") else t, result)


def _metric_variables(model) -> list:
    """The state variables of every metric of ``model``, in a fixed order (the replicas sum them)."""
    return [v for m in model.metrics for v in m.variables]


def _flatten(arrays: list[np.ndarray]) -> np.ndarray:
    """One vector of ``arrays`` (float32 when they all are, else float64)."""
    dtype = np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64
    return np.concatenate([a.astype(dtype).ravel() for a in arrays]) if arrays else np.zeros(0, dtype)


def _unflatten(flat: np.ndarray, like: list[np.ndarray]) -> list[np.ndarray]:
    out, start = [], 0
    for template in like:
        out.append(flat[start:start + template.size].reshape(template.shape).astype(template.dtype))
        start += template.size
    return out
