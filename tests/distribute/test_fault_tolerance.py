"""A worker killed mid-epoch (its process, SIGKILL): Ray restarts it, fit restores every replica
from the strategy's last checkpoint, replays the batches since, and ends with exactly the weights
of an uninterrupted run; the checkpoint is a gc.train.Checkpoint on disk. A worker killed during
evaluate or predict costs nothing either."""
import os
import signal

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L


def _model():
    gc.random.set_seed(5)
    model = gc.Sequential([gc.Input(shape=(64,)), L.Dense(32, activation="relu"), L.Dense(10)])
    model.compile(optimizer=gc.optimizers.Adam(3e-3), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


class KillWorker(gc.callbacks.Callback):
    """Kills worker ``rank``'s process after step ``step`` of epoch ``epoch``."""

    def __init__(self, strategy, rank, epoch, step):
        super().__init__()
        self.strategy, self.rank, self.at, self.killed = strategy, rank, (epoch, step), []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, step, logs=None):
        if (self.epoch, step) == self.at and not self.killed:
            import ray

            pid = ray.get(self.strategy.workers[self.rank].pid.remote())
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)


class KillWorkerWhileInferring(gc.callbacks.Callback):
    """Kills worker ``rank``'s process after evaluate's or predict's batch ``step``."""

    def __init__(self, strategy, rank, step):
        super().__init__()
        self.strategy, self.rank, self.step, self.killed = strategy, rank, step, []

    def _maybe_kill(self, step):
        if step == self.step and not self.killed:
            import ray

            pid = ray.get(self.strategy.workers[self.rank].pid.remote())
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)

    def on_test_batch_end(self, step, logs=None):
        self._maybe_kill(step)

    def on_predict_batch_end(self, step, logs=None):
        self._maybe_kill(step)


@pytest.fixture(scope="module")
def restarting(make_strategy):
    return make_strategy(max_restarts=4)


@pytest.mark.parametrize("save_freq", ["epoch", 2])
def test_a_killed_worker_costs_nothing(restarting, digits, tmp_path, save_freq):
    x, y = digits
    x, y = x[:320], y[:320]
    strategy = restarting
    strategy.save_freq, strategy.checkpoint_dir = save_freq, str(tmp_path)
    with strategy.scope():
        uninterrupted, interrupted = _model(), _model()
    expected = uninterrupted.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0).history
    after_first_epoch = []
    keep = gc.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_first_epoch.append(interrupted.get_weights()))
    kill = KillWorker(strategy, rank=1, epoch=1, step=3)
    history = interrupted.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0, callbacks=[kill, keep]).history
    assert kill.killed and strategy.get([strategy.workers[1].pid.remote()])[0] != kill.killed[0]  # a new process
    for a, b in zip(uninterrupted.get_weights(), interrupted.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7)
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    # the strategy's checkpoint, read back with gc.train.Checkpoint: with save_freq="epoch" it is
    # the state at the start of the last epoch
    fresh = _model()
    gc.train.Checkpoint(model=fresh, optimizer=fresh.optimizer).read(str(tmp_path / "ckpt"))
    if save_freq == "epoch":
        for a, b in zip(after_first_epoch[0], fresh.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert int(fresh.optimizer.iterations.numpy()) == 5
    else:
        assert int(fresh.optimizer.iterations.numpy()) == 9  # taken after the fourth step of the second epoch


def test_a_worker_killed_during_evaluate_or_predict_costs_nothing(restarting, digits):
    """The replicas are restored from the driver's state; evaluate replays its batches so far, so its
    metrics count every example once."""
    x, y = digits
    x, y = x[:300], y[:300]
    strategy = restarting
    with strategy.scope():
        model = _model()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    expected = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    expected_outputs = model.predict(x, batch_size=32, verbose=0)
    for rank in (1, 0):
        kill = KillWorkerWhileInferring(strategy, rank=rank, step=3)
        got = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True, callbacks=[kill])
        assert kill.killed and got == pytest.approx(expected, rel=1e-6)
        kill = KillWorkerWhileInferring(strategy, rank=rank, step=2)
        np.testing.assert_array_equal(model.predict(x, batch_size=32, verbose=0, callbacks=[kill]), expected_outputs)
        assert kill.killed


def test_without_restarts_a_killed_worker_fails_fit(make_strategy, digits):
    x, y = digits
    strategy = make_strategy(max_restarts=0)
    with strategy.scope():
        model = _model()
    kill = KillWorker(strategy, rank=0, epoch=0, step=1)
    with pytest.raises(gc.distribute.WorkerLost, match="max_restarts=0"):
        model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0, callbacks=[kill])
    strategy.shutdown()
