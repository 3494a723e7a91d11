"""``Model.fit`` under a ``RayStrategy``: the driver cuts each global batch into one part per
replica, the replicas step together (gradients averaged by an all-reduce), and ``Model.fit``'s own
loop (progress bar, History, callbacks, validation) runs on the driver with the metrics of all
replicas combined.

Gradients are averaged weighted by each replica's share of the global batch, so the step is the
one a single process takes on the whole batch (TensorFlow's convention: losses divided by the
global batch size). BatchNorm's moving statistics and other float non-trainable variables are
averaged the same way every step (synchronised, as TensorFlow's MEAN aggregation), which keeps the
replicas bit-identical.

Fault tolerance: the strategy checkpoints the model (weights, optimizer state) and each replica's
metric states at each epoch's start (or every ``save_freq`` steps: the driver's model then takes
that state too) and keeps the global batches given since; with ``checkpoint_dir`` the model's
state is also written there as the ``gc.train.Checkpoint(model=..., optimizer=...)`` ``ckpt``. When a worker dies, Ray restarts it (``max_restarts``); every replica is restored from
that checkpoint and the kept batches are replayed, so training ends where it would have.
"""
from __future__ import annotations

import os

from graphc.ir.errors import InvalidArgumentError

from .replicas import restore_state, save_state, state_files
from .runtime import WorkerLost
from .values import split_batch


class ReplicaDivergence(AssertionError):
    """``check_sync``: the replicas' variables differ after a step."""


class ReplicatedSteps:
    """The steps of one ``model.fit`` on the replicas of ``strategy`` (``Model.fit`` runs the loop,
    the callbacks and the validation; this object runs each step and keeps the replicas, the
    checkpoint and the driver's model in step)."""

    def __init__(self, strategy, model, train):
        if train.dataset is None and train.batch_size < strategy.num_workers:
            raise InvalidArgumentError(f"fit: batch_size is the global batch, split among {strategy.num_workers} "
                                       f"replicas: it must be at least {strategy.num_workers}, got {train.batch_size}")
        strategy.start()
        strategy.sync_models()
        self.strategy, self.model, self.index = strategy, model, strategy.index_of(model)
        strategy.push(self.index)
        self.step_id = 0
        self.restarts = 0
        self.files = None          # the last checkpoint: the chief's state files ...
        self.metric_states = None  # ... each replica's metric states (None: reset) ...
        self.replay: list = []     # ... and the global batches given since

    def resilient(self, action, replayed: int | None = None):
        """``action()``, again after restoring the replicas when a worker died meanwhile; the batches
        kept since the checkpoint (the first ``replayed`` of them) are replayed first."""
        while True:
            try:
                return action()
            except WorkerLost:
                self.recover(len(self.replay) if replayed is None else replayed)

    def checkpoint(self, from_replicas: bool) -> None:
        strategy, model = self.strategy, self.model
        if from_replicas:  # the driver's model takes the state too (it is what gets written)
            snapshots = self.resilient(lambda: strategy.get(
                [w.snapshot.remote(self.index, r == 0) for r, w in enumerate(strategy.workers)]))
            self.files, self.metric_states = snapshots[0][0], [metrics for _, metrics in snapshots]
            restore_state(model, model.optimizer, self.files)
        else:
            self.files, self.metric_states = state_files(model, model.optimizer), None
        self.replay = []
        if strategy.checkpoint_dir is not None:
            os.makedirs(strategy.checkpoint_dir, exist_ok=True)
            save_state(model, model.optimizer, os.path.join(strategy.checkpoint_dir, "ckpt"))

    def begin_epoch(self) -> None:
        strategy = self.strategy
        self.resilient(lambda: strategy.get([w.reset_metrics.remote(self.index) for w in strategy.workers]))
        self.checkpoint(from_replicas=False)

    def step(self, step: int, batch) -> dict:
        """One global step (recovering from lost workers); the metrics of all replicas combined."""
        self.replay.append(batch)
        logs = self.resilient(lambda: self._step(batch), replayed=len(self.replay) - 1)
        if isinstance(self.strategy.save_freq, int) and (step + 1) % self.strategy.save_freq == 0:
            self.checkpoint(from_replicas=True)
        return logs

    def end_epoch(self) -> None:
        """The driver's model takes the chief replica's state (for validation and the callbacks)."""
        self.resilient(lambda: self.strategy.pull(self.index))

    def _step(self, batch) -> dict:
        strategy = self.strategy
        strategy.ensure_group()
        parts, sizes = split_batch(batch, strategy.num_workers)
        total = sum(sizes)
        self.step_id += 1
        key = ("fit", id(self), self.step_id)
        results = strategy.get(strategy.on_every_worker(
            lambda r, w: w.train_step.remote(self.index, parts[r], sizes[r] / total, key, strategy.check_sync)))
        if strategy.check_sync:
            digests = {digest for _, digest in results}
            if len(digests) != 1:
                raise ReplicaDivergence(f"the replicas' variables differ after step {self.step_id}")
        return results[0][0]

    def recover(self, replayed: int) -> None:
        """Restores every replica from the last checkpoint and replays the first ``replayed`` batches
        kept since."""
        self.restarts += 1
        self.strategy.revive(self.index, self.files, self.metric_states, self.restarts, "fit")
        for batch in self.replay[:replayed]:
            self._step(batch)
