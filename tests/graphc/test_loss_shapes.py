"""Losses and metrics check the shapes of targets and predictions as Keras 3 (TensorFlow 2.16+) does: a
mismatch is a ShapeError naming the loss or metric, both shapes and the caller's line, never a silent
broadcast; the shapes Keras aligns (a trailing size-1 axis) give the same values as explicit shapes."""
import numpy as np
import pytest

import graphc as gc

HERE = __file__
rng = np.random.default_rng(3)


def floats(*shape):
    return rng.uniform(0.05, 0.95, size=shape).astype(np.float32)


def labels(*shape, classes=10):
    return rng.integers(0, classes, size=shape)


L, M = gc.losses, gc.metrics
# name, per-example function, object, y_true, y_pred
MISMATCHES = [
    ("categorical_crossentropy", L.categorical_crossentropy, L.CategoricalCrossentropy(), labels(4, 1), floats(4, 10)),
    ("categorical_crossentropy", L.categorical_crossentropy, L.CategoricalCrossentropy(), labels(4), floats(4, 10)),
    ("categorical_crossentropy", L.categorical_crossentropy, L.CategoricalCrossentropy(), floats(4, 9), floats(4, 10)),
    ("binary_crossentropy", L.binary_crossentropy, L.BinaryCrossentropy(), floats(4, 2), floats(4, 1)),
    ("binary_crossentropy", L.binary_crossentropy, L.BinaryCrossentropy(), floats(4), floats(4, 3)),
    ("binary_crossentropy", L.binary_crossentropy, L.BinaryCrossentropy(), floats(5, 3), floats(4, 3)),
    ("sparse_categorical_crossentropy", L.sparse_categorical_crossentropy, L.SparseCategoricalCrossentropy(),
     labels(4, 3), floats(4, 10)),
    ("sparse_categorical_crossentropy", L.sparse_categorical_crossentropy, L.SparseCategoricalCrossentropy(),
     labels(5), floats(4, 10)),
    ("sparse_categorical_crossentropy", L.sparse_categorical_crossentropy, L.SparseCategoricalCrossentropy(),
     labels(4), floats(10)),
    ("mean_squared_error", L.mean_squared_error, L.MeanSquaredError(), floats(4, 3), floats(4, 2)),
    ("mean_squared_error", L.mean_squared_error, L.MeanSquaredError(), floats(4), floats(5)),
    ("mean_absolute_error", L.mean_absolute_error, L.MeanAbsoluteError(), floats(4, 2), floats(4, 3, 3)),
    ("categorical_accuracy", M.categorical_accuracy, M.CategoricalAccuracy(), labels(4, 1), floats(4, 10)),
    ("sparse_categorical_accuracy", M.sparse_categorical_accuracy, M.SparseCategoricalAccuracy(),
     labels(4, 3), floats(4, 10)),
    ("accuracy", M.accuracy, M.Accuracy(), labels(4), labels(5)),
    ("binary_accuracy", M.binary_accuracy, M.BinaryAccuracy(), floats(4, 2), floats(4, 3)),
    ("mean_squared_error", L.mean_squared_error, M.MeanSquaredError(), floats(4, 3), floats(4, 2)),
    ("mean_absolute_error", L.mean_absolute_error, M.MeanAbsoluteError(), floats(4, 3), floats(4, 2)),
]
IDS = [f"{c[0]}-{c[3].shape}-{c[4].shape}-{type(c[2]).__name__}" for c in MISMATCHES]


def check(error, name, y_true, y_pred, line):
    message = str(error)
    assert message.startswith(f"{name}: y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}: ")
    assert error.location == f"{HERE}:{line}"


def line_of(marker: str) -> int:
    with open(HERE) as f:
        return next(i for i, text in enumerate(f, 1) if text.rstrip().endswith(marker))


@pytest.mark.parametrize("name, fn, obj, y_true, y_pred", MISMATCHES, ids=IDS)
def test_a_shape_mismatch_names_the_loss_both_shapes_and_the_line(name, fn, obj, y_true, y_pred):
    with pytest.raises(gc.errors.ShapeError) as info:
        fn(y_true, y_pred)  # the function call
    check(info.value, name, y_true, y_pred, line_of("# the function call"))
    with pytest.raises(gc.errors.ShapeError) as info:
        obj(y_true, y_pred)  # the object call
    check(info.value, name, y_true, y_pred, line_of("# the object call"))
    if isinstance(obj, gc.metrics.Metric):
        assert float(obj.result()) == 0.0  # nothing was counted


def batch_sizes_only(case) -> bool:
    """Whether the case's shapes differ in their batch sizes only (found when a graph runs, not traced)."""
    _, fn, _, y_true, y_pred = case
    n = min(len(y_true), len(y_pred))
    try:
        fn(y_true[:n], y_pred[:n])
    except gc.errors.ShapeError:
        return False
    return True


# with the batch size unknown, a mismatch beyond the batch axis is still found while tracing
TRACEABLE = [(c, i) for c, i in zip(MISMATCHES, IDS) if not batch_sizes_only(c)]


@pytest.mark.parametrize("name, fn, obj, y_true, y_pred", [c for c, _ in TRACEABLE], ids=[i for _, i in TRACEABLE])
def test_a_shape_mismatch_is_found_while_tracing_with_unknown_batch_size(name, fn, obj, y_true, y_pred):
    specs = [gc.TensorSpec([None, *a.shape[1:]], a.dtype) for a in (y_true, y_pred)]
    f = gc.function(fn, input_signature=specs)
    with pytest.raises(gc.errors.ShapeError) as info:
        f(y_true, y_pred)
    assert str(info.value).startswith(f"{name}: y_true of shape (None")


def test_fit_with_one_column_labels_against_a_categorical_loss_points_at_the_fit_call():
    model = gc.Sequential([gc.Input(shape=(3,)), gc.layers.Dense(10)])
    model.compile("sgd", "categorical_crossentropy")
    x, y = floats(8, 3), labels(8, 1)
    with pytest.raises(gc.errors.ShapeError) as info:
        model.fit(x, y, epochs=1, verbose=0)  # the fit call
    assert "categorical_crossentropy: y_true of shape (8, 1) and y_pred of shape (8, 10)" in str(info.value)
    assert "sparse_" in str(info.value)
    assert f"{HERE}:{line_of('# the fit call')}" in str(info.value)


# name, function, y_true, y_pred (shapes Keras aligns), y_true, y_pred (the same values, explicit shapes)
N = 5
t1, p1, lab, prob = floats(N), floats(N), labels(N), floats(N, 10)
ALIGNED = [
    ("mse [N] vs [N,1]", L.mean_squared_error, t1, p1[:, None], t1[:, None], p1[:, None]),
    ("mse [N,1] vs [N]", L.mean_squared_error, t1[:, None], p1, t1[:, None], p1[:, None]),
    ("mse [N,3,1] vs [N,3]", L.mean_squared_error, floats(N, 3, 1), None, None, None),
    ("mae [N] vs [N,1]", L.mean_absolute_error, t1, p1[:, None], t1[:, None], p1[:, None]),
    ("bce [N] vs [N,1]", L.binary_crossentropy, t1, p1[:, None], t1[:, None], p1[:, None]),
    ("bce [N,1] vs [N]", L.binary_crossentropy, t1[:, None], p1, t1[:, None], p1[:, None]),
    ("mse broadcast [N,1] vs [N,3]", L.mean_squared_error, t1[:, None], floats(N, 3), None, None),
    ("sparse [N,1]", L.sparse_categorical_crossentropy, lab[:, None], prob, lab, prob),
    ("sparse accuracy [N,1]", M.sparse_categorical_accuracy, lab[:, None], prob, lab, prob),
    ("accuracy [N] vs [N,1]", M.accuracy, lab, lab[:, None], lab[:, None], lab[:, None]),
    ("binary accuracy [N] vs [N,1]", M.binary_accuracy, t1.round(), p1[:, None], t1.round()[:, None], p1[:, None]),
]


def _fill_in(case):
    name, fn, y_true, y_pred, true_ref, pred_ref = case
    if name == "mse [N,3,1] vs [N,3]":
        y_pred = floats(N, 3)
        true_ref, pred_ref = y_true[..., 0], y_pred
    if name == "mse broadcast [N,1] vs [N,3]":
        true_ref, pred_ref = np.broadcast_to(y_true, y_pred.shape), y_pred
    return name, fn, y_true, y_pred, true_ref, pred_ref


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("case", ALIGNED, ids=[c[0] for c in ALIGNED])
def test_shapes_keras_aligns_give_the_values_of_explicit_shapes(case, compiled):
    name, fn, y_true, y_pred, true_ref, pred_ref = _fill_in(case)
    run = gc.function(fn) if compiled else fn
    got = run(y_true, y_pred).numpy()
    expected = fn(true_ref, pred_ref).numpy()
    assert got.shape == expected.shape and got.shape[0] == N
    np.testing.assert_allclose(got, expected, rtol=1e-6)
