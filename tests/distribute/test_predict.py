"""gc.distribute.predict: results in input order, equal to the model's own predict; each worker
compiles once (the last, smaller batch is padded); worker errors carry the worker's traceback."""
import os

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def workers_free(make_strategy):
    """Stops the other modules' strategies: predict starts workers of its own."""
    make_strategy().shutdown()


def test_a_model_predicts_in_input_order(workers_free):
    gc.random.set_seed(2)
    model = gc.Sequential([gc.Input(shape=(6,)), L.Dense(8, activation="relu"), L.Dense(3)])
    x = np.random.default_rng(1).normal(size=(203, 6)).astype(np.float32)
    stream = gc.distribute.predict(model, x, batch_size=20, num_workers=2)
    batches = list(stream)
    assert [len(b) for b in batches] == [20] * 10 + [3]
    np.testing.assert_allclose(np.concatenate(batches), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_a_function_over_a_dataset_compiles_once_per_worker(workers_free, tmp_path):
    log = str(tmp_path / "traces")

    @gc.function
    def row_norms(x):
        with open(log, "a") as f:  # runs once per trace, in the worker's process
            f.write(f"{os.getpid()}\n")
        return gc.math.sqrt(gc.math.reduce_sum(x * x, axis=1))

    x = np.arange(70 * 4, dtype=np.float32).reshape(70, 4)
    dataset = gc.data.Dataset.from_tensor_slices(x).batch(16)  # 16, 16, 16, 16, 6
    out = np.concatenate(list(gc.distribute.predict(row_norms, dataset, num_workers=2)))
    np.testing.assert_allclose(out, np.sqrt((x.astype(np.float64) ** 2).sum(1)), rtol=1e-6)
    pids = open(log).read().split()
    assert len(pids) == 2 and len(set(pids)) == 2  # one trace in each of the two workers


def test_a_worker_error_surfaces_with_its_traceback(workers_free):
    def broken(x):
        raise ValueError("no prediction for this batch")  # the user's line

    with pytest.raises(ValueError, match="no prediction") as info:
        list(gc.distribute.predict(broken, np.zeros((4, 2), np.float32), batch_size=2, num_workers=1))
    assert "the user's line" in "\n".join(info.value.__notes__)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_workers": 0}, "num_workers"),
    ({"batch_size": 0}, "batch_size"),
    ({"max_in_flight": 0}, "max_in_flight"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        gc.distribute.predict(lambda x: x, np.zeros((4, 2), np.float32), **kwargs)


def test_what_cannot_predict_is_refused():
    with pytest.raises(InvalidArgumentError, match="model_or_function"):
        gc.distribute.predict(5, np.zeros((4, 2), np.float32))
    with pytest.raises(InvalidArgumentError, match="build the model"):
        gc.distribute.predict(gc.Sequential([L.Dense(2)]), np.zeros((4, 2), np.float32))
