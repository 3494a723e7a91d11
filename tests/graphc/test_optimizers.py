"""gc.optimizers against hand-written NumPy updates, eagerly and compiled; slots made inside compiled
functions; learning rates that change without retracing; schedules; clipping."""
import math
import warnings

import numpy as np
import pytest

import graphc as gc

rng = np.random.default_rng(3)
W0 = rng.normal(size=(3, 2))
GRADS = [rng.normal(size=(3, 2)) for _ in range(4)]


# -- NumPy references: each takes the gradients in order and returns the weights after each step -----------
def np_sgd(lr=0.01, momentum=0.0, nesterov=False):
    w, m, out = W0.copy(), np.zeros_like(W0), []
    for g in GRADS:
        if momentum:
            m = momentum * m - lr * g
            w = w + (momentum * m - lr * g if nesterov else m)
        else:
            w = w - lr * g
        out.append(w)
    return out


def np_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    w, m, v, vhat, out = W0.copy(), 0 * W0, 0 * W0, 0 * W0, []
    for t, g in enumerate(GRADS, 1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
        out.append(w)
    return out


def np_rmsprop(lr=0.001, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w, rms, mg, vel, out = W0.copy(), 0 * W0, 0 * W0, 0 * W0, []
    for g in GRADS:
        rms = rho * rms + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        increment = lr * g / np.sqrt((rms - mg * mg if centered else rms) + eps)
        vel = momentum * vel + increment
        w = w - (vel if momentum else increment)
        out.append(w)
    return out


def np_adagrad(lr=0.001, initial=0.1, eps=1e-7):
    w, acc, out = W0.copy(), np.full_like(W0, initial), []
    for g in GRADS:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
        out.append(w)
    return out


def np_nadam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    w, m, v, product, out = W0.copy(), 0 * W0, 0 * W0, 1.0, []
    for t, g in enumerate(GRADS, 1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        w = w - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(w)
    return out


# name, optimizer factory, NumPy reference, slot names
OPTIMIZERS = [
    ("sgd", lambda: gc.optimizers.SGD(0.1), lambda: np_sgd(0.1), []),
    ("sgd_momentum", lambda: gc.optimizers.SGD(0.1, momentum=0.9), lambda: np_sgd(0.1, 0.9), ["momentum"]),
    ("sgd_nesterov", lambda: gc.optimizers.SGD(0.1, momentum=0.8, nesterov=True), lambda: np_sgd(0.1, 0.8, True), ["momentum"]),
    ("adam", lambda: gc.optimizers.Adam(0.05), lambda: np_adam(0.05), ["m", "v"]),
    ("adam_amsgrad", lambda: gc.optimizers.Adam(0.05, beta_1=0.8, amsgrad=True), lambda: np_adam(0.05, 0.8, amsgrad=True), ["m", "v", "vhat"]),
    ("rmsprop", lambda: gc.optimizers.RMSprop(0.01), lambda: np_rmsprop(0.01), ["rms"]),
    ("rmsprop_centered_momentum", lambda: gc.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
     lambda: np_rmsprop(0.01, momentum=0.5, centered=True), ["rms", "momentum", "mg"]),
    ("adagrad", lambda: gc.optimizers.Adagrad(0.1), lambda: np_adagrad(0.1), ["accumulator"]),
    ("nadam", lambda: gc.optimizers.Nadam(0.02), lambda: np_nadam(0.02), ["m", "v"]),
]


def run_steps(optimizer, dtype, compiled: bool):
    w = gc.Variable(W0.astype(dtype), name="w")
    step = gc.function(lambda g: optimizer.apply_gradients([(g, w)]))
    out = []
    with gc.config.run_functions_eagerly(not compiled):
        for g in GRADS:
            step(g.astype(dtype))
            out.append(w.numpy())
    return out, w, step


@pytest.mark.parametrize("name,make,reference,slot_names", OPTIMIZERS, ids=[c[0] for c in OPTIMIZERS])
def test_updates_match_numpy_in_float64_eagerly_and_compiled(name, make, reference, slot_names):
    expected = reference()
    for compiled in (False, True):
        optimizer = make()
        got, w, step = run_steps(optimizer, np.float64, compiled)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)  # the rate is a float32 variable
        assert int(optimizer.iterations.numpy()) == len(GRADS)
        assert sorted(n for v, n, _ in optimizer.slots()) == sorted(slot_names)
        if compiled:
            assert step.trace_count == 1  # slots were made while tracing, without a second trace


@pytest.mark.parametrize("name,make,reference,slot_names", OPTIMIZERS[:4], ids=[c[0] for c in OPTIMIZERS[:4]])
def test_float32_variables_are_updated_in_float32(name, make, reference, slot_names):
    got, w, _ = run_steps(make(), np.float32, True)
    assert w.dtype == gc.float32
    np.testing.assert_allclose(got[-1], reference()[-1], rtol=1e-5, atol=1e-6)


def test_the_learning_rate_changes_without_retracing():
    w = gc.Variable(np.zeros(2), name="w")
    optimizer = gc.optimizers.SGD(1.0)
    step = gc.function(lambda: optimizer.apply_gradients([(gc.ones(2, gc.float64), w)]))
    step()
    optimizer.learning_rate = 0.5
    step()
    optimizer.learning_rate.assign(0.25)
    step()
    np.testing.assert_allclose(w.numpy(), [-1.75, -1.75])
    assert step.trace_count == 1
    rate = gc.Variable(0.1, name="rate")
    shared = gc.optimizers.SGD(rate)
    assert shared.learning_rate is rate


def test_schedules_follow_the_iterations_inside_the_graph():
    schedule = gc.optimizers.schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5)
    w = gc.Variable(np.zeros(1), name="w")
    optimizer = gc.optimizers.SGD(schedule)
    step = gc.function(lambda: optimizer.apply_gradients([(gc.ones(1, gc.float64), w)]))
    for _ in range(3):
        step()
    np.testing.assert_allclose(w.numpy(), [-(1 + 0.5 ** 0.5 + 0.5)], rtol=1e-6)
    assert step.trace_count == 1


SCHEDULES = [
    (gc.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), lambda s: 0.1 * 0.5 ** (s / 10)),
    (gc.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), lambda s: 0.1 * 0.5 ** (s // 10)),
    (gc.optimizers.schedules.InverseTimeDecay(0.1, 5, 2.0), lambda s: 0.1 / (1 + 2.0 * s / 5)),
    (gc.optimizers.schedules.PiecewiseConstantDecay([5, 15], [1.0, 0.5, 0.1]),
     lambda s: 1.0 if s <= 5 else (0.5 if s <= 15 else 0.1)),
    (gc.optimizers.schedules.CosineDecay(1.0, 20, alpha=0.1),
     lambda s: 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 20) / 20)) + 0.1),
]


@pytest.mark.parametrize("schedule,formula", SCHEDULES, ids=[type(s[0]).__name__ for s in SCHEDULES])
def test_schedules_match_their_formulas(schedule, formula):
    for step in (0, 1, 5, 6, 10, 15, 16, 25):
        assert float(schedule(gc.constant(step, gc.int64))) == pytest.approx(formula(step), rel=1e-5)


GLOBAL_SCALE = 6.5 / math.sqrt(3 ** 2 + 4 ** 2 + 0.5 ** 2 + 12 ** 2)
# name, optimizer, expected gradient actually applied to [3, 4] and [0.5, 12] by plain SGD with rate 1
CLIPPING = [
    ("clipvalue", gc.optimizers.SGD(1.0, clipvalue=1.0), [[1.0, 1.0], [0.5, 1.0]]),
    ("clipnorm", gc.optimizers.SGD(1.0, clipnorm=2.5), [[1.5, 2.0], [0.5 * 2.5 / math.hypot(0.5, 12), 12 * 2.5 / math.hypot(0.5, 12)]]),
    ("global_clipnorm", gc.optimizers.SGD(1.0, global_clipnorm=6.5),
     [[3 * GLOBAL_SCALE, 4 * GLOBAL_SCALE], [0.5 * GLOBAL_SCALE, 12 * GLOBAL_SCALE]]),
]


@pytest.mark.parametrize("name,optimizer,applied", CLIPPING, ids=[c[0] for c in CLIPPING])
def test_gradient_clipping(name, optimizer, applied):
    a, b = gc.Variable(np.zeros(2), name="a"), gc.Variable(np.zeros(2), name="b")
    optimizer.apply_gradients([(np.array([3.0, 4.0]), a), (np.array([0.5, 12.0]), b)])
    np.testing.assert_allclose(-a.numpy(), applied[0], rtol=1e-6)
    np.testing.assert_allclose(-b.numpy(), applied[1], rtol=1e-6)


def test_weight_decay_shrinks_the_variable_before_the_update():
    w = gc.Variable(np.array([2.0]), name="w")
    gc.optimizers.SGD(0.1, weight_decay=0.5).apply_gradients([(np.array([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [2.0 - 2.0 * 0.5 * 0.1 - 0.1])


def test_minimize_with_a_callable_or_a_tape_and_none_gradients_are_skipped():
    w, unused = gc.Variable(np.array([3.0]), name="w"), gc.Variable(np.array([1.0]), name="unused")
    optimizer = gc.optimizers.SGD(0.25)
    optimizer.minimize(lambda: gc.reduce_sum(w * w), [w])
    np.testing.assert_allclose(w.numpy(), [1.5])
    with gc.GradientTape() as tape:
        loss = gc.reduce_sum(w * w)
    with pytest.warns(UserWarning, match="no gradients for variables"):
        optimizer.minimize(loss, [w, unused], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.75])
    np.testing.assert_allclose(unused.numpy(), [1.0])
    with pytest.raises(gc.errors.InvalidArgumentError, match="needs the tape"):
        optimizer.minimize(loss, [w])


def test_custom_training_loop_inside_a_compiled_function():
    model = gc.Sequential([gc.layers.Dense(1, kernel_initializer="zeros")])
    optimizer = gc.optimizers.Adam(0.1)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = x @ np.array([[2.0], [-1.0]], np.float32) + 0.5

    @gc.function
    def train_step(x, y):
        with gc.GradientTape() as tape:
            loss = gc.reduce_mean(gc.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [float(train_step(x, y)) for _ in range(200)]
    assert train_step.trace_count == 1 and losses[-1] < 1e-3 < losses[0]
    np.testing.assert_allclose(model.layers[0].kernel.numpy().ravel(), [2.0, -1.0], atol=0.02)


@pytest.mark.parametrize("name,make,reference,slot_names", OPTIMIZERS, ids=[c[0] for c in OPTIMIZERS])
def test_config_round_trip(name, make, reference, slot_names):
    optimizer = make()
    clone = type(optimizer).from_config(optimizer.get_config())
    assert clone.get_config() == optimizer.get_config()
    assert type(gc.optimizers.get(gc.optimizers.serialize(optimizer))) is type(optimizer)


def test_the_update_ops_are_in_the_optimizer_name_scope():
    variable, optimizer = gc.Variable(np.ones(3, np.float32)), gc.optimizers.Adam(name="my_adam")
    step = gc.function(lambda g: optimizer.apply_gradients([(g, variable)]))
    graph = step.get_concrete_function(np.ones(3, np.float32)).graph
    update = [n for n in graph.nodes if n.op in ("sqrt", "divide", "assign_variable")]
    assert update and {n.scope.split("/")[0] for n in update} == {"my_adam"}
