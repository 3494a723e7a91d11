"""The Keras losses Huber, KLDivergence, Hinge, LogCosh, CosineSimilarity, Poisson and the metrics
Precision, Recall, AUC, TopKCategoricalAccuracy, RootMeanSquaredError, MeanIoU against NumPy formulas
(and scikit-learn for AUC), eagerly, compiled and in model.fit."""
import io
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import graphc as gc
from graphc.test_util import check_grads

pytestmark = pytest.mark.filterwarnings("error::graphc.compiler.BackendFallbackWarning")
rng = np.random.default_rng(11)
EPS = 1e-7
N = 8
y_reg, p_reg = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
dist_true = rng.dirichlet(np.ones(4), size=N)
dist_pred = rng.dirichlet(np.ones(4), size=N)
signs = rng.choice([-1.0, 1.0], size=(N, 3))
bits = rng.integers(0, 2, size=(N, 3)).astype(np.float64)
counts = rng.poisson(2.0, size=(N, 3)).astype(np.float64)
rates = rng.uniform(0.2, 4.0, size=(N, 3))
weights = rng.uniform(0.1, 2.0, size=N)


def np_huber(t, p, delta):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(-1)


def np_cosine(t, p):
    return -(t * p).sum(-1) / np.maximum(np.linalg.norm(t, axis=-1), 1e-6) / np.maximum(np.linalg.norm(p, axis=-1), 1e-6)


def np_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(-1)


def np_categorical_hinge(t, p):
    return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)


def np_msle(t, p):
    return ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)


one_hot3 = np.eye(3)[rng.integers(0, 3, size=N)]


# name, loss object, y_true, y_pred, per-example NumPy losses
LOSSES = [
    ("huber", gc.losses.Huber(), y_reg, p_reg, np_huber(y_reg, p_reg, 1.0)),
    ("huber_delta", gc.losses.Huber(delta=0.4), y_reg, p_reg, np_huber(y_reg, p_reg, 0.4)),
    ("kl_divergence", gc.losses.KLDivergence(), dist_true, dist_pred, np_kld(dist_true, dist_pred)),
    ("hinge_signs", gc.losses.Hinge(), signs, p_reg, np.maximum(1 - signs * p_reg, 0).mean(-1)),
    ("hinge_bits", gc.losses.Hinge(), bits, p_reg, np.maximum(1 - (2 * bits - 1) * p_reg, 0).mean(-1)),
    ("log_cosh", gc.losses.LogCosh(), y_reg, 5 * p_reg, np.log(np.cosh(5 * p_reg - y_reg)).mean(-1)),
    ("cosine_similarity", gc.losses.CosineSimilarity(), y_reg, p_reg, np_cosine(y_reg, p_reg)),
    ("cosine_similarity_axis0", gc.losses.CosineSimilarity(axis=0), y_reg.T, p_reg.T, np_cosine(y_reg, p_reg)),
    ("poisson", gc.losses.Poisson(), counts, rates, (rates - counts * np.log(rates + EPS)).mean(-1)),
    ("squared_hinge_signs", gc.losses.SquaredHinge(), signs, p_reg, (np.maximum(1 - signs * p_reg, 0) ** 2).mean(-1)),
    ("squared_hinge_bits", gc.losses.SquaredHinge(), bits, p_reg,
     (np.maximum(1 - (2 * bits - 1) * p_reg, 0) ** 2).mean(-1)),
    ("categorical_hinge", gc.losses.CategoricalHinge(), one_hot3, p_reg, np_categorical_hinge(one_hot3, p_reg)),
    ("mape", gc.losses.MeanAbsolutePercentageError(), y_reg, p_reg,
     100 * (np.abs(y_reg - p_reg) / np.maximum(np.abs(y_reg), EPS)).mean(-1)),
    ("mape_zero_targets", gc.losses.MeanAbsolutePercentageError(), np.zeros((N, 3)), p_reg,
     100 * (np.abs(p_reg) / EPS).mean(-1)),
    ("msle", gc.losses.MeanSquaredLogarithmicError(), rates, counts, np_msle(rates, counts)),
    ("msle_negative", gc.losses.MeanSquaredLogarithmicError(), y_reg, p_reg, np_msle(y_reg, p_reg)),
    ("by_name_mape", gc.losses.get("mape"), y_reg, p_reg,
     100 * (np.abs(y_reg - p_reg) / np.maximum(np.abs(y_reg), EPS)).mean(-1)),
    ("by_name_kld", gc.losses.get("kld"), dist_true, dist_pred, np_kld(dist_true, dist_pred)),
    ("by_name_logcosh", gc.losses.get("logcosh"), y_reg, p_reg, np.log(np.cosh(p_reg - y_reg)).mean(-1)),
    ("by_class_name", gc.losses.get("Huber"), y_reg, p_reg, np_huber(y_reg, p_reg, 1.0)),
]


@pytest.mark.parametrize("name,loss,y_true,y_pred,expected", LOSSES, ids=[c[0] for c in LOSSES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_match_numpy_eager_compiled_weighted_and_every_reduction(name, loss, y_true, y_pred, expected, dtype):
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    y_true, y_pred = y_true.astype(dtype), y_pred.astype(dtype)
    np.testing.assert_allclose(loss(y_true, y_pred).numpy(), expected.mean(), rtol=rtol, atol=1e-6)
    weighted = (expected * weights).mean()
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=weights).numpy(), weighted, rtol=rtol, atol=1e-6)
    for backend in ("llvm", "numpy"):
        with gc.config.set_backend(backend):
            compiled = gc.function(lambda t, p: loss(t, p, sample_weight=weights[:, None]))
            np.testing.assert_allclose(compiled(y_true, y_pred).numpy(), weighted, rtol=rtol, atol=1e-6)
    config = loss.get_config()
    for reduction, reduce in (("none", lambda e: e), ("sum", np.sum), ("sum_over_batch_size", np.mean)):
        again = type(loss).from_config(config | {"reduction": reduction})
        assert again.get_config() == config | {"reduction": reduction}
        np.testing.assert_allclose(again(y_true, y_pred).numpy(), reduce(expected), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("name,loss,y_true,y_pred,expected", LOSSES, ids=[c[0] for c in LOSSES])
def test_losses_match_keras(tf, name, loss, y_true, y_pred, expected):
    """Each loss per example (reduction "none") against Keras's loss of the same class and config."""
    config = {k: v for k, v in loss.get_config().items() if k not in ("name", "reduction")}
    keras_loss = getattr(tf.keras.losses, type(loss).__name__)(reduction=None, **config)
    t, p = y_true.astype(np.float32), y_pred.astype(np.float32)
    ours = type(loss)(reduction="none", **config)(t, p).numpy()
    np.testing.assert_allclose(ours, np.asarray(keras_loss(t, p)), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name,expected_class", [
    ("huber", gc.losses.Huber), ("kl_divergence", gc.losses.KLDivergence), ("kld", gc.losses.KLDivergence),
    ("kullback_leibler_divergence", gc.losses.KLDivergence), ("hinge", gc.losses.Hinge),
    ("log_cosh", gc.losses.LogCosh), ("logcosh", gc.losses.LogCosh),
    ("cosine_similarity", gc.losses.CosineSimilarity), ("poisson", gc.losses.Poisson),
    ("squared_hinge", gc.losses.SquaredHinge), ("categorical_hinge", gc.losses.CategoricalHinge),
    ("mape", gc.losses.MeanAbsolutePercentageError), ("mean_absolute_percentage_error", gc.losses.MeanAbsolutePercentageError),
    ("msle", gc.losses.MeanSquaredLogarithmicError), ("mean_squared_logarithmic_error", gc.losses.MeanSquaredLogarithmicError),
])
def test_loss_string_names(name, expected_class):
    assert type(gc.losses.get(name)) is expected_class


def test_keras_default_names_and_function_forms():
    assert [c().name for c in (gc.losses.Huber, gc.losses.KLDivergence, gc.losses.Hinge, gc.losses.LogCosh,
                               gc.losses.CosineSimilarity, gc.losses.Poisson)] == [
        "huber_loss", "kl_divergence", "hinge", "log_cosh", "cosine_similarity", "poisson"]
    assert gc.losses.kld is gc.losses.kl_divergence and gc.losses.logcosh is gc.losses.log_cosh
    np.testing.assert_allclose(gc.losses.huber(y_reg, p_reg, delta=2.0).numpy(), np_huber(y_reg, p_reg, 2.0))


def test_log_cosh_is_finite_and_exact_for_large_errors():
    x = np.array([1e4, -1e4, 800.0, -800.0, 1.0, -0.999, 0.0, -0.0, 1e-8, 1e-200])
    expected = np.abs(x) + np.log1p(np.exp(-2 * np.abs(x))) - np.log(2.0)
    expected[5:] = [np.log(np.cosh(0.999)), 0.0, 0.0, 0.5e-16, 0.0]  # log(cosh(x)) = x**2 / 2 - ... near 0
    per_error = gc.losses.log_cosh(np.zeros((10, 1)), x[:, None])
    np.testing.assert_allclose(per_error.numpy(), expected, rtol=1e-13, atol=0)
    grad = gc.grad(lambda p: gc.reduce_sum(gc.losses.log_cosh(np.zeros((10, 1)), p)))(gc.constant(x[:, None])).numpy()
    np.testing.assert_allclose(grad[:, 0], np.tanh(x), rtol=1e-13, atol=0)
    second = gc.grad(lambda p: gc.reduce_sum(gc.grad(lambda q: gc.reduce_sum(gc.losses.log_cosh(np.zeros((2, 1)), gc.expand_dims(q, -1))))(p)))
    np.testing.assert_allclose(second(gc.constant(np.array([0.0, 2.0]))).numpy(), 1 / np.cosh([0.0, 2.0]) ** 2, rtol=1e-13)
    assert np.isfinite(gc.losses.log_cosh(np.zeros((1, 2), np.float32), np.array([[1e30, -1e30]], np.float32)).numpy()).all()


def test_cosine_similarity_of_a_zero_vector_is_zero_and_of_parallel_vectors_minus_one():
    got = gc.losses.cosine_similarity(np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 4.0]])).numpy()
    np.testing.assert_allclose(got, [0.0, -1.0], atol=1e-12)


def test_label_smoothing_of_the_cross_entropies_follows_keras():
    one_hot = np.eye(4)[[0, 3, 1]]
    probabilities = rng.dirichlet(np.ones(4), size=3)
    smoothed = one_hot * (1 - 0.3) + 0.3 / 4
    np.testing.assert_allclose(gc.losses.CategoricalCrossentropy(label_smoothing=0.3)(one_hot, probabilities).numpy(),
                               -(smoothed * np.log(probabilities)).sum(-1).mean(), rtol=1e-10)
    targets, p = bits[:3], rng.uniform(0.1, 0.9, size=(3, 3))
    t = targets * (1 - 0.3) + 0.5 * 0.3
    np.testing.assert_allclose(gc.losses.BinaryCrossentropy(label_smoothing=0.3)(targets, p).numpy(),
                               -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(), rtol=1e-10)


GRADIENT_CASES = [
    ("huber", lambda t, p: gc.losses.huber(t, p, delta=0.7), y_reg, p_reg),
    ("kl_divergence", gc.losses.kl_divergence, rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0.1, 0.9, (4, 3))),
    ("hinge", gc.losses.hinge, rng.uniform(-3, 3, (4, 3)), rng.uniform(-3, 3, (4, 3))),
    ("log_cosh", gc.losses.log_cosh, y_reg, 3 * p_reg),
    ("cosine_similarity", gc.losses.cosine_similarity, y_reg, p_reg),
    ("poisson", gc.losses.poisson, counts[:4], rates[:4]),
    ("squared_hinge", gc.losses.squared_hinge, rng.uniform(-3, 3, (4, 3)), rng.uniform(-3, 3, (4, 3))),
    ("categorical_hinge", gc.losses.categorical_hinge, np.eye(3)[[0, 2, 1, 1]], rng.uniform(-2, 2, (4, 3))),
    ("mape", gc.losses.mean_absolute_percentage_error, rng.uniform(0.5, 2, (4, 3)), rng.uniform(3, 4, (4, 3))),
    ("msle", gc.losses.mean_squared_logarithmic_error, rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 2, (4, 3))),
]


@pytest.mark.parametrize("name,fn,y_true,y_pred", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_loss_gradients_match_finite_differences_to_second_order(name, fn, y_true, y_pred):
    if name == "huber":  # away from the kink at |error| == delta
        assert np.all(np.abs(np.abs(y_pred - y_true) - 0.7) > 1e-3)
    if name == "hinge":  # away from the kink at margin 1
        assert np.all(np.abs(1 - y_true * y_pred) > 1e-3)
    check_grads(lambda p: fn(y_true, p), [y_pred])
    check_grads(fn, [y_true, y_pred])


@pytest.mark.parametrize("make,message", [
    (lambda: gc.losses.Huber(delta=-1.0), "delta must be a number >= 0, got -1.0"),
    (lambda: gc.losses.huber(y_reg, p_reg, delta=-0.5), "delta must be a number >= 0"),
    (lambda: gc.losses.CosineSimilarity(axes=0), "unexpected arguments"),
    (lambda: gc.losses.Poisson(reduction="mean"), "reduction must be one of"),
    (lambda: gc.losses.get("huber2"), "unknown loss 'huber2'"),
])
def test_bad_loss_arguments_are_clear_errors(make, message):
    with pytest.raises((gc.errors.InvalidArgumentError, TypeError), match=message):
        make()


def test_loss_shape_mismatch_names_the_loss():
    with pytest.raises(gc.errors.ShapeError, match="poisson"):
        gc.losses.poisson(np.ones((4, 3)), np.ones((4, 2)))


# -- metrics -----------------------------------------------------------------------------------------
scores = rng.uniform(size=(40,))
truth = (rng.uniform(size=40) < scores).astype(np.float64)
metric_weights = rng.uniform(0.1, 2.0, size=40)
thresholds_grid = np.array([0.3, 0.5, 0.7])
hot = np.eye(6)[rng.integers(0, 6, size=12)]
class_scores = rng.normal(size=(12, 6))
class_weights = rng.uniform(0.1, 2.0, size=12)
iou_true, iou_pred = rng.integers(0, 4, size=30), rng.integers(0, 4, size=30)


def confusion(y, s, thresholds, w=None):
    w = np.ones_like(s) if w is None else w
    above = s[None, :] > np.asarray(thresholds)[:, None]
    positive = y[None, :] != 0
    return [((a & b) * w).sum(1) for a, b in ((positive, above), (~positive, above), (~positive, ~above), (positive, ~above))]


def np_precision(y, s, thresholds, w=None):
    tp, fp, _, _ = confusion(y, s, thresholds, w)
    return tp / (tp + fp)


def np_recall(y, s, thresholds, w=None):
    tp, _, _, fn = confusion(y, s, thresholds, w)
    return tp / (tp + fn)


def np_top_k(t, p, k):
    target = p[np.arange(len(p)), t.argmax(-1)]
    return ((p > target[:, None]).sum(-1) < k).astype(np.float64)


def np_mean_iou(t, p, classes, w=None):
    w = np.ones(len(t)) if w is None else w
    cm = np.zeros((classes, classes))
    np.add.at(cm, (t, p), w)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    present = union != 0
    return (tp[present] / union[present]).mean()


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


labels6 = hot.argmax(-1)
probs6 = np_softmax(class_scores)
bin_probs = 1 / (1 + np.exp(-3 * (scores - 0.5)))
bin_logits = 3 * (scores - 0.5)
dist_true, dist_pred = np_softmax(rng.normal(size=(12, 6))), probs6
class_counts = rng.poisson(2.0, size=(12, 6)).astype(np.float64)
hinge_true = (rng.uniform(size=(12, 6)) < 0.5).astype(np.float64)  # 0/1: mapped to -1/1 as Keras does


def weighted(values, w=None):
    return np.average(values, weights=w)


def np_bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def split(*arrays):
    """Two batches of unequal sizes."""
    return [tuple(a[:len(a) // 3] for a in arrays), tuple(a[len(a) // 3:] for a in arrays)]


# name, metric, batches of (y_true, y_pred[, sample_weight]), expected result
METRICS = [
    ("precision", gc.metrics.Precision(), split(truth, scores), np_precision(truth, scores, [0.5])[0]),
    ("precision_weighted", gc.metrics.Precision(), split(truth, scores, metric_weights),
     np_precision(truth, scores, [0.5], metric_weights)[0]),
    ("precision_thresholds", gc.metrics.Precision(thresholds=list(thresholds_grid)), split(truth, scores),
     np_precision(truth, scores, thresholds_grid)),
    ("precision_class_id", gc.metrics.Precision(class_id=2), split(hot, 1 / (1 + np.exp(-class_scores))),
     np_precision(hot[:, 2], 1 / (1 + np.exp(-class_scores[:, 2])), [0.5])[0]),
    ("recall", gc.metrics.Recall(), split(truth, scores), np_recall(truth, scores, [0.5])[0]),
    ("recall_weighted_column", gc.metrics.Recall(thresholds=0.6), split(truth[:, None], scores[:, None], metric_weights),
     np_recall(truth, scores, [0.6], metric_weights)[0]),
    ("top_k", gc.metrics.TopKCategoricalAccuracy(), split(hot, class_scores), np_top_k(hot, class_scores, 5).mean()),
    ("top_2_weighted", gc.metrics.TopKCategoricalAccuracy(k=2), split(hot, class_scores, class_weights),
     (np_top_k(hot, class_scores, 2) * class_weights).sum() / class_weights.sum()),
    ("rmse", gc.metrics.RootMeanSquaredError(), split(y_reg, p_reg), np.sqrt(((p_reg - y_reg) ** 2).mean())),
    ("rmse_weighted", gc.metrics.RootMeanSquaredError(), split(y_reg, p_reg, weights),
     np.sqrt((((p_reg - y_reg) ** 2).mean(-1) * weights).sum() / weights.sum())),
    ("mean_iou", gc.metrics.MeanIoU(num_classes=5), split(iou_true, iou_pred), np_mean_iou(iou_true, iou_pred, 5)),
    ("mean_iou_weighted", gc.metrics.MeanIoU(4), split(iou_true, iou_pred, metric_weights[:30]),
     np_mean_iou(iou_true, iou_pred, 4, metric_weights[:30])),
    ("mean_iou_dense", gc.metrics.MeanIoU(6, sparse_y_true=False, sparse_y_pred=False), split(hot, class_scores),
     np_mean_iou(hot.argmax(-1), class_scores.argmax(-1), 6)),
    ("mean_iou_ignore_class", gc.metrics.MeanIoU(4, ignore_class=0), split(iou_true, iou_pred),
     np_mean_iou(iou_true[iou_true != 0], iou_pred[iou_true != 0], 4)),
    # Keras's metrics of labels and scores, and its losses as metrics (the running mean of the loss)
    ("sparse_top_k", gc.metrics.SparseTopKCategoricalAccuracy(), split(labels6, class_scores),
     np_top_k(hot, class_scores, 5).mean()),
    ("sparse_top_2_weighted_column_labels", gc.metrics.SparseTopKCategoricalAccuracy(k=2),
     split(labels6[:, None], class_scores, class_weights), weighted(np_top_k(hot, class_scores, 2), class_weights)),
    ("binary_crossentropy", gc.metrics.BinaryCrossentropy(), split(truth[:, None], bin_probs[:, None], metric_weights),
     weighted(np_bce(truth, bin_probs), metric_weights)),
    ("binary_crossentropy_logits", gc.metrics.BinaryCrossentropy(from_logits=True),
     split(truth[:, None], bin_logits[:, None]),
     weighted(np.maximum(bin_logits, 0) - bin_logits * truth + np.log1p(np.exp(-np.abs(bin_logits))))),
    ("categorical_crossentropy", gc.metrics.CategoricalCrossentropy(), split(hot, probs6, class_weights),
     weighted(-np.log(np.clip(probs6, EPS, 1 - EPS))[hot == 1], class_weights)),
    ("sparse_categorical_crossentropy_logits", gc.metrics.SparseCategoricalCrossentropy(from_logits=True),
     split(labels6, class_scores), weighted(-np.log(probs6[np.arange(12), labels6]))),
    ("kl_divergence", gc.metrics.KLDivergence(), split(dist_true, dist_pred, class_weights),
     weighted((dist_true * np.log(dist_true / dist_pred)).sum(-1), class_weights)),
    ("poisson", gc.metrics.Poisson(), split(class_counts, probs6 * 6),
     weighted((probs6 * 6 - class_counts * np.log(probs6 * 6 + EPS)).mean(-1))),
    ("hinge", gc.metrics.Hinge(), split(hinge_true, class_scores),
     weighted(np.maximum(1 - (2 * hinge_true - 1) * class_scores, 0).mean(-1))),
    ("logcosh", gc.metrics.LogCoshError(), split(y_reg, p_reg, weights), weighted(np.log(np.cosh(p_reg - y_reg)).mean(-1), weights)),
    ("cosine_similarity", gc.metrics.CosineSimilarity(), split(y_reg, p_reg),
     weighted((y_reg * p_reg).sum(-1) / np.linalg.norm(y_reg, axis=-1) / np.linalg.norm(p_reg, axis=-1))),
    ("squared_hinge", gc.metrics.SquaredHinge(), split(hinge_true, class_scores),
     weighted((np.maximum(1 - (2 * hinge_true - 1) * class_scores, 0) ** 2).mean(-1))),
    ("categorical_hinge", gc.metrics.CategoricalHinge(), split(hot, class_scores, class_weights),
     weighted(np_categorical_hinge(hot, class_scores), class_weights)),
    ("mape", gc.metrics.MeanAbsolutePercentageError(), split(y_reg, p_reg, weights),
     weighted(100 * (np.abs(y_reg - p_reg) / np.abs(y_reg)).mean(-1), weights)),
    ("msle", gc.metrics.MeanSquaredLogarithmicError(), split(class_counts, probs6 * 6),
     weighted(np_msle(class_counts, probs6 * 6))),
    ("true_positives", gc.metrics.TruePositives(), split(truth, scores), confusion(truth, scores, [0.5])[0][0]),
    ("false_positives_weighted", gc.metrics.FalsePositives(), split(truth, scores, metric_weights),
     confusion(truth, scores, [0.5], metric_weights)[1][0]),
    ("true_negatives_thresholds", gc.metrics.TrueNegatives(thresholds=list(thresholds_grid)), split(truth, scores),
     confusion(truth, scores, thresholds_grid)[2]),
    ("false_negatives_column", gc.metrics.FalseNegatives(thresholds=0.7), split(truth[:, None], scores[:, None]),
     confusion(truth, scores, [0.7])[3][0]),
]


@pytest.mark.parametrize("name,metric,updates,expected", METRICS, ids=[c[0] for c in METRICS])
def test_metrics_match_numpy_eagerly_and_compiled(name, metric, updates, expected):
    for args in updates:
        metric.update_state(*args)
    np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-5)
    for backend in ("llvm", "numpy"):
        metric.reset_state()
        np.testing.assert_allclose(metric.result().numpy(), np.zeros_like(expected), atol=0)
        with gc.config.set_backend(backend):
            step = gc.function(lambda *args: metric.update_state(*args))
            for args in updates:
                step(*args)
            np.testing.assert_allclose(gc.function(metric.result)().numpy(), expected, rtol=1e-5)
    again = type(metric).from_config(metric.get_config())
    assert again.get_config() == metric.get_config()
    for args in updates:
        again.update_state(*args)
    np.testing.assert_allclose(again.result().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True], ids=["one-hot", "sparse"])
def test_top_k_counts_ties_at_the_boundary_as_in_the_top_k(sparse):
    predictions = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.8, 0.1, 0.2]])
    targets = np.array([2, 2]) if sparse else np.eye(4)[[2, 2]]
    top_k = gc.metrics.sparse_top_k_categorical_accuracy if sparse else gc.metrics.top_k_categorical_accuracy
    np.testing.assert_allclose(top_k(targets, predictions, k=1).numpy(), [1.0, 0.0])
    np.testing.assert_allclose(top_k(targets, predictions, k=3).numpy(), [1.0, 0.0])
    np.testing.assert_allclose(top_k(targets, predictions, k=4).numpy(), [1.0, 1.0])


NON_FINITE_SCORES = np.array([[np.nan, 0.5, 0.2], [0.1, np.nan, 0.3], [0.1, 0.2, np.inf], [-np.inf, 0.2, 0.3],
                              [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], np.float32)
NON_FINITE_LABELS = np.array([0, 0, 2, 1, 1, 5, -1])


@pytest.mark.parametrize("backend", [None, "llvm", "numpy"], ids=["eager", "llvm", "numpy"])
@pytest.mark.parametrize("sparse", [False, True], ids=["one-hot", "sparse"])
def test_top_k_is_false_for_non_finite_scores_and_labels_outside_the_classes(sparse, backend):
    """tf.math.in_top_k's rule: a row with a NaN or infinite score is no hit (a diverged model's NaN
    predictions must not count as accurate), nor is a label outside the classes; k=3 of 3 classes
    would count every other row."""
    labels = NON_FINITE_LABELS if sparse else np.eye(3)[NON_FINITE_LABELS[:5]]
    scores = NON_FINITE_SCORES[:len(labels)]
    top_k = gc.metrics.sparse_top_k_categorical_accuracy if sparse else gc.metrics.top_k_categorical_accuracy
    run = top_k if backend is None else gc.function(top_k, backend=backend)
    np.testing.assert_array_equal(run(labels, scores, k=3).numpy(), [0, 0, 0, 0, 1, 0, 0][:len(labels)])


def test_top_k_with_non_finite_scores_matches_keras(tf):
    keras = tf.keras.metrics.sparse_top_k_categorical_accuracy(NON_FINITE_LABELS, NON_FINITE_SCORES, k=3).numpy()
    ours = gc.metrics.sparse_top_k_categorical_accuracy(NON_FINITE_LABELS, NON_FINITE_SCORES, k=3).numpy()
    np.testing.assert_array_equal(ours, keras)


@pytest.mark.parametrize("cls", [gc.metrics.TopKCategoricalAccuracy, gc.metrics.SparseTopKCategoricalAccuracy])
@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_top_k_metrics_refuse_a_k_that_is_not_a_positive_integer(cls, k):
    with pytest.raises(gc.errors.InvalidArgumentError, match=f"top_k_categorical_accuracy: k must be an integer >= 1, got {k!r}"):
        cls(k=k)


def test_sparse_top_k_labels_must_fit_the_predictions():
    with pytest.raises(gc.errors.ShapeError, match="sparse_top_k_categorical_accuracy"):
        gc.metrics.sparse_top_k_categorical_accuracy(np.zeros((3, 2), np.int64), np.zeros((3, 5)))


def np_auc(y, s, num_thresholds, curve, summation="interpolation", w=None):
    """Keras's AUC from NumPy confusion counts at its thresholds."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    tp, fp, tn, fn = confusion(y, s, [-EPS] + inner + [1 + EPS], w)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp / (tp + fn))
        x, h = (np.nan_to_num(fp / (fp + tn)), recall) if curve == "ROC" else (recall, np.nan_to_num(tp / (tp + fp)))
    if curve == "PR" and summation == "interpolation":  # Davis and Goadrich, as Keras's interpolate_pr_auc
        with np.errstate(invalid="ignore", divide="ignore"):
            d_tp, p = tp[:-1] - tp[1:], tp + fp
            slope = np.nan_to_num(d_tp / np.maximum(p[:-1] - p[1:], 0), posinf=0.0)
            intercept = tp[1:] - slope * p[1:]
            ratio = np.where((p[:-1] > 0) & (p[1:] > 0), p[:-1] / np.where(p[1:] > 0, p[1:], 1), 1.0)
            return np.nansum(np.nan_to_num(slope * (d_tp + intercept * np.log(ratio)) / np.maximum(tp[1:] + fn[1:], 0),
                                           posinf=0.0))
    pick = {"interpolation": lambda a, b: (a + b) / 2, "minoring": np.minimum, "majoring": np.maximum}[summation]
    return np.sum((x[:-1] - x[1:]) * pick(h[:-1], h[1:]))


many_scores = rng.uniform(size=2000)
many_truth = (rng.uniform(size=2000) < 0.2 + 0.6 * many_scores).astype(np.float64)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_agrees_with_scikit_learn_and_with_keras_sums(curve):
    metric = gc.metrics.AUC(curve=curve)
    metric.update_state(many_truth[:700], many_scores[:700])
    gc.function(lambda t, p: metric.update_state(t, p))(many_truth[700:], many_scores[700:])
    reference = (roc_auc_score if curve == "ROC" else average_precision_score)(many_truth, many_scores)
    assert float(metric.result()) == pytest.approx(reference, abs=1e-2)
    np.testing.assert_allclose(float(metric.result()), np_auc(many_truth, many_scores, 200, curve), rtol=1e-5)
    weighted = gc.metrics.AUC(curve=curve, num_thresholds=1000)
    weighted.update_state(many_truth, many_scores, sample_weight=np.tile(metric_weights, 50))
    reference = (roc_auc_score if curve == "ROC" else average_precision_score)(
        many_truth, many_scores, sample_weight=np.tile(metric_weights, 50))
    assert float(weighted.result()) == pytest.approx(reference, abs=1e-2)


@pytest.mark.parametrize("summation", ["minoring", "majoring", "interpolation"])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_summation_methods_follow_keras(curve, summation):
    metric = gc.metrics.AUC(num_thresholds=50, curve=curve, summation_method=summation)
    metric.update_state(truth, scores)
    np.testing.assert_allclose(float(metric.result()), np_auc(truth, scores, 50, curve, summation), rtol=1e-5)


def test_auc_of_logits_and_of_perfect_and_reversed_scores():
    logits = np.log(many_scores / (1 - many_scores))
    from_logits = gc.metrics.AUC(from_logits=True)
    from_logits.update_state(many_truth, logits)
    plain = gc.metrics.AUC()
    plain.update_state(many_truth, many_scores)
    np.testing.assert_allclose(float(from_logits.result()), float(plain.result()), rtol=1e-5)
    perfect, reversed_ = gc.metrics.AUC(), gc.metrics.AUC()
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    reversed_.update_state([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert float(perfect.result()) == pytest.approx(1.0) and float(reversed_.result()) == pytest.approx(0.0)


@pytest.mark.parametrize("name,expected_class", [
    ("precision", gc.metrics.Precision), ("recall", gc.metrics.Recall), ("auc", gc.metrics.AUC),
    ("top_k_categorical_accuracy", gc.metrics.TopKCategoricalAccuracy),
    ("root_mean_squared_error", gc.metrics.RootMeanSquaredError), ("MeanIoU", None),
    ("sparse_top_k_categorical_accuracy", gc.metrics.SparseTopKCategoricalAccuracy),
    ("binary_crossentropy", gc.metrics.BinaryCrossentropy), ("categorical_crossentropy", gc.metrics.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", gc.metrics.SparseCategoricalCrossentropy),
    ("kl_divergence", gc.metrics.KLDivergence), ("poisson", gc.metrics.Poisson), ("hinge", gc.metrics.Hinge),
    ("logcosh", gc.metrics.LogCoshError), ("cosine_similarity", gc.metrics.CosineSimilarity),
    ("squared_hinge", gc.metrics.SquaredHinge), ("categorical_hinge", gc.metrics.CategoricalHinge),
    ("mape", gc.metrics.MeanAbsolutePercentageError), ("msle", gc.metrics.MeanSquaredLogarithmicError),
    ("mean_absolute_percentage_error", gc.metrics.MeanAbsolutePercentageError),
    ("mean_squared_logarithmic_error", gc.metrics.MeanSquaredLogarithmicError),
])
def test_metric_string_names(name, expected_class):
    if expected_class is None:  # MeanIoU needs num_classes: by name it is a clear error
        with pytest.raises(TypeError, match="num_classes"):
            gc.metrics.get(name)
        return
    metric = gc.metrics.get(name)
    assert type(metric) is expected_class and metric.name == name


def _fit(model, x, y, metrics, run_eagerly):
    model.compile(optimizer=gc.optimizers.Adam(0.05), loss="binary_crossentropy" if y.shape[-1] == 1 else "categorical_crossentropy",
                  metrics=metrics, run_eagerly=run_eagerly)
    with redirect_stdout(io.StringIO()):
        return model.fit(x, y, batch_size=16, epochs=4, verbose=0)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_string_metrics_in_compile_are_reported_by_fit(run_eagerly):
    gc.random.set_seed(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)
    model = gc.Sequential([gc.Input(shape=(4,)), gc.layers.Dense(1, activation="sigmoid")])
    history = _fit(model, x, y, ["precision", "recall", "auc", "root_mean_squared_error"], run_eagerly)
    assert set(history.history) == {"loss", "precision", "recall", "auc", "root_mean_squared_error"}
    assert history.history["auc"][-1] > 0.9
    predictions = model.predict(x, verbose=0)
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert evaluated["auc"] == pytest.approx(np_auc(y[:, 0], predictions[:, 0], 200, "ROC"), abs=1e-5)
    assert evaluated["precision"] == pytest.approx(np_precision(y[:, 0], predictions[:, 0], [0.5])[0], abs=1e-5)
    assert evaluated["root_mean_squared_error"] == pytest.approx(np.sqrt(((predictions - y) ** 2).mean()), abs=1e-5)

    labels = np.eye(8, dtype=np.float32)[rng.integers(0, 8, size=64)]
    model = gc.Sequential([gc.Input(shape=(4,)), gc.layers.Dense(8, activation="softmax")])
    history = _fit(model, x, labels, ["top_k_categorical_accuracy", gc.metrics.MeanIoU(8, sparse_y_true=False,
                                                                                          sparse_y_pred=False)], run_eagerly)
    assert set(history.history) == {"loss", "top_k_categorical_accuracy", "mean_io_u"}
    assert 0.0 < history.history["top_k_categorical_accuracy"][-1] <= 1.0


@pytest.mark.parametrize("make,message", [
    (lambda: gc.metrics.TopKCategoricalAccuracy(k=0), "k must be an integer >= 1, got 0"),
    (lambda: gc.metrics.TopKCategoricalAccuracy(k=2.5), "k must be an integer >= 1, got 2.5"),
    (lambda: gc.metrics.AUC(num_thresholds=1), "num_thresholds must be an integer > 1, got 1"),
    (lambda: gc.metrics.AUC(curve="XY"), r"curve must be one of \('ROC', 'PR'\), got 'XY'"),
    (lambda: gc.metrics.AUC(summation_method="trapezoid"), "summation_method must be one of"),
    (lambda: gc.metrics.AUC(thresholds=[0.5, 1.5]), r"thresholds must be values in \[0, 1\]"),
    (lambda: gc.metrics.Precision(thresholds=-0.1), r"thresholds must be values in \[0, 1\], got -0.1"),
    (lambda: gc.metrics.Recall(thresholds=[]), r"thresholds must be values in \[0, 1\], got \[\]"),
    (lambda: gc.metrics.Precision(top_k=0), "top_k must be an integer >= 1, got 0"),
    (lambda: gc.metrics.Recall(top_k=1.5), "top_k must be an integer >= 1, got 1.5"),
    (lambda: gc.metrics.AUC(multi_label=True, num_labels=0), "num_labels must be an integer >= 1, got 0"),
    (lambda: gc.metrics.AUC(label_weights=[1.0, -1.0]), "label_weights must be >= 0"),
    (lambda: gc.metrics.MeanIoU(num_classes=0), "num_classes must be an integer >= 1, got 0"),
])
def test_bad_metric_arguments_are_clear_errors(make, message):
    with pytest.raises(gc.errors.InvalidArgumentError, match=message):
        make()


def test_metric_shape_mismatch_names_the_metric():
    with pytest.raises(gc.errors.ShapeError, match="top_k_categorical_accuracy"):
        gc.metrics.TopKCategoricalAccuracy().update_state(np.eye(4), np.ones((4, 3)))
    with pytest.raises(gc.errors.ShapeError, match="precision"):
        gc.metrics.Precision().update_state(np.ones((4, 3)), np.ones((4, 2)))


KERAS_TWINS = ["sparse_top_k", "sparse_top_2_weighted_column_labels", "binary_crossentropy",
               "binary_crossentropy_logits", "categorical_crossentropy", "sparse_categorical_crossentropy_logits",
               "kl_divergence", "poisson", "hinge", "logcosh", "cosine_similarity", "squared_hinge",
               "categorical_hinge", "mape", "msle", "true_positives", "false_positives_weighted",
               "true_negatives_thresholds", "false_negatives_column"]


@pytest.mark.parametrize("name", KERAS_TWINS)
def test_the_newer_metrics_match_keras(tf, name):
    """The same updates given to Keras's metric of the same class and config."""
    _, metric, updates, _ = next(case for case in METRICS if case[0] == name)
    config = {k: v for k, v in metric.get_config().items() if k not in ("dtype", "name")}
    keras_metric = getattr(tf.keras.metrics, type(metric).__name__)(**config)
    ours = type(metric)(**config)
    for args in updates:
        ours.update_state(*args)
        keras_metric.update_state(*[np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f" else a for a in args])
    np.testing.assert_allclose(np.asarray(ours.result()), np.asarray(keras_metric.result()), rtol=1e-5)
