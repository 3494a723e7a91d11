"""``Model.evaluate`` and ``Model.predict`` (and ``fit``'s validation) of a model made in a
``RayStrategy``'s scope, on its replicas: each global batch is cut into one part per replica and
each replica runs the model's compiled test or predict step on its part. ``evaluate``'s logs are
the metrics over every replica's examples (the replicas' metric states summed by the all-reduce,
the result computed on the chief, as in ``fit``); ``predict`` returns the parts' outputs in input
order. The replicas first take the driver's weights, so they evaluate the model the user holds."""
from __future__ import annotations

import itertools

import numpy as np

from .. import nest
from .runtime import WorkerLost
from .values import split_batch


class ReplicatedInference:
    """The test and predict steps of one ``evaluate`` or ``predict`` of ``model`` on ``strategy``'s
    replicas (the interface of ``graphc.models.model.LocalInference``). A worker lost meanwhile is
    restarted by Ray; the replicas are restored and an evaluation replays its batches so far."""

    def __init__(self, strategy, model):
        strategy.start()
        strategy.sync_models()
        self.strategy, self.index = strategy, strategy.index_of(model)
        self.files = strategy.push(self.index)  # the replicas evaluate the weights the driver holds
        self.keys = itertools.count()
        self.tested: list = []  # this evaluation's batches so far
        self.restarts = 0

    def begin_test(self) -> None:
        self._resilient(lambda: self.strategy.get([w.reset_metrics.remote(self.index) for w in self.strategy.workers]))

    def test(self, batch) -> dict:
        logs = self._resilient(lambda: self._test(batch))
        self.tested.append(batch)
        return logs

    def predict(self, batch):
        strategy = self.strategy
        parts, _ = split_batch(batch, strategy.num_workers)
        outputs = self._resilient(lambda: strategy.get(self._predict_parts(parts)))
        leaves = [nest.flatten(output) for output in outputs]
        return nest.pack_as(outputs[0], [np.concatenate(pieces) for pieces in zip(*leaves)])

    def _predict_parts(self, parts) -> list:
        """The refs of the replicas' predictions of their ``parts`` (a replica without examples gets no call)."""
        refs = self.strategy.on_every_worker(
            lambda r, w: None if parts[r] is None else w.predict_step.remote(self.index, parts[r]))
        return [ref for ref in refs if ref is not None]

    def _test(self, batch) -> dict:
        strategy = self.strategy
        strategy.ensure_group()
        parts, _ = split_batch(batch, strategy.num_workers)
        key = ("evaluate", id(self), next(self.keys))
        return strategy.get(strategy.on_every_worker(lambda r, w: w.test_step.remote(self.index, parts[r], key)))[0]

    def _resilient(self, action):
        while True:
            try:
                return action()
            except WorkerLost:
                self.restarts += 1
                self.strategy.revive(self.index, self.files, None, self.restarts, "evaluate or predict")
                for batch in self.tested:  # the metrics count them again (the restored replicas start from zero)
                    self._test(batch)
