"""``ModelCheckpoint`` and ``BackupAndRestore``: file names formatted from the epoch and the logs,
saving only improvements, weights or whole models, every n batches; and a ``fit`` killed mid-epoch
(SIGKILL, in a subprocess) that, run again, resumes at the epoch and step of its last backup and ends
with the weights, bit for bit, of a run never interrupted."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.errors import InvalidArgumentError

rng = np.random.default_rng(5)
X = rng.normal(size=(32, 4)).astype(np.float32)
Y = (X[:, :1] * 3.0).astype(np.float32)


def model():
    m = gc.Sequential([gc.Input(shape=(4,)), gc.layers.Dense(3, activation="tanh"), gc.layers.Dense(1)])
    m.compile(gc.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return m


def test_filepath_formatting_every_epoch(tmp_path):
    m = model()
    pattern = str(tmp_path / "sub" / "m-{epoch:02d}-{val_loss:.3f}.graphc")
    history = m.fit(X, Y, batch_size=8, epochs=3, validation_split=0.25, verbose=0,
                    callbacks=[gc.callbacks.ModelCheckpoint(pattern)]).history
    expected = sorted(f"m-{e + 1:02d}-{v:.3f}.graphc" for e, v in enumerate(history["val_loss"]))
    assert sorted(os.listdir(tmp_path / "sub")) == expected
    last = gc.models.load_model(tmp_path / "sub" / expected[-1])
    np.testing.assert_array_equal(last.predict(X, verbose=0), m.predict(X, verbose=0))


@pytest.mark.parametrize("monitor,mode", [("val_loss", "auto"), ("val_mae", "min"), ("val_loss", "max")])
def test_save_best_only_saves_the_improvements(tmp_path, monitor, mode):
    m = model()
    saved = {}

    class Snapshot(gc.callbacks.Callback):  # the weights at each epoch's end, to compare with the files
        def on_epoch_end(self, epoch, logs=None):
            saved[epoch] = m.get_weights()

    callback = gc.callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.graphc"), monitor=monitor, mode=mode,
                                            save_best_only=True)
    values = m.fit(X, Y, batch_size=4, epochs=5, validation_split=0.25, verbose=0,
                   callbacks=[callback, Snapshot()]).history[monitor]
    better = (lambda a, b: a < b) if mode != "max" else (lambda a, b: a > b)
    improved, best = [], None
    for epoch, value in enumerate(values):
        if best is None or better(value, best):
            improved.append(epoch)
            best = value
    assert sorted(os.listdir(tmp_path)) == sorted(f"best-{e + 1}.graphc" for e in improved)
    assert callback.best == best
    for epoch in improved:
        loaded = gc.models.load_model(tmp_path / f"best-{epoch + 1}.graphc")
        for mine, theirs in zip(saved[epoch], loaded.get_weights(), strict=True):
            np.testing.assert_array_equal(theirs, mine)


def test_initial_value_threshold_and_a_missing_monitor(tmp_path):
    m = model()
    callback = gc.callbacks.ModelCheckpoint(str(tmp_path / "m.graphc"), save_best_only=True,
                                            initial_value_threshold=-1.0)  # no loss is below -1
    m.fit(X, Y, batch_size=8, epochs=2, validation_split=0.25, verbose=0, callbacks=[callback])
    assert os.listdir(tmp_path) == []
    with pytest.warns(UserWarning, match="only with val_loss available"):
        m.fit(X, Y, batch_size=8, epochs=1, verbose=0,
              callbacks=[gc.callbacks.ModelCheckpoint(str(tmp_path / "m.graphc"), save_best_only=True)])
    assert os.listdir(tmp_path) == []


def test_weights_only_every_n_batches(tmp_path):
    m = model()
    callback = gc.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}"), save_weights_only=True, save_freq=3)
    m.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])  # 4 batches an epoch
    indexes = sorted(name for name in os.listdir(tmp_path) if name.endswith(".index.json"))
    assert indexes == ["w-1-3.index.json", "w-2-2.index.json"]  # after batches 3 and 6 of 8
    fresh = model()
    fresh.load_weights(tmp_path / "w-2-2")
    assert fresh.get_weights()[0].shape == (4, 3)


@pytest.mark.parametrize("kwargs,message", [
    ({"filepath": "m.keras"}, r"file ending in '\.graphc'"),
    ({"filepath": "m.graphc", "save_weights_only": True}, "weights prefix"),
    ({"filepath": "m.graphc", "save_freq": "sometimes"}, "save_freq"),
    ({"filepath": "m.graphc", "save_freq": 0}, "save_freq"),
    ({"filepath": "m.graphc", "mode": "best"}, "mode"),
])
def test_model_checkpoint_bad_arguments(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gc.callbacks.ModelCheckpoint(**kwargs)


def test_a_field_the_logs_lack_is_named(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot format the filepath .*accuracy"):
        model().fit(X, Y, epochs=1, verbose=0,
                    callbacks=[gc.callbacks.ModelCheckpoint(str(tmp_path / "{accuracy}.graphc"))])


def test_backup_and_restore_bad_arguments(tmp_path):
    with pytest.raises(InvalidArgumentError, match="save_freq"):
        gc.callbacks.BackupAndRestore(tmp_path, save_freq=-2)
    with pytest.raises(InvalidArgumentError, match="empty path"):
        gc.callbacks.BackupAndRestore("")


class Interrupt(gc.callbacks.Callback):
    """Raises at one (epoch, batch): an interruption within the process."""

    def __init__(self, at):
        super().__init__()
        self.at, self.epoch, self.first = at, None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.first = self.first or (self.epoch, batch)

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def _run(backup_dir, at=None, save_freq="epoch"):
    gc.random.set_seed(11)
    m = model()
    stop = Interrupt(at)
    m.fit(X, Y, batch_size=8, epochs=3, verbose=0,
          callbacks=[gc.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq), stop])
    return m.get_weights(), stop.first


@pytest.mark.parametrize("save_freq,at,resume", [("epoch", (1, 2), (1, 0)), (3, (1, 2), (1, 2)), (5, (2, 2), (2, 2))])
def test_an_interrupted_fit_resumes_in_process(tmp_path, save_freq, at, resume):
    expected, first = _run(tmp_path / "clean", save_freq=save_freq)
    assert first == (0, 0) and not (tmp_path / "clean").exists()  # deleted when fit ends
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", at, save_freq)
    assert sorted(os.listdir(tmp_path / "b"))[1] == "backup.index.json"
    got, first = _run(tmp_path / "b", save_freq=save_freq)
    assert first == resume and not (tmp_path / "b").exists()
    for mine, theirs in zip(expected, got, strict=True):
        assert mine.tobytes() == theirs.tobytes()


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import graphc as gc

    backup_dir, out, kill_at = sys.argv[1], sys.argv[2], tuple(map(int, sys.argv[3:5]))
    gc.random.set_seed(7)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = (x[:, :2] * 2.0 - x[:, 2:4]).astype(np.float32)
    model = gc.Sequential([gc.Input(shape=(6,)), gc.layers.Dense(8, activation="relu"), gc.layers.Dropout(0.3),
                           gc.layers.Dense(2)])
    model.compile(gc.optimizers.Adam(gc.optimizers.schedules.ExponentialDecay(0.02, 4, 0.8)), "mse")

    class Killer(gc.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if not hasattr(self, "first"):
                self.first = (self.epoch, batch)
                print("first", *self.first, flush=True)

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    model.fit(x, y, batch_size=8, epochs=4, shuffle=True, verbose=0,
              callbacks=[gc.callbacks.BackupAndRestore(backup_dir, save_freq=3), Killer()])
    np.savez(out, *[v.numpy() for v in model.variables], gc.random.get_global_generator().state.numpy())
""")


def test_a_killed_fit_run_again_ends_as_an_uninterrupted_one(tmp_path):
    """5 batches an epoch, a backup every 3 batches; killed after step 3 of epoch 2 (batch 14 overall),
    the run again resumes after batch 12: at step 2 of epoch 2. The model has dropout and shuffles."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)

    def run(backup, out, kill=(-1, -1)):
        return subprocess.run([sys.executable, str(script), str(tmp_path / backup), str(tmp_path / out), *map(str, kill)],
                              capture_output=True, text=True, timeout=300)

    clean = run("clean", "clean.npz")
    assert clean.returncode == 0 and clean.stdout.split() == ["first", "0", "0"], clean.stderr
    killed = run("backup", "never.npz", kill=(2, 3))
    assert killed.returncode == -9 and not (tmp_path / "never.npz").exists(), killed.stderr
    assert "backup.index.json" in os.listdir(tmp_path / "backup")
    again = run("backup", "again.npz")
    assert again.returncode == 0 and again.stdout.split() == ["first", "2", "2"], again.stderr
    assert not (tmp_path / "backup").exists()
    expected, got = np.load(tmp_path / "clean.npz"), np.load(tmp_path / "again.npz")
    assert expected.files == got.files and len(got.files) == 5  # 4 model variables and the generator's state
    for name in expected.files:
        assert expected[name].tobytes() == got[name].tobytes(), name
