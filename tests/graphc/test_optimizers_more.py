"""AdamW, Adamax, Adadelta, Lion and Ftrl: several steps against Keras's rules written out in NumPy,
eagerly and inside a compiled step; names, configs and bad arguments; against Keras itself where
TensorFlow is installed."""
import os

import numpy as np
import pytest

import graphc as gc

rng = np.random.default_rng(0)
W0 = rng.normal(size=(3, 4)).astype(np.float32)
GRADS = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(4)]


def numpy_steps(name, kw):
    """Keras's update rules in float64."""
    w, lr = W0.astype(np.float64), kw.get("learning_rate", 0.001)
    state = {}
    for t, g in enumerate(GRADS, start=1):
        g = g.astype(np.float64)
        if name == "AdamW":
            w = w - w * 0.004 * lr
            m = state["m"] = state.get("m", 0) + (g - state.get("m", 0)) * 0.1
            v = state["v"] = state.get("v", 0) + (g * g - state.get("v", 0)) * 0.001
            w = w - m * lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) / (np.sqrt(v) + 1e-7)
        elif name == "Adamax":
            m = state["m"] = state.get("m", 0) + (g - state.get("m", 0)) * 0.1
            u = state["u"] = np.maximum(state.get("u", 0) * 0.999, np.abs(g))
            w = w - lr / (1 - 0.9 ** t) * m / (u + 1e-7)
        elif name == "Adadelta":
            a = state["a"] = 0.95 * state.get("a", 0) + 0.05 * g * g
            delta = -np.sqrt(state.get("d", 0) + 1e-7) / np.sqrt(a + 1e-7) * g
            state["d"] = 0.95 * state.get("d", 0) + 0.05 * delta * delta
            w = w + lr * delta
        elif name == "Lion":
            m = state.get("m", 0)
            w = w - lr * np.sign(0.9 * m + 0.1 * g)
            state["m"] = 0.99 * m + 0.01 * g
        else:  # Ftrl with L1, L2, shrinkage and beta
            l1, l2, shrink, beta = 0.01, 0.02, 0.01, 0.1
            acc, lin = state.get("acc", np.full(w.shape, 0.1)), state.get("lin", 0)
            new_acc = acc + g * g
            lin = lin + g + 2 * shrink * w - (new_acc ** 0.5 - acc ** 0.5) / lr * w
            quadratic = new_acc ** 0.5 / lr + 2 * (l2 + beta / (2 * lr))
            w = (np.clip(lin, -l1, l1) - lin) / quadratic
            state.update(acc=new_acc, lin=lin)
    return w


CASES = [
    ("AdamW", {}), ("Adamax", {}), ("Adadelta", {"learning_rate": 1.0}), ("Lion", {}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "beta": 0.1, "l2_shrinkage_regularization_strength": 0.01}),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_steps_follow_keras_rules(name, kw, compiled):
    variable = gc.Variable(W0)
    optimizer = getattr(gc.optimizers, name)(**kw)

    def step(g):
        optimizer.apply_gradients([(g, variable)])

    run = gc.function(step) if compiled else step
    for g in GRADS:
        run(g)
    np.testing.assert_allclose(variable.numpy(), numpy_steps(name, kw), rtol=2e-5, atol=2e-6)
    if compiled:
        assert run.trace_count == 1
    config = optimizer.get_config()
    assert type(optimizer).from_config(config).get_config() == config


@pytest.mark.parametrize("name,rate", [("adamw", 0.05), ("adamax", 0.05), ("adadelta", 20.0), ("lion", 0.05),
                                       ("ftrl", 0.5)])
def test_every_name_trains_a_model_with_fit(name, rate):
    data = np.random.default_rng(1)
    x = data.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = gc.Sequential([gc.layers.Dense(1)])
    optimizer = gc.optimizers.get(name)
    optimizer.learning_rate = rate  # Adadelta's first steps are tiny: it wants a large rate
    model.compile(optimizer=optimizer, loss="mse")
    losses = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]


BAD = [
    (lambda: gc.optimizers.Lion(beta_1=0.0), r"beta_1 must be in \(0, 1\], got 0.0"),
    (lambda: gc.optimizers.Ftrl(learning_rate_power=0.5), "learning_rate_power must be <= 0, got 0.5"),
    (lambda: gc.optimizers.Ftrl(l1_regularization_strength=-1.0), "l1_regularization_strength must be >= 0, got -1.0"),
    (lambda: gc.optimizers.get("adamz"), "cannot interpret 'adamz' as an optimizer"),
]


@pytest.mark.parametrize("make,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments(make, message):
    with pytest.raises(gc.errors.InvalidArgumentError, match=message):
        make()


tf = None
try:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
except ImportError:
    pass


@pytest.mark.skipif(tf is None, reason="TensorFlow is not installed (pip install -e '.[bench]')")
@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
def test_steps_match_keras_itself(name, kw):
    theirs, ours = tf.Variable(W0), gc.Variable(W0)
    keras_optimizer, optimizer = getattr(tf.keras.optimizers, name)(**kw), getattr(gc.optimizers, name)(**kw)
    for g in GRADS:
        keras_optimizer.apply_gradients([(tf.constant(g), theirs)])
        optimizer.apply_gradients([(g, ours)])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
