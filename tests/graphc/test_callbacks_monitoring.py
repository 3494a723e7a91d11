"""CSVLogger, ReduceLROnPlateau and TerminateOnNaN (Keras semantics), and gc.viz.plot_history: values
checked against the History and hand-worked schedules; bad arguments, killed processes, files that
cannot be written."""
import csv
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import InvalidArgumentError

rng = np.random.default_rng(3)
X = rng.normal(size=(64, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]


def regression(optimizer=None):
    gc.random.set_seed(0)
    model = gc.Sequential([gc.Input(shape=(3,)), L.Dense(4, activation="tanh"), L.Dense(1)])
    model.compile(optimizer=optimizer or gc.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def read_csv(path, delimiter=","):
    with open(path, newline="") as stream:
        return list(csv.reader(stream, delimiter=delimiter))


# -- CSVLogger ---------------------------------------------------------------------------------------
def test_csv_logger_rows_are_the_history(tmp_path):
    path = tmp_path / "log.csv"
    history = regression().fit(X, Y, batch_size=16, epochs=3, verbose=0, validation_data=(X[:16], Y[:16]),
                               callbacks=[gc.callbacks.CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for column, name in enumerate(rows[0][1:], start=1):
        assert [float(r[column]) for r in rows[1:]] == history.history[name]  # repr round-trips exactly


def test_csv_logger_without_validation_writes_na_columns_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    model = regression()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[gc.callbacks.CSVLogger(path, separator=";")])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[gc.callbacks.CSVLogger(path, separator=";", append=True)])
    rows = read_csv(path, ";")
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert len(rows) == 4 and all(r[3:] == ["NA", "NA"] for r in rows[1:])
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[gc.callbacks.CSVLogger(path)])  # append=False: a new file
    assert len(read_csv(path)) == 2


@pytest.mark.parametrize("separator", ["", ";;", None, 1])
def test_csv_logger_rejects_bad_separators(tmp_path, separator):
    with pytest.raises(InvalidArgumentError, match="separator"):
        gc.callbacks.CSVLogger(tmp_path / "x.csv", separator=separator)


def test_csv_logger_to_an_unwritable_path_fails_before_any_step(tmp_path):
    model = regression()
    before = model.get_weights()
    with pytest.raises(IsADirectoryError):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[gc.callbacks.CSVLogger(tmp_path)])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_csv_logger_rows_survive_a_killed_process(tmp_path):
    path = tmp_path / "log.csv"
    script = textwrap.dedent(f"""
        import os, numpy as np, graphc as gc
        x = np.ones((8, 2), np.float32); y = np.zeros((8, 1), np.float32)
        model = gc.Sequential([gc.Input(shape=(2,)), gc.layers.Dense(1)])
        model.compile("sgd", "mse")
        kill = gc.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 1 and os._exit(9))
        model.fit(x, y, epochs=5, verbose=0, callbacks=[gc.callbacks.CSVLogger({str(path)!r}), kill])
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    rows = read_csv(path)
    assert [r[0] for r in rows] == ["epoch", "0", "1"] and all(np.isfinite(float(r[1])) for r in rows[1:])


# -- ReduceLROnPlateau ---------------------------------------------------------------------------------
class _Model:
    def __init__(self, optimizer):
        self.optimizer, self.stop_training = optimizer, False


def run_plateau(values, optimizer=None, **kwargs):
    callback = gc.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
    callback.set_model(_Model(optimizer or gc.optimizers.SGD(0.1)))
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        callback.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    return rates


def test_reduce_lr_on_plateau_follows_patience_cooldown_and_min_lr():
    # worked by hand from Keras's rule: wait counts epochs without an improvement of min_delta; at
    # `patience` the rate is multiplied by `factor` (not below min_lr) and `cooldown` epochs pass
    # before counting resumes (the epoch that ends the cooldown counts again).
    values = [1.0, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    expected = [.1, .1, .1, .05, .05, .05, .05, .025, .025, .0125, .0125, .01, .01, .01]
    rates = run_plateau(values, factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    # improvements smaller than min_delta do not count
    rates = run_plateau([1.0, 0.99, 0.98, 0.97], factor=0.1, patience=2, min_delta=0.05)
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.01, 0.01], rtol=1e-6)
    callback = gc.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    callback.set_model(_Model(gc.optimizers.SGD(0.1)))
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate([0.5, 0.6, 0.55, 0.7, 0.7]):  # "accuracy": higher is better
        logs = {"val_accuracy": value}
        callback.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-6)


def test_reduce_lr_on_plateau_in_fit_assigns_without_retracing():
    model = regression(gc.optimizers.SGD(0.05))
    history = model.fit(X, Y, epochs=4, verbose=0, callbacks=[
        gc.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9),  # never improves
    ])
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125, 0.00625], rtol=1e-6)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.00625)
    assert model.train_function.trace_count == 1


@pytest.mark.parametrize("factor", [1.0, 1.5, -0.1])
def test_reduce_lr_on_plateau_rejects_factors_that_do_not_reduce(factor):
    with pytest.raises(InvalidArgumentError, match="factor"):
        gc.callbacks.ReduceLROnPlateau(factor=factor)


def test_reduce_lr_on_plateau_with_a_schedule_fails_before_training():
    schedule = gc.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = regression(gc.optimizers.SGD(schedule))
    before = model.get_weights()
    with pytest.raises(InvalidArgumentError, match="schedule"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[gc.callbacks.ReduceLROnPlateau()])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_reduce_lr_on_plateau_warns_about_a_missing_metric():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rates = run_plateau([], factor=0.5)
        callback = gc.callbacks.ReduceLROnPlateau(monitor="val_nope")
        callback.set_model(_Model(gc.optimizers.SGD(0.1)))
        callback.on_train_begin()
        callback.on_epoch_end(0, {"loss": 1.0})
    assert rates == [] and any("val_nope" in str(w.message) for w in caught)


# -- TerminateOnNaN ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_terminate_on_nan_stops_after_the_first_bad_batch(bad):
    x = X.copy()
    x[40] = bad  # batch 2 of 16-example batches
    model = regression()
    seen = []
    count = gc.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = model.fit(x, Y, batch_size=16, epochs=3, verbose=0, shuffle=False,
                        callbacks=[gc.callbacks.TerminateOnNaN(), count])
    assert seen == [0, 1, 2] and len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])


def test_terminate_on_nan_can_raise():
    x = X.copy()
    x[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="batch 0"):
        regression().fit(x, Y, batch_size=16, epochs=1, verbose=0, shuffle=False,
                         callbacks=[gc.callbacks.TerminateOnNaN(raise_error=True)])


# -- plot_history ------------------------------------------------------------------------------------------
def test_plot_history_draws_each_quantity_with_train_and_validation(tmp_path):
    history = regression().fit(X, Y, epochs=3, verbose=0, validation_data=(X[:16], Y[:16]))
    figure = gc.viz.plot_history(history, tmp_path / "h.png", title="run")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = {axes.get_title(): axes for axes in figure.axes}
    assert set(panels) == {"loss", "mae"}
    for name, axes in panels.items():
        train, validation = axes.lines
        assert list(train.get_xdata()) == [1, 2, 3]
        assert list(train.get_ydata()) == history.history[name]
        assert list(validation.get_ydata()) == history.history[f"val_{name}"]
        assert validation.get_linestyle() == "--"
    gc.viz.plot_history(history.history, tmp_path / "h.svg", metrics=["mae"])
    assert b"<svg" in (tmp_path / "h.svg").read_bytes()[:400]


@pytest.mark.parametrize("history, kwargs, match", [
    ({}, {}, "empty"),
    ({"loss": []}, {}, "empty"),
    ([1.0, 2.0], {}, "History"),
    ({"loss": ["a", "b"]}, {}, "non-numeric"),
    ({"loss": [1.0]}, {"metrics": ["accuracy"]}, "accuracy"),
    ({"loss": [1.0]}, {"to_file": "no_suffix"}, "suffix"),
])
def test_plot_history_rejects_bad_input(history, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        gc.viz.plot_history(history, **kwargs)


def test_plot_history_keeps_the_old_file_when_saving_fails(tmp_path):
    path = tmp_path / "h.xyz"
    path.write_bytes(b"old")
    with pytest.raises(ValueError):
        gc.viz.plot_history({"loss": [1.0, 0.5]}, path)  # matplotlib knows no .xyz format
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["h.xyz"]


def test_plot_history_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"graphc\[plot\]"):
        gc.viz.plot_history({"loss": [1.0]})
