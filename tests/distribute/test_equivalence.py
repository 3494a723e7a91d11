"""Two workers with 32 examples each per step train exactly as one process with batches of 64: the
gradients are averaged weighted by each replica's share of the global batch (TensorFlow divides the
loss by the global batch size), so after an epoch the weights agree to float32 rounding.

The difference of two weight tensors is measured relative to the tensor's scale:
``max|a - b| / max|a|`` (an elementwise ratio is meaningless for weights near zero)."""
import numpy as np
import pytest

import graphc as gc
from graphc import layers as L


def _mlp():
    return gc.Sequential([gc.Input(shape=(64,)), L.Dense(64, activation="relu"), L.Dense(10)])


def _cnn():  # the digits CNN of examples/digits_cnn.py without BatchNormalization and Dropout: those
    # compute per replica by design (batch statistics of the replica's part, the replica's own masks)
    return gc.Sequential([
        gc.Input(shape=(8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu"), L.MaxPool2D(2),
        L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Flatten(), L.Dense(10),
    ])


def _compiled(make, seed=7):
    gc.random.set_seed(seed)
    model = make()
    model.compile(optimizer=gc.optimizers.Adam(3e-3), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _relative_difference(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


@pytest.mark.parametrize("make, shape", [(_mlp, (64,)), (_cnn, (8, 8, 1))], ids=["mlp", "cnn"])
def test_two_workers_of_32_train_as_one_process_with_batches_of_64(strategy, digits, make, shape):
    x, y = digits
    x = x.reshape((-1,) + shape)
    single = _compiled(make)
    validation = (x[:300], y[:300])  # evaluated on the driver, with the weights the chief sent back
    expected = single.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, validation_data=validation).history
    with strategy.scope():
        model = _compiled(make)
    assert [w.tobytes() for w in model.get_weights()] == [w.tobytes() for w in _compiled(make).get_weights()]
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, validation_data=validation).history
    for a, b in zip(single.get_weights(), model.get_weights()):
        assert _relative_difference(a, b) <= 1e-5
    # the optimizer's state came back too: the same step count and moments
    assert int(model.optimizer.iterations.numpy()) == int(single.optimizer.iterations.numpy()) == 29
    # History and the metrics are those of the global batch (all replicas' examples)
    assert history["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert history["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-5)


def _float64_mlp():
    return gc.Sequential([gc.Input(shape=(64,), dtype="float64"), L.Dense(64, activation="relu", dtype="float64"),
                          L.Dense(10, dtype="float64")])


def _float64_cnn():
    return gc.Sequential([
        gc.Input(shape=(8, 8, 1), dtype="float64"), L.Conv2D(8, 3, padding="same", activation="relu", dtype="float64"),
        L.MaxPool2D(2, dtype="float64"), L.Conv2D(16, 3, padding="same", activation="relu", dtype="float64"),
        L.MaxPool2D(2, dtype="float64"), L.Flatten(dtype="float64"), L.Dense(10, dtype="float64"),
    ])


def _fit_both(strategy, make, data):
    single = _compiled(make)
    single.fit(data, epochs=1, verbose=0)
    with strategy.scope():
        model = _compiled(make)
    model.fit(data, epochs=1, verbose=0)
    return single.get_weights(), model.get_weights()


def test_in_float64_without_op_determinism_the_difference_is_rounding_only(strategy, digits):
    """One process sums 64 examples' gradients in one reduction, two replicas sum 32 each and the
    all-reduce adds the halves: a different order of the same additions, a few units of rounding."""
    x, y = digits
    data = gc.data.Dataset.from_tensor_slices((x.astype(np.float64), y)).batch(64)  # (arrays become float32)
    single, replicated = _fit_both(strategy, _float64_mlp, data)
    for a, b in zip(single, replicated):
        assert a.dtype == np.float64 and 0 < _relative_difference(a, b) <= 1e-12


@pytest.mark.parametrize("make, shape, dtype", [(_float64_mlp, (64,), np.float64), (_float64_cnn, (8, 8, 1), np.float64),
                                                (_mlp, (64,), np.float32)], ids=["mlp-float64", "cnn-float64", "mlp-float32"])
def test_with_op_determinism_two_workers_of_32_train_exactly_as_one_process(strategy, digits, make, shape, dtype):
    """With ``gc.config.enable_op_determinism()`` every sum over the batch is a tree whose halves are
    the replicas' sums, and the all-reduce adds the halves: one epoch gives the same bits. (The
    epoch is 28 whole batches: a last batch of 5 split 3 + 2 cannot be summed as halves.)"""
    x, y = digits
    x, y = x[:28 * 64], y[:28 * 64]
    data = gc.data.Dataset.from_tensor_slices((x.reshape((-1,) + shape).astype(dtype), y)).batch(64)
    with gc.config.enable_op_determinism():
        single, replicated = _fit_both(strategy, make, data)
    for a, b in zip(single, replicated):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert not gc.config.op_determinism_enabled()


def test_a_last_batch_that_does_not_divide_and_a_replica_without_examples(strategy, digits):
    """1797 examples in batches of 64 end with 5 (3 + 2); steps_per_epoch of batches of 3 with 2
    replicas, and a dataset whose last batch has 1 example (the second replica gets none)."""
    x, y = digits
    x, y = x[:65], y[:65]
    single = _compiled(_mlp)
    single.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    with strategy.scope():
        model = _compiled(_mlp)
    model.fit(gc.data.Dataset.from_tensor_slices((x, y)).batch(4), epochs=1, verbose=0)
    for a, b in zip(single.get_weights(), model.get_weights()):
        assert _relative_difference(a, b) <= 1e-5


def test_batchnorm_moving_statistics_are_averaged_across_replicas(strategy, digits):
    """One step: the moving mean is updated from the mean of the replicas' batch means, which for
    equal parts is the global batch mean, as one process computes it."""
    x, y = digits
    x, y = x[:64], y[:64]

    def make():
        return gc.Sequential([gc.Input(shape=(64,)), L.Dense(16), L.BatchNormalization(momentum=0.5), L.Dense(10)])

    single = _compiled(make)
    single.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    with strategy.scope():
        model = _compiled(make)
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    bn, bn_single = model.layers[1], single.layers[1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), bn_single.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
    moved = bn.moving_mean.numpy()
    assert np.abs(moved).max() > 0  # it did move from zero
