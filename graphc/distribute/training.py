"""``Model.fit`` under a ``RayStrategy``: the driver cuts each global batch into one part per
replica, the replicas step together (gradients averaged by an all-reduce), and the progress bar,
History and callbacks run on the driver with the metrics of all replicas combined.

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

from .. import callbacks as callbacks_module
from .replicas import restore_state, save_state, state_files
from .runtime import WorkerLost
from .values import split_batch


class ReplicaDivergence(AssertionError):
    """``check_sync``: the replicas' variables differ after a step."""


class _Run:
    """One ``fit`` of ``model`` (model ``index`` of ``strategy``)."""

    def __init__(self, strategy, model, index: int):
        self.strategy, self.model, self.index = strategy, model, index
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

    def step(self, batch) -> dict:
        """One global step (recovering from lost workers); the combined metrics."""
        self.replay.append(batch)
        return self.resilient(lambda: self._step(batch), replayed=len(self.replay) - 1)

    def _step(self, batch) -> dict:
        strategy = self.strategy
        strategy.ensure_group()
        parts, sizes = split_batch(batch, strategy.num_workers)
        total = sum(sizes)
        self.step_id += 1
        key = ("fit", id(self), self.step_id)
        results = strategy.get([
            w.train_step.remote(self.index, parts[r], sizes[r] / total, key, strategy.check_sync)
            for r, w in enumerate(strategy.workers)
        ])
        if strategy.check_sync:
            digests = {digest for _, digest in results}
            if len(digests) != 1:
                raise ReplicaDivergence(f"the replicas' variables differ after step {self.step_id}")
        return results[0][0]

    def recover(self, replayed: int) -> None:
        """Restores every replica from the last checkpoint and replays the first ``replayed`` batches
        kept since."""
        strategy = self.strategy
        self.restarts += 1
        if 0 <= strategy.max_restarts < self.restarts:
            raise WorkerLost(f"a worker died {self.restarts} times in one fit; max_restarts={strategy.max_restarts}")
        strategy.new_group()
        strategy.get([w.ensure_models.remote(strategy.specs, None) for w in strategy.workers])
        strategy.get([w.restore.remote(self.index, self.files, self.metric_states[r] if self.metric_states else None)
                      for r, w in enumerate(strategy.workers)])
        for batch in self.replay[:replayed]:
            self._step(batch)


def fit(strategy, model, train, validation, epochs: int, initial_epoch: int, verbose: int, callbacks,
        validation_freq: int):
    """``model.fit`` on the strategy's replicas, with its arguments checked (``train`` and
    ``validation`` are ``graphc.models.batching.Batches``); see the module docstring."""
    if train.dataset is None and train.batch_size < strategy.num_workers:
        raise InvalidArgumentError(f"fit: batch_size is the global batch, split among {strategy.num_workers} replicas: "
                                   f"it must be at least {strategy.num_workers}, got {train.batch_size}")
    strategy.start()
    strategy.sync_models()
    index = strategy.index_of(model)
    strategy.push(index)
    run = _Run(strategy, model, index)
    model.history = callbacks_module.History()
    extra = [callbacks_module.ProgbarLogger()] if verbose else []
    cbs = callbacks_module.CallbackList([*extra, *(callbacks or []), model.history], model,
                                        {"epochs": epochs, "steps": train.steps, "verbose": verbose})
    model.stop_training = False
    cbs.on_train_begin({})
    logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        run.resilient(lambda: strategy.get([w.reset_metrics.remote(index) for w in strategy.workers]))
        run.checkpoint(from_replicas=False)
        cbs.on_epoch_begin(epoch, {})
        for step, batch in enumerate(train.epoch()):
            cbs.on_train_batch_begin(step, {})
            logs = run.step(batch)
            cbs.on_train_batch_end(step, logs)
            if isinstance(strategy.save_freq, int) and (step + 1) % strategy.save_freq == 0:
                run.checkpoint(from_replicas=True)
            if model.stop_training:
                break
        run.resilient(lambda: strategy.pull(index))
        epoch_logs = dict(logs)
        if validation is not None and (epoch + 1) % validation_freq == 0:
            val_logs = model._run_test(validation, None)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history
