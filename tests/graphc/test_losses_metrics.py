"""gc.losses and gc.metrics against NumPy formulas, eagerly and compiled."""
import numpy as np
import pytest

import graphc as gc

rng = np.random.default_rng(7)
EPS = 1e-7

logits = rng.normal(size=(6, 4)).astype(np.float32)
labels = rng.integers(0, 4, size=6)
one_hot = np.eye(4, dtype=np.float32)[labels]
probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
binary_targets = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
binary_logits = rng.normal(size=(6, 3)).astype(np.float32)
regression_true, regression_pred = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
weights = rng.uniform(0.1, 2.0, size=6).astype(np.float32)


def log_softmax(z):
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


# name, loss object, y_true, y_pred, per-example NumPy losses
LOSSES = [
    ("mse", gc.losses.MeanSquaredError(), regression_true, regression_pred, ((regression_pred - regression_true) ** 2).mean(-1)),
    ("mae", gc.losses.MeanAbsoluteError(), regression_true, regression_pred, np.abs(regression_pred - regression_true).mean(-1)),
    ("sparse_logits", gc.losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits,
     -log_softmax(logits)[np.arange(6), labels]),
    ("sparse_probabilities_column_labels", gc.losses.SparseCategoricalCrossentropy(), labels[:, None], probabilities,
     -np.log(probabilities[np.arange(6), labels])),
    ("categorical_logits", gc.losses.CategoricalCrossentropy(from_logits=True), one_hot, logits,
     -(one_hot * log_softmax(logits)).sum(-1)),
    ("categorical_smoothed", gc.losses.CategoricalCrossentropy(label_smoothing=0.2), one_hot, probabilities,
     -((one_hot * 0.8 + 0.05) * np.log(probabilities)).sum(-1)),
    ("binary_probabilities", gc.losses.BinaryCrossentropy(), binary_targets, sigmoid(binary_logits),
     np_bce(binary_targets, sigmoid(binary_logits))),
    ("binary_logits_smoothed", gc.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), binary_targets,
     binary_logits, np_bce(binary_targets * 0.9 + 0.05, sigmoid(binary_logits))),
    ("by_name", gc.losses.get("sparse_categorical_crossentropy"), labels, probabilities,
     -np.log(probabilities[np.arange(6), labels])),
    ("function", gc.losses.get(lambda t, p: gc.reduce_sum(p - t, -1)), regression_true, regression_pred,
     (regression_pred - regression_true).sum(-1)),
]


@pytest.mark.parametrize("name,loss,y_true,y_pred,expected", LOSSES, ids=[c[0] for c in LOSSES])
def test_losses_match_numpy_with_every_reduction_and_sample_weights(name, loss, y_true, y_pred, expected):
    np.testing.assert_allclose(loss(y_true, y_pred).numpy(), expected.mean(), rtol=2e-5)
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=weights).numpy(), (expected * weights).mean(), rtol=2e-5)
    compiled = gc.function(lambda t, p: loss(t, p, sample_weight=weights))
    np.testing.assert_allclose(compiled(y_true, y_pred).numpy(), (expected * weights).mean(), rtol=2e-5)
    loss.reduction = "none"
    try:
        np.testing.assert_allclose(loss(y_true, y_pred).numpy(), expected, rtol=2e-5)
        loss.reduction = "sum"
        np.testing.assert_allclose(loss(y_true, y_pred).numpy(), expected.sum(), rtol=2e-5)
    finally:
        loss.reduction = "sum_over_batch_size"


def test_losses_are_differentiable_and_match_the_softmax_gradient():
    x = gc.constant(logits)
    grad = gc.grad(lambda z: gc.losses.sparse_categorical_crossentropy(labels, z, from_logits=True)[0])(x).numpy()
    expected = np.zeros_like(logits)
    expected[0] = probabilities[0] - one_hot[0]
    np.testing.assert_allclose(grad, expected, atol=1e-6)


# metric, batches of (y_true, y_pred[, sample_weight]), expected result
batches = [(labels[:3], logits[:3]), (labels[3:], logits[3:])]
hits = (logits.argmax(-1) == labels).astype(np.float64)
METRICS = [
    ("sparse_categorical_accuracy", gc.metrics.SparseCategoricalAccuracy(), batches, hits.mean()),
    ("categorical_accuracy", gc.metrics.CategoricalAccuracy(), [(one_hot[:4], logits[:4]), (one_hot[4:], logits[4:])], hits.mean()),
    ("binary_accuracy", gc.metrics.BinaryAccuracy(threshold=0.5), [(binary_targets, sigmoid(binary_logits))],
     ((sigmoid(binary_logits) > 0.5) == binary_targets).mean()),
    ("accuracy", gc.metrics.Accuracy(), [(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4]))], 0.75),
    ("weighted_accuracy", gc.metrics.SparseCategoricalAccuracy(), [(labels, logits, weights)], (hits * weights).sum() / weights.sum()),
    ("mean", gc.metrics.Mean(), [(np.array([1.0, 2.0]),), (np.array([6.0]),)], 3.0),
    ("weighted_mean", gc.metrics.Mean(), [(np.array([1.0, 3.0]), np.array([3.0, 1.0]))], 1.5),
    ("sum", gc.metrics.Sum(), [(np.array([1.0, 2.0]),), (np.array(4.0),)], 7.0),
    ("mse", gc.metrics.get("mse"), [(regression_true, regression_pred)], ((regression_pred - regression_true) ** 2).mean()),
]


@pytest.mark.parametrize("name,metric,updates,expected", METRICS, ids=[c[0] for c in METRICS])
def test_metrics_accumulate_reset_and_update_inside_compiled_functions(name, metric, updates, expected):
    for args in updates:
        metric.update_state(*args)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    step = gc.function(lambda *args: metric.update_state(*args))
    for args in updates:
        step(*args)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    metric.reset_state()


@pytest.mark.parametrize("y_true,y_pred,kind", [
    (labels, logits, gc.metrics.SparseCategoricalAccuracy),
    (labels[:, None], logits, gc.metrics.SparseCategoricalAccuracy),
    (one_hot, logits, gc.metrics.CategoricalAccuracy),
    (binary_targets[:, :1], binary_logits[:, :1], gc.metrics.BinaryAccuracy),
])
def test_accuracy_by_name_is_chosen_from_the_shapes(y_true, y_pred, kind):
    metric = gc.metrics.get("accuracy", gc.constant(y_true), gc.constant(y_pred))
    assert type(metric) is kind and metric.name == "accuracy"


def test_unknown_names_are_clear_errors():
    for getter, name in ((gc.losses.get, "hinge2"), (gc.metrics.get, "f7"), (gc.optimizers.get, "adamx")):
        with pytest.raises(gc.errors.InvalidArgumentError, match="adamx|hinge2|f7"):
            getter(name)
