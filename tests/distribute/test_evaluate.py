"""``evaluate`` and ``predict`` of a model made in a strategy's scope run on its replicas: each
global batch split among them, the metrics over every replica's examples, the outputs in input
order; the same numbers as one process evaluating the same weights."""
import numpy as np
import pytest

import graphc as gc
from graphc import layers as L


def _model():
    gc.random.set_seed(4)
    model = gc.Sequential([gc.Input(shape=(64,)), L.Dense(32, activation="relu"), L.Dense(10)])
    model.compile(optimizer="adam", loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def models(strategy, digits):
    """A model trained on the replicas, and one process's model with the same weights."""
    x, y = digits
    with strategy.scope():
        distributed = _model()
    distributed.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0)
    single = _model()
    single.set_weights(distributed.get_weights())
    return distributed, single


@pytest.mark.parametrize("count, batch_size", [(300, 64), (257, 32), (65, 16), (1, 8)],
                         ids=["divides", "uneven", "last-batch-of-one", "one-example"])
def test_evaluate_on_the_replicas_matches_one_process(models, digits, count, batch_size):
    distributed, single = models
    x, y = digits
    x, y = x[-count:], y[-count:]
    expected = single.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    got = distributed.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), name
    assert distributed.test_function is None  # the driver compiled nothing: the replicas evaluated
    assert distributed.evaluate(x, y, batch_size=batch_size, verbose=0) == pytest.approx(
        [got["loss"], got["accuracy"]])  # a list in Keras's order, though the driver never built the metrics


@pytest.mark.parametrize("count, batch_size", [(300, 64), (65, 16), (1, 8)])
def test_predict_on_the_replicas_keeps_the_input_order(models, digits, count, batch_size):
    distributed, single = models
    x = digits[0][:count]
    got = distributed.predict(x, batch_size=batch_size, verbose=0)
    np.testing.assert_allclose(got, single.predict(x, batch_size=batch_size, verbose=0), rtol=1e-5, atol=1e-6)
    assert got.shape == (count, 10) and distributed.predict_function is None


def test_the_replicas_evaluate_the_weights_the_driver_holds(models, digits):
    """Weights set on the driver after training reach the replicas before they evaluate."""
    distributed, single = models
    x, y = digits[0][:128], digits[1][:128]
    saved = distributed.get_weights()
    try:
        zeroed = [np.zeros_like(w) for w in saved]
        distributed.set_weights(zeroed)
        np.testing.assert_array_equal(distributed.predict(x, batch_size=32, verbose=0), 0.0)
        assert distributed.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["loss"] == pytest.approx(np.log(10))
    finally:
        distributed.set_weights(saved)
