"""Exchanges between replicas inside compiled code: ``all_reduce`` in a ``gc.function`` run by
``strategy.run`` (a host call on every call), its gradient (TensorFlow's rule: the all-reduce of the
results' gradients), and ``BatchNormalization(synchronized=True)``, whose statistics are the global
batch's, so that replicas train as one process even with BatchNorm in the model."""
import threading

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

PARTS = gc.distribute.PerReplica([np.array([1.0, 2.0, 3.0], np.float32), np.array([10.0, 20.0, 40.0], np.float32)])
SCALES = gc.distribute.PerReplica([np.float32(2.0), np.float32(-3.0)])


@pytest.mark.parametrize("compiled", [True, False], ids=["gc.function", "eager"])
def test_all_reduce_in_a_function_each_call_exchanges_anew(strategy, compiled):
    def exchange(x, scale):
        context = gc.distribute.get_replica_context()
        return context.all_reduce("SUM", x * scale), context.all_reduce("MEAN", {"m": x + scale})["m"]

    fn = gc.function(exchange) if compiled else exchange
    for call in range(3):  # a compiled exchange is reused: each call must take part in a new one
        offset = gc.distribute.PerReplica([v + call for v in PARTS.values])
        results = strategy.experimental_local_results(strategy.run(fn, args=(offset, SCALES)))
        a, b = (np.asarray(v) for v in offset.values)
        total, mean = a * 2.0 - b * 3.0, ((a + 2.0) + (b - 3.0)) / 2
        for summed, averaged in results:
            np.testing.assert_allclose(np.asarray(summed), total, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(averaged), mean, rtol=1e-6)


@pytest.mark.parametrize("compiled", [True, False], ids=["gc.function", "eager"])
def test_the_gradient_of_all_reduce_is_the_all_reduce_of_the_gradients(strategy, compiled):
    """Replica r computes y = sum_r' x_r' and its loss sum(y * c_r); the replicas' total loss has
    gradient sum_r' c_r' for every x_r (a replica's own tape sees only its c_r without the rule)."""

    def gradient(x, c):
        x = gc.convert_to_tensor(x)
        with gc.GradientTape() as tape:
            tape.watch(x)
            y = gc.distribute.get_replica_context().all_reduce("SUM", gc.square(x))
            loss = gc.reduce_sum(y * c)
        return tape.gradient(loss, x)

    fn = gc.function(gradient) if compiled else gradient
    results = strategy.experimental_local_results(strategy.run(fn, args=(PARTS, SCALES)))
    c_total = sum(float(c) for c in SCALES.values)
    for x, grad in zip(PARTS.values, results):
        np.testing.assert_allclose(np.asarray(grad), 2 * x * c_total, rtol=1e-6)


F32 = np.float32


@pytest.mark.parametrize("compiled", [True, False], ids=["gc.function", "eager"])
@pytest.mark.parametrize("values, ops, shown", [
    ([np.ones(3, F32), np.ones(1, F32)], ("SUM", "SUM"), "float32[3]]; replica 1: SUM of [float32[1]"),  # would broadcast
    ([np.ones(3, F32), np.ones(4, F32)], ("SUM", "SUM"), "float32[4]"),
    ([np.ones(3, F32), np.ones(3, np.int32)], ("SUM", "SUM"), "int32[3]"),
    ([np.ones(3, F32), np.ones(3, F32)], ("SUM", "MEAN"), "replica 1: MEAN"),
    ([[np.ones(3, F32)], [np.ones(3, F32), np.ones(3, F32)]], ("SUM", "SUM"), "[float32[3], float32[3]]"),
], ids=["broadcastable-shapes", "shapes", "dtypes", "ops", "leaf-counts"])
def test_replicas_that_disagree_get_an_error_naming_each_contribution_and_the_strategy_goes_on(
        strategy, compiled, values, ops, shown):
    """Every replica must all-reduce the same shapes and dtypes with the same op: otherwise each gets
    an error listing what every replica gave (never a broadcast sum, a raw NumPy error or a hang);
    and the next exchange works (a failure used to leave the group killed: 'worker died')."""
    def exchange(x, op):
        return gc.distribute.get_replica_context().all_reduce(op, x)

    fn = gc.function(exchange) if compiled else exchange
    with pytest.raises(gc.errors.InvalidArgumentError, match="the replicas disagree") as error:
        strategy.run(fn, args=(gc.distribute.PerReplica(values), gc.distribute.PerReplica(list(ops))))
    assert shown in str(error.value) and "replica 0: SUM of [float32[3]" in str(error.value)
    results = strategy.experimental_local_results(strategy.run(fn, args=(PARTS, "SUM")))
    for result in results:
        np.testing.assert_array_equal(np.asarray(result), [11.0, 22.0, 43.0])


@pytest.mark.parametrize("compiled", [True, False], ids=["gc.function", "eager"])
def test_a_replica_that_skips_an_exchange_fails_the_others_instead_of_hanging(strategy, compiled):
    """Replica 0 all-reduces twice, replica 1 once (Python control flow on the replica id): when
    replica 1's call ends, replica 0's second exchange fails with an error saying so."""
    def uneven(x):
        context = gc.distribute.get_replica_context()
        total = context.all_reduce("SUM", x)
        if context.replica_id_in_sync_group == 0:
            total = context.all_reduce("SUM", total)
        return total

    fn = gc.function(uneven) if compiled else uneven
    with pytest.raises(gc.errors.InvalidArgumentError, match="replica 1 finished its call without taking part in "
                                                             "exchange 1"):
        strategy.run(fn, args=(PARTS,))
    even = strategy.run(lambda x: gc.distribute.get_replica_context().all_reduce("SUM", x), args=(PARTS,))
    for result in strategy.experimental_local_results(even):  # the strategy goes on
        np.testing.assert_array_equal(np.asarray(result), [11.0, 22.0, 43.0])


@pytest.mark.parametrize("compiled", [True, False], ids=["gc.function", "eager"])
def test_driver_threads_calling_run_at_once_get_their_own_exchanges(strategy, compiled):
    """Three threads each call strategy.run eight times; every call's exchange pairs with the same
    call on the other replica (a call reaching the workers in different orders would deadlock)."""
    def scaled_sum(x, k):
        return gc.distribute.get_replica_context().all_reduce("SUM", x * k)

    fn = gc.function(scaled_sum) if compiled else scaled_sum
    results, errors = [], []

    def calls(k):
        try:
            for _ in range(8):
                out = strategy.experimental_local_results(strategy.run(fn, args=(PARTS, np.float32(k))))
                results.append((k, [np.asarray(r) for r in out]))
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=calls, args=(k,), daemon=True) for k in (1, 10, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and not any(t.is_alive() for t in threads), errors
    assert len(results) == 24
    for k, out in results:
        for result in out:
            np.testing.assert_array_equal(result, np.array([11.0, 22.0, 43.0], np.float32) * k)


def _bn_cnn(synchronized: bool):
    """The digits CNN with BatchNormalization after each convolution (whose biases it would cancel:
    their gradients are rounding noise, so the convolutions have none)."""
    return gc.Sequential([
        gc.Input(shape=(8, 8, 1)), L.Conv2D(8, 3, padding="same", use_bias=False),
        L.BatchNormalization(synchronized=synchronized), L.Activation("relu"), L.MaxPool2D(2),
        L.Conv2D(16, 3, padding="same", use_bias=False),
        L.BatchNormalization(momentum=0.9, synchronized=synchronized), L.Activation("relu"), L.MaxPool2D(2),
        L.Flatten(), L.Dense(10),
    ])


def _compiled(make, run_eagerly=False):
    gc.random.set_seed(11)
    model = make()
    model.compile(optimizer=gc.optimizers.Adam(3e-3), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], run_eagerly=run_eagerly)
    return model


def _relative_difference(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


def test_synchronized_batchnorm_trains_two_replicas_as_one_process(strategy, digits):
    """2 workers x 32 with synchronized BatchNorm = 1 process x 64 with BatchNorm, weights and moving
    statistics (1e-5); per-replica BatchNorm does not (the check can fail)."""
    x, y = digits
    x, y = x[:640].reshape(-1, 8, 8, 1), y[:640]
    single = _compiled(lambda: _bn_cnn(False))
    single.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    differences = {}
    for synchronized in (True, False):
        with strategy.scope():
            model = _compiled(lambda: _bn_cnn(synchronized))
        model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        differences[synchronized] = max(_relative_difference(a, b)
                                        for a, b in zip(single.get_weights(), model.get_weights()))
    assert differences[True] <= 1e-5, differences
    assert differences[False] > 1e-3, differences


def test_synchronized_batchnorm_with_a_replica_without_examples_and_run_eagerly(strategy, digits):
    """A last global batch of one example: the replica without examples still takes part in the
    other's exchanges (else it would wait forever); the step is the one-example step of one process.
    Also with run_eagerly, where the exchanges are Ray calls between ops."""
    x, y = digits
    x, y = x[:65].reshape(-1, 8, 8, 1), y[:65]
    single = _compiled(lambda: _bn_cnn(False))
    single.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for run_eagerly in (False, True):
        with strategy.scope():
            model = _compiled(lambda: _bn_cnn(True), run_eagerly=run_eagerly)
        model.fit(gc.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
        for a, b in zip(single.get_weights(), model.get_weights()):
            assert _relative_difference(a, b) <= 1e-5


def test_synchronized_is_checked_and_saved():
    with pytest.raises(gc.errors.InvalidArgumentError, match="synchronized must be True or False"):
        L.BatchNormalization(synchronized="yes")
    layer = L.BatchNormalization(synchronized=True)
    assert layer.get_config()["synchronized"] is True
    assert L.BatchNormalization.from_config(layer.get_config()).synchronized is True


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_synchronized_statistics_are_the_global_batch_s_even_where_float16_squares_overflow(strategy, dtype):
    """Each replica normalises its part with the mean and variance of both parts together; with
    values near 100, the sum of 16 squares (160,000) is beyond float16's range, so the statistics
    are exchanged in float32 (as Keras computes them)."""
    rng = np.random.default_rng(2)
    parts = [(100 + 5 * rng.standard_normal((16, 3))).astype(dtype) for _ in range(2)]
    with strategy.scope():
        model = gc.Sequential([gc.Input(shape=(3,), dtype=dtype),
                               L.BatchNormalization(synchronized=True, center=False, scale=False, dtype=dtype)])
    results = strategy.experimental_local_results(
        strategy.run(gc.function(lambda x: model(x, training=True)), args=(gc.distribute.PerReplica(parts),)))
    both = np.concatenate(parts).astype(np.float64)
    expected = (both - both.mean(0)) / np.sqrt(both.var(0) + 1e-3)
    tolerance = 2e-2 if dtype == "float16" else 1e-4
    np.testing.assert_allclose(np.concatenate([np.asarray(r, np.float64) for r in results]), expected, atol=tolerance)


def test_all_reduce_of_a_size_known_only_at_run_time_is_a_clear_error(strategy):
    """A compiled exchange needs its values' shapes when traced (a host call's results have fixed
    shapes): a None dimension of the input signature is refused with the shape named."""
    exchange = gc.function(lambda x: gc.distribute.get_replica_context().all_reduce("SUM", x),
                           input_signature=[gc.TensorSpec([None], "float32")])
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"all_reduce: a value of shape \(None,\) has a "
                                                             "dimension of unknown size"):
        strategy.run(exchange, args=(PARTS,))
    bad_op = gc.function(lambda x: gc.distribute.get_replica_context().all_reduce("MAX", x))
    with pytest.raises(gc.errors.InvalidArgumentError, match="reduce_op must be gc.distribute.ReduceOp.SUM or MEAN"):
        strategy.run(bad_op, args=(PARTS,))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_replicas_are_added_as_a_balanced_tree_in_their_dtype(count, dtype):
    """The all-reduce adds ranks pairwise, each addition rounded to the leaves' dtype: the order one
    process with op determinism adds the parts of a batch in (so 4 replicas' halves of halves sum as
    one process's tree). Values chosen so that any other order or precision gives other bits."""
    from graphc.distribute.collective import combine

    rng = np.random.default_rng(count)
    leaves = [(rng.standard_normal(5) * 10.0 ** rng.integers(-8, 9, 5)).astype(dtype) for _ in range(count)]
    level = list(leaves)
    while len(level) > 1:
        level = [a + b for a, b in zip(level[::2], level[1::2])] + level[2 * (len(level) // 2):]
    (got,) = combine("SUM", [[leaf] for leaf in leaves])
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, level[0])
    weights = [[0.5]] * count  # powers of two scale exactly
    (weighted,) = combine("SUM", [[leaf] for leaf in leaves], weights)
    np.testing.assert_array_equal(weighted, (level[0] * dtype(0.5)).astype(dtype))
    (mean,) = combine("MEAN", [[np.array([7, -7], np.int32)], [np.array([0, 0], np.int32)]])
    np.testing.assert_array_equal(mean, [3, -3])  # an integer mean rounds toward zero
