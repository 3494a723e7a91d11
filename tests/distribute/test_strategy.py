"""RayStrategy's API besides fit: arguments, strategy.run / reduce in a custom training loop,
PerReplica values, errors raised on a worker, the debug check of replica sync, and that
``import graphc`` does not load Ray."""
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import InvalidArgumentError, ShapeError


@pytest.mark.parametrize("options, message", [
    ({"num_workers": 0}, "num_workers"),
    ({"cpus_per_worker": -1}, "cpus_per_worker"),
    ({"save_freq": "batch"}, "save_freq"),
    ({"save_freq": 0}, "save_freq"),
    ({"max_restarts": -2}, "max_restarts"),
    ({"address": 5}, "address"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_are_named(options, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gc.distribute.RayStrategy(**options)


def test_more_cpus_than_the_cluster_has_is_an_error_not_a_hang(ray_instance):
    strategy = gc.distribute.RayStrategy(num_workers=3)
    with pytest.raises(InvalidArgumentError, match="need 3 CPUs"):
        strategy.run(lambda: 1)


def test_scope_and_replica_context_on_the_driver(strategy):
    assert strategy.num_replicas_in_sync == 2
    assert gc.distribute.get_strategy() is None and not gc.distribute.has_strategy()
    with strategy.scope():
        assert gc.distribute.get_strategy() is strategy and gc.distribute.has_strategy()
    context = gc.distribute.get_replica_context()
    assert (context.replica_id_in_sync_group, context.num_replicas_in_sync) == (0, 1)
    assert context.all_reduce("SUM", [np.float32(3)]) == [3]


def test_run_gives_each_replica_its_part_and_its_context(strategy):
    import graphc

    def where(x):
        context = gc.distribute.get_replica_context()
        total = context.all_reduce("SUM", {"x": x})
        mean = context.all_reduce(gc.distribute.ReduceOp.MEAN, x)
        return context.replica_id_in_sync_group, context.num_replicas_in_sync, total["x"], mean, graphc.__file__

    parts = gc.distribute.PerReplica([np.array([1.0, 2.0], np.float32), np.array([10.0, 20.0], np.float32)])
    results = strategy.experimental_local_results(strategy.run(where, args=(parts,)))
    assert [r[:2] for r in results] == [(0, 2), (1, 2)]
    for result in results:
        np.testing.assert_array_equal(result[2], [11.0, 22.0])
        np.testing.assert_array_equal(result[3], [5.5, 11.0])
        assert result[4] == graphc.__file__  # the workers import graphc from this source tree


def test_reduce_against_numpy(strategy):
    a, b = np.arange(6.0).reshape(3, 2), np.arange(10.0, 14.0).reshape(2, 2)
    value = gc.distribute.PerReplica([a, b])
    np.testing.assert_allclose(strategy.reduce("SUM", value, axis=0), a.sum(0) + b.sum(0))
    np.testing.assert_allclose(strategy.reduce("MEAN", value, axis=0), np.concatenate([a, b]).mean(0))
    same = gc.distribute.PerReplica([a[:2], b])
    np.testing.assert_allclose(strategy.reduce("sum", same, axis=None), a[:2] + b)
    np.testing.assert_allclose(strategy.reduce("MEAN", same, axis=None), (a[:2] + b) / 2)
    np.testing.assert_allclose(strategy.reduce("MEAN", np.float32(4), axis=None), 4)
    with pytest.raises(InvalidArgumentError, match="only MEAN"):
        strategy.reduce("SUM", np.float32(4), axis=None)
    with pytest.raises(InvalidArgumentError, match="reduce_op"):
        strategy.reduce("MAX", value, axis=None)
    with pytest.raises(InvalidArgumentError, match="axis 2 is out of range"):
        strategy.reduce("SUM", value, axis=2)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "gc.function"])
def test_a_custom_training_loop_matches_one_process(strategy, compiled):
    """TensorFlow's pattern: the loss divided by the global batch size, apply_gradients sums the
    replicas' gradients; the result is the one-process step on the global batch. Compiled, the
    whole step (forward, backward, the sum across replicas, the update) is one gc.function."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 5)).astype(np.float32), rng.normal(size=(48, 1)).astype(np.float32)
    global_batch = 16

    def make():
        gc.random.set_seed(3)
        return gc.Sequential([gc.Input(shape=(5,)), L.Dense(4, activation="tanh"), L.Dense(1)]), gc.optimizers.SGD(0.1)

    def step_of(model, optimizer):
        def step(batch):
            xb, yb = batch
            with gc.GradientTape() as tape:
                per_example = gc.losses.mean_squared_error(yb, model(xb, training=True))
                loss = gc.math.reduce_sum(per_example) / global_batch
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return gc.function(step) if compiled else step

    single, single_optimizer = make()
    single_step = step_of(single, single_optimizer)
    expected = [float(single_step((x[i:i + 16], y[i:i + 16])).numpy()) for i in range(0, 48, 16)]
    with strategy.scope():
        model, optimizer = make()
    step = step_of(model, optimizer)
    dataset = gc.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
    losses = [float(strategy.reduce("SUM", strategy.run(step, args=(batch,)), axis=None))
              for batch in strategy.experimental_distribute_dataset(dataset)]
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    strategy.sync_models()
    for a, b in zip(single.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_worker_error_surfaces_as_itself_with_the_worker_traceback(strategy):
    def broken(x):
        raise ValueError(f"replica input {x} is wrong")  # the user's line

    with pytest.raises(ValueError, match="replica input 7 is wrong") as info:
        strategy.run(broken, args=(7,))
    notes = "\n".join(info.value.__notes__)
    assert "raised on Ray worker" in notes and "in broken" in notes and "the user's line" in notes
    assert strategy.experimental_local_results(strategy.run(lambda: 5)) == (5, 5)  # the strategy still works


def test_the_driver_settings_reach_the_workers_when_they_change(strategy):
    """The backend and op determinism decide what the replicas' functions compute: workers started
    before a change take the new settings before their next call, and back again."""
    def settings():
        return gc.config.get_backend(), gc.config.op_determinism_enabled()

    assert strategy.experimental_local_results(strategy.run(settings)) == (("llvm", False),) * 2
    with gc.config.enable_op_determinism(), gc.config.set_backend("numpy"):
        assert strategy.experimental_local_results(strategy.run(settings)) == (("numpy", True),) * 2
    assert strategy.experimental_local_results(strategy.run(settings)) == (("llvm", False),) * 2


def test_a_fit_error_on_the_workers_reaches_the_driver(strategy, digits):
    x, y = digits
    with strategy.scope():
        model = gc.Sequential([gc.Input(shape=(64,)), L.Dense(10)])
        model.compile("sgd", loss="mse")
    with pytest.raises(ShapeError) as info:
        model.fit(x[:64], np.zeros((64, 3), np.float32), batch_size=64, verbose=0)
    assert "raised on Ray worker" in "\n".join(info.value.__notes__)
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        model.fit(x[:64], y[:64], batch_size=1, verbose=0)


def test_run_refuses_variables_outside_the_scope(strategy):
    stray = gc.Variable(np.float32(1), name="stray")
    with pytest.raises(InvalidArgumentError, match="stray"):
        strategy.run(lambda: stray + 1)


def test_run_inside_a_driver_function_names_the_compiled_alternative(strategy):
    """TensorFlow's idiom wraps strategy.run in a tf.function; graphc's replicas are other
    processes, so the driver's trace cannot hold them: the error says what compiles instead."""

    @gc.function
    def distributed_step(x):
        return strategy.run(lambda v: v * 2, args=(x,))

    with pytest.raises(InvalidArgumentError, match=r"strategy.run\(gc.function\(step\)") as error:
        distributed_step(np.ones(3, np.float32))
    assert "test_strategy.py" in str(error.value)  # the user's line


def test_the_sync_check_catches_replicas_that_differ(strategy, digits):
    """A layer counting with per-replica random draws (an integer state, not averaged): the
    replicas' variables then differ, and ``check_sync`` says so at the first step."""

    class Drifting(L.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(name="count", shape=(), dtype=gc.int64, initializer="zeros", trainable=False)

        def call(self, inputs, training=None):
            self.count.assign_add(gc.random.uniform((), 0, 1 << 40, dtype=gc.int64))
            return inputs

    x, y = digits
    with strategy.scope():
        model = gc.Sequential([gc.Input(shape=(64,)), Drifting(), L.Dense(10)])
        model.compile("sgd", loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(gc.distribute.ReplicaDivergence, match="after step 1"):
        model.fit(x[:64], y[:64], batch_size=64, verbose=0)


def test_import_graphc_does_not_import_ray():
    code = ("import sys, graphc as gc; gc.Sequential(); gc.distribute.get_strategy(); "
            "gc.distribute.RayStrategy(num_workers=2); assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_ray_the_error_names_the_install_command():
    code = ("import sys; sys.modules['ray'] = None\n"
            "import graphc as gc\n"
            "try:\n    gc.distribute.RayStrategy().run(lambda: 1)\n"
            "except ImportError as e:\n    assert \"pip install 'graphc[distributed]'\" in str(e), str(e)\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_each_replica_draws_from_its_own_seeded_stream(make_strategy):
    """Replica r's gc.random stream starts from seed + r: its first draws are those of one process
    after gc.random.set_seed(seed + r) (runs last: it stops the module's shared strategy)."""
    strategy = make_strategy(seed=3)
    draws = strategy.experimental_local_results(strategy.run(lambda: gc.random.uniform((4,))))
    for rank, drawn in enumerate(draws):
        gc.random.set_seed(3 + rank)
        np.testing.assert_array_equal(drawn, gc.random.uniform((4,)).numpy())
    assert not np.array_equal(draws[0], draws[1])
