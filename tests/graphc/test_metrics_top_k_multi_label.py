"""Precision/Recall with top_k (and class_id, thresholds) and AUC with multi_label / label_weights,
against NumPy written from Keras's rules and scikit-learn; eager, compiled and in fit; bad shapes.
Against Keras itself where TensorFlow is installed."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import graphc as gc
from graphc.errors import ShapeError

rng = np.random.default_rng(4)
N, L = 300, 4
SCORES = rng.uniform(size=(N, L))
TRUTH = (rng.uniform(size=(N, L)) < 0.2 + 0.6 * SCORES).astype(np.float64)


def np_top_k_mask(scores, k):
    """Each row's k largest (ties: the lower index first, as tf.math.top_k)."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    mask = np.zeros(scores.shape, bool)
    np.put_along_axis(mask, order[:, :k], True, axis=-1)
    return mask


def np_precision_recall(truth, scores, k, class_id=None, threshold=None):
    predicted = np_top_k_mask(scores, k)
    if threshold is not None:
        predicted &= scores > threshold
    positive = truth != 0
    if class_id is not None:
        predicted, positive = predicted[:, class_id], positive[:, class_id]
    tp = (predicted & positive).sum()
    return tp / predicted.sum(), tp / positive.sum()


@pytest.mark.parametrize("k, class_id, threshold", [(1, None, None), (2, None, None), (2, 1, None),
                                                     (3, None, 0.4), (4, 3, None)])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_precision_and_recall_at_top_k(k, class_id, threshold, compiled):
    precision = gc.metrics.Precision(top_k=k, class_id=class_id, thresholds=threshold)
    recall = gc.metrics.Recall(top_k=k, class_id=class_id, thresholds=threshold)

    def update(t, p):
        precision.update_state(t, p)
        recall.update_state(t, p)

    run = gc.function(update) if compiled else update
    run(TRUTH[:100], SCORES[:100])
    run(TRUTH[100:], SCORES[100:])
    expected = np_precision_recall(TRUTH, SCORES, k, class_id, threshold)
    np.testing.assert_allclose([float(precision.result()), float(recall.result())], expected, rtol=1e-6)


def test_top_k_breaks_ties_by_position():
    precision = gc.metrics.Precision(top_k=1)
    precision.update_state([[0, 1, 0]], [[0.5, 0.5, 0.1]])  # the tie goes to index 0, a negative
    assert float(precision.result()) == 0.0
    precision.update_state([[1, 0, 0]], [[0.5, 0.5, 0.1]])
    assert float(precision.result()) == 0.5


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_multi_label_auc_is_the_mean_of_the_labels_aucs(compiled):
    metric = gc.metrics.AUC(num_thresholds=1000, multi_label=True)
    run = gc.function(metric.update_state) if compiled else metric.update_state
    run(TRUTH[:120], SCORES[:120])
    run(TRUTH[120:], SCORES[120:])
    assert metric.num_labels == L and metric.true_positives.shape == (1000, L)
    per_label = [roc_auc_score(TRUTH[:, j], SCORES[:, j]) for j in range(L)]
    assert float(metric.result()) == pytest.approx(np.mean(per_label), abs=2e-3)
    weighted = gc.metrics.AUC(num_thresholds=1000, multi_label=True, num_labels=L, label_weights=[1, 0, 3, 0])
    weighted.update_state(TRUTH, SCORES)
    assert float(weighted.result()) == pytest.approx((per_label[0] + 3 * per_label[2]) / 4, abs=2e-3)


def test_flattened_auc_weights_each_label():
    metric = gc.metrics.AUC(num_thresholds=1000, label_weights=[1, 2, 0, 1])
    metric.update_state(TRUTH, SCORES)
    weights = np.broadcast_to(np.array([1.0, 2, 0, 1]), TRUTH.shape).reshape(-1)
    reference = roc_auc_score(TRUTH.reshape(-1), SCORES.reshape(-1), sample_weight=weights)
    assert float(metric.result()) == pytest.approx(reference, abs=2e-3)


def test_multi_label_auc_in_fit():
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)
    model = gc.Sequential([gc.Input(shape=(3,)), gc.layers.Dense(2, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[gc.metrics.AUC(multi_label=True, name="auc")])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert 0.0 <= history.history["auc"][-1] <= 1.0
    predictions = model.predict(x, verbose=0)
    check = gc.metrics.AUC(multi_label=True)
    check.update_state(y, predictions)
    assert float(check.result()) == pytest.approx(
        np.mean([roc_auc_score(y[:, j], predictions[:, j]) for j in range(2)]), abs=1e-2)


@pytest.mark.parametrize("make, truth, scores", [
    (lambda: gc.metrics.AUC(multi_label=True, num_labels=3), TRUTH, SCORES),
    (lambda: gc.metrics.AUC(label_weights=[1.0, 2.0]), TRUTH, SCORES),
    (lambda: gc.metrics.AUC(multi_label=True, label_weights=[1.0] * 5), TRUTH, SCORES),
])
def test_label_counts_that_do_not_match_are_shape_errors(make, truth, scores):
    with pytest.raises(ShapeError, match="label"):
        make().update_state(truth, scores)


def test_multi_label_result_before_any_update_is_a_clear_error():
    with pytest.raises(gc.errors.InvalidArgumentError, match="no update yet"):
        gc.metrics.AUC(multi_label=True).result()


def test_config_round_trip():
    for metric in (gc.metrics.Precision(top_k=2, class_id=1), gc.metrics.Recall(top_k=3),
                   gc.metrics.AUC(multi_label=True, num_labels=4, label_weights=[1, 2, 3, 4])):
        config = metric.get_config()
        assert type(metric).from_config(config).get_config() == config


@pytest.mark.parametrize("name, kwargs", [("Precision", {"top_k": 2}), ("Recall", {"top_k": 2, "class_id": 1}),
                                          ("AUC", {"multi_label": True}),
                                          ("AUC", {"multi_label": True, "label_weights": [1, 0, 2, 1]}),
                                          ("AUC", {"curve": "PR", "multi_label": True})])
def test_matches_keras_itself(tf, name, kwargs):
    ours, theirs = getattr(gc.metrics, name)(**kwargs), getattr(tf.keras.metrics, name)(**kwargs)
    ours.update_state(TRUTH, SCORES)
    theirs.update_state(TRUTH, SCORES)
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5)
