"""use_ema / ema_momentum / ema_overwrite_frequency and finalize_variable_values, as Keras 3: the
moving averages against the rule written out in NumPy (eager and compiled), fit's final copy, the
averages in checkpoints and configs, bad arguments; against Keras itself where TensorFlow is installed."""
import numpy as np
import pytest

import graphc as gc
from graphc.errors import InvalidArgumentError

rng = np.random.default_rng(2)
W0 = rng.normal(size=(2, 3)).astype(np.float32)
GRADS = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(5)]


def numpy_ema(lr, momentum, every):
    """SGD steps with Keras's average: taken after the update, momentum 0 on the first step; every
    ``every`` steps the variable is overwritten by its average."""
    w, average = W0.astype(np.float64), np.zeros(W0.shape)
    for step, g in enumerate(GRADS, start=1):
        w = w - lr * g
        m = 0.0 if step == 1 else momentum
        average = m * average + (1 - m) * w
        if every and step % every == 0:
            w = average.copy()
    return w, average


@pytest.mark.parametrize("every", [None, 2])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_averages_follow_keras_rule(every, compiled):
    variable = gc.Variable(W0)
    optimizer = gc.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=every)
    step = lambda g: optimizer.apply_gradients([(g, variable)])  # noqa: E731
    run = gc.function(step) if compiled else step
    for g in GRADS:
        run(g)
    w, average = numpy_ema(0.1, 0.8, every)
    np.testing.assert_allclose(variable.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optimizer.get_slot(variable, "average").numpy(), average, rtol=1e-5, atol=1e-6)
    optimizer.finalize_variable_values([variable])
    np.testing.assert_allclose(variable.numpy(), average, rtol=1e-5, atol=1e-6)


def test_fit_ends_with_the_averages_and_checkpoints_keep_them(tmp_path):
    x = rng.normal(size=(32, 2)).astype(np.float32)
    y = x @ np.array([[1.0], [-1.0]], np.float32)
    model = gc.Sequential([gc.Input(shape=(2,)), gc.layers.Dense(1)])
    model.compile(gc.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5), "mse")
    averages = []
    keep = gc.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: averages.append(
        [model.optimizer.get_slot(v, "average").numpy().copy() for v in model.trainable_variables]))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[keep])
    for variable, average in zip(model.trainable_variables, averages[-1]):
        np.testing.assert_array_equal(variable.numpy(), average)
    checkpoint = gc.train.Checkpoint(optimizer=model.optimizer, model=model)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    assert any("average" in name for name, _ in gc.train.list_variables(path))


def test_without_ema_nothing_changes_and_no_slot_is_made():
    variable = gc.Variable(W0)
    optimizer = gc.optimizers.SGD(0.1)
    optimizer.apply_gradients([(GRADS[0], variable)])
    before = variable.numpy().copy()
    optimizer.finalize_variable_values([variable])
    np.testing.assert_array_equal(variable.numpy(), before)
    assert [name for _, name, _ in optimizer.slots()] == []


def test_config_round_trips_the_ema_settings():
    optimizer = gc.optimizers.Adam(use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=10)
    config = optimizer.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (True, 0.95, 10)
    assert gc.optimizers.Adam.from_config(config).get_config() == config


@pytest.mark.parametrize("kwargs, match", [
    ({"ema_momentum": 1.5}, r"ema_momentum must be in \[0, 1\]"),
    ({"ema_momentum": -0.1}, r"ema_momentum must be in \[0, 1\]"),
    ({"ema_momentum": "high"}, "ema_momentum must be a number"),
    ({"ema_overwrite_frequency": 0}, "ema_overwrite_frequency must be a positive int"),
    ({"ema_overwrite_frequency": 2.5}, "ema_overwrite_frequency must be an int"),
])
def test_bad_ema_arguments(kwargs, match):
    with pytest.raises((InvalidArgumentError, TypeError), match=match):
        gc.optimizers.SGD(0.1, use_ema=True, **kwargs)


def test_matches_keras_itself(tf):
    theirs, ours = tf.Variable(W0), gc.Variable(W0)
    kw = dict(learning_rate=0.01, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=3)
    keras_optimizer, optimizer = tf.keras.optimizers.Adam(**kw), gc.optimizers.Adam(**kw)
    for g in GRADS:
        keras_optimizer.apply_gradients([(tf.constant(g), theirs)])
        optimizer.apply_gradients([(g, ours)])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    keras_optimizer.finalize_variable_values([theirs])
    optimizer.finalize_variable_values([ours])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
