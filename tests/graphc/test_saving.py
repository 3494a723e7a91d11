"""Whole models in one ``.graphc`` file: ``model.save`` / ``gc.models.load_model``. A model loaded and
trained on continues bit for bit as the model that was never saved; configs round-trip optimizers,
schedules, losses, metrics and registered custom classes; saving is atomic."""
import errno
import json
import os
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc.errors import CheckpointError, InvalidArgumentError

rng = np.random.default_rng(0)
X = rng.normal(size=(24, 5)).astype(np.float32)
Y = rng.normal(size=(24, 2)).astype(np.float32)


@gc.utils.register_serializable(package="SavingTest")
class TwoLayers(gc.Model):
    """A subclassed model whose config is its constructor's arguments."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = gc.layers.Dense(units, activation="tanh")
        self.out = gc.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))


@gc.utils.register_serializable(package="SavingTest")
def scaled_error(y_true, y_pred):
    return gc.reduce_mean(gc.square(y_pred - y_true), -1) * 0.5


@gc.utils.register_serializable(package="SavingTest")
class HalvingEvery(gc.optimizers.schedules.LearningRateSchedule):
    """A custom schedule: ``rate / 2 ** (step // every)``."""

    def __init__(self, rate, every):
        self.rate, self.every = rate, every

    def __call__(self, step):
        return self.rate / gc.pow(2.0, gc.cast(step // self.every, gc.float32))


def sequential():
    return gc.Sequential([gc.Input(shape=(5,)), gc.layers.Dense(6, activation="relu"), gc.layers.BatchNormalization(),
                          gc.layers.Dense(2)])


MODELS = {"sequential": sequential, "subclassed": lambda: TwoLayers(6)}
SCHEDULES = {"exponential": lambda: gc.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5),
             "custom": lambda: HalvingEvery(0.05, 2)}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_training_after_loading_continues_bit_for_bit(kind, schedule, tmp_path):
    gc.random.set_seed(1)
    model = MODELS[kind]()
    model.compile(gc.optimizers.Adam(SCHEDULES[schedule](), amsgrad=True), loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.graphc")
    loaded = gc.models.load_model(tmp_path / "m.graphc")
    assert type(loaded.optimizer) is gc.optimizers.Adam and loaded.optimizer.amsgrad
    assert int(loaded.optimizer.iterations.numpy()) == 6
    slots, slots2 = (
        {(next(i for i, v in enumerate(m.variables) if v is var), name): slot.numpy()
         for var, name, slot in m.optimizer.slots()} for m in (model, loaded))
    assert slots.keys() == slots2.keys() and len(slots) == 3 * len(model.trainable_variables)
    for key, value in slots.items():
        np.testing.assert_array_equal(slots2[key], value)
    history = model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    history2 = loaded.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert history2 == history
    assert len(loaded.variables) == len(model.variables)
    for mine, theirs in zip(model.variables, loaded.variables, strict=True):
        assert mine.numpy().tobytes() == theirs.numpy().tobytes(), mine.name


def test_the_file_holds_config_metadata_and_weights_as_safetensors(tmp_path):
    from safetensors.numpy import load  # the format's own reader

    model = sequential()
    model.compile("adam", gc.losses.Huber(delta=0.5), metrics=["mae", gc.metrics.RootMeanSquaredError(name="r")])
    model.fit(X, Y, batch_size=12, verbose=0)
    path = model.save(tmp_path / "m.graphc")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.safetensors"]
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
        weights = load(archive.read("model.weights.safetensors"))
    assert metadata["format"] == "graphc-model" and metadata["format_version"] == 1
    assert metadata["graphc_version"] == gc.__version__ and metadata["date_saved"][:2] == "20"
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]] == ["InputLayer", "Dense",
                                                                           "BatchNormalization", "Dense"]
    assert config["compile_config"]["loss"] == {"class_name": "Huber", "config": {
        "reduction": "sum_over_batch_size", "name": "huber_loss", "delta": 0.5}}
    assert config["compile_config"]["metrics"][0] == "mae"
    assert weights["optimizer/iterations"] == 2
    first_kernel = model.layers[0].kernel.numpy()
    assert any(np.array_equal(v, first_kernel) for v in weights.values())
    assert sum(k.startswith("optimizer/slots/") for k in weights) == 2 * 6  # m and v of 6 trainable variables
    loaded = gc.models.load_model(path)
    assert type(loaded.loss) is gc.losses.Huber and loaded.loss.get_config()["delta"] == 0.5
    assert loaded.evaluate(X, Y, verbose=0, return_dict=True) == model.evaluate(X, Y, verbose=0, return_dict=True)


def test_include_optimizer_false_and_compile_false(tmp_path):
    model = sequential()
    model.compile(gc.optimizers.SGD(0.1, momentum=0.9), "mse")
    model.fit(X, Y, batch_size=8, verbose=0)
    model.save(tmp_path / "no_opt.graphc", include_optimizer=False)
    loaded = gc.models.load_model(tmp_path / "no_opt.graphc")
    assert type(loaded.optimizer) is gc.optimizers.SGD and loaded.optimizer.momentum == 0.9
    assert int(loaded.optimizer.iterations.numpy()) == 0 and loaded.optimizer.slots() == []
    model.save(tmp_path / "with_opt.graphc")
    bare = gc.models.load_model(tmp_path / "with_opt.graphc", compile=False)
    assert not bare.compiled and bare.optimizer is None
    np.testing.assert_array_equal(bare.predict(X, verbose=0), model.predict(X, verbose=0))


def test_custom_objects_are_found_by_registration_or_by_argument(tmp_path):
    class Unregistered(gc.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.dense = gc.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

    model = Unregistered(3)
    model.compile(gc.optimizers.RMSprop(HalvingEvery(0.1, 4)), loss=scaled_error, metrics=[scaled_error])
    model.fit(X, np.zeros((24, 3), np.float32), batch_size=8, verbose=0)
    model.save(tmp_path / "u.graphc")
    with pytest.raises(CheckpointError, match=r"unknown model class 'Unregistered'.*custom_objects"):
        gc.models.load_model(tmp_path / "u.graphc")
    loaded = gc.models.load_model(tmp_path / "u.graphc", custom_objects={"Unregistered": Unregistered})
    assert type(loaded) is Unregistered and loaded.dense.units == 3
    assert type(loaded.optimizer._learning_rate) is HalvingEvery and loaded.optimizer._learning_rate.every == 4
    assert loaded.loss == "SavingTest>scaled_error"  # a registered function: by its name, as Keras
    y = np.ones((24, 3), np.float32)
    assert loaded.evaluate(X, y, verbose=0, return_dict=True) == model.evaluate(X, y, verbose=0, return_dict=True)
    assert loaded.metrics_names == model.metrics_names == ["loss", "scaled_error"]


def test_register_serializable_names_and_scopes():
    assert gc.utils.get_registered_name(TwoLayers) == "SavingTest>TwoLayers"
    assert gc.utils.get_registered_object("SavingTest>scaled_error") is scaled_error
    assert gc.utils.register_keras_serializable is gc.utils.register_serializable
    config = gc.losses.serialize(gc.losses.LossFunctionWrapper(scaled_error))
    assert config["config"]["fn"] == "SavingTest>scaled_error"
    assert gc.losses.deserialize(config).fn is scaled_error
    schedule = gc.optimizers.schedules.deserialize(gc.optimizers.schedules.serialize(HalvingEvery(1.0, 3)))
    assert type(schedule) is HalvingEvery and schedule.every == 3
    optimizer = gc.optimizers.deserialize(gc.optimizers.serialize(gc.optimizers.Nadam(0.3, beta_1=0.8)))
    assert type(optimizer) is gc.optimizers.Nadam and optimizer.beta_1 == 0.8

    class Local(gc.metrics.Mean):
        pass

    with pytest.raises(InvalidArgumentError, match="unknown metric class 'Local'"):
        gc.metrics.deserialize({"class_name": "Local", "config": {}})
    with gc.utils.custom_object_scope({"Local": Local}):
        assert type(gc.metrics.deserialize({"class_name": "Local", "config": {"name": "x"}})) is Local
    with pytest.raises(InvalidArgumentError, match="package"):
        gc.utils.register_serializable(package="a>b")
    with pytest.raises(InvalidArgumentError, match="not a built-in one"):
        gc.losses.serialize(lambda a, b: a)


def test_saving_refuses_what_it_cannot_describe(tmp_path):
    model = sequential()
    with pytest.raises(InvalidArgumentError, match=r"ends in '\.graphc'"):
        model.save(tmp_path / "m.keras")
    model.compile(gc.optimizers.SGD(lambda: 0.1), "mse")
    with pytest.raises(InvalidArgumentError, match="callable learning rate has no config"):
        model.save(tmp_path / "m.graphc")
    assert os.listdir(tmp_path) == []


def _listing(directory):
    return sorted(os.listdir(directory))


def test_saving_is_atomic_and_overwrite_false_keeps_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.graphc"
    first = sequential()
    first.save(path)
    old = path.read_bytes()
    with pytest.raises(InvalidArgumentError, match="overwrite=False"):
        sequential().save(path, overwrite=False)
    assert path.read_bytes() == old

    real_write, calls = os.write, []

    def write_half_then_fail(fd, data):  # the disk fills up midway through the new file
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        sequential().save(path)
    monkeypatch.undo()
    assert len(calls) == 2 and path.read_bytes() == old and _listing(tmp_path) == ["m.graphc"]
    (tmp_path / "m.graphc.k1ll3d.partial").write_bytes(b"PK")  # left by a writer killed midway
    np.testing.assert_array_equal(gc.models.load_model(path).predict(X, verbose=0), first.predict(X, verbose=0))
    second = sequential()
    second.save(path)  # overwrite=True replaces it
    np.testing.assert_array_equal(gc.models.load_model(path).predict(X, verbose=0), second.predict(X, verbose=0))
    assert _listing(tmp_path) == ["m.graphc"]


def test_save_weights_and_load_weights_still_work(tmp_path):
    model = sequential()
    prefix = model.save_weights(tmp_path / "w")
    other = sequential()
    other.load_weights(prefix)
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))


@gc.utils.register_serializable(package="SavingTest")
class PairModel(gc.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = gc.layers.Dense(2)

    def call(self, inputs):
        first, second = inputs
        return self.dense(first + second)


def test_a_subclassed_model_of_several_inputs_records_no_build_shape(tmp_path):
    model = PairModel()
    model([X, X])
    model.save(tmp_path / "pair.graphc")
    with pytest.raises(CheckpointError, match=r"(?s)model/dense/kernel f32\[5,2\].*no variables yet"):
        gc.models.load_model(tmp_path / "pair.graphc")


@gc.utils.register_serializable(package="SavingTest")
class Halves(gc.initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return gc.fill(shape, 0.5) if dtype is None else gc.cast(gc.fill(shape, 0.5), dtype)


@gc.utils.register_serializable(package="SavingTest")
class SumOfWeights(gc.regularizers.Regularizer):
    def __init__(self, factor=0.1):
        self.factor = factor

    def __call__(self, weight):
        return self.factor * gc.reduce_sum(weight)

    def get_config(self):
        return {"factor": self.factor}


@gc.utils.register_serializable(package="SavingTest")
def cube(x):
    return x * x * x


def test_registered_initializers_regularizers_and_activations_in_layer_configs(tmp_path):
    model = gc.Sequential([gc.Input(shape=(5,)), gc.layers.Dense(3, activation=cube, kernel_initializer=Halves(),
                                                                   kernel_regularizer=SumOfWeights(0.25))])
    config = model.get_config()["layers"][1]["config"]
    assert config["activation"] == "SavingTest>cube"
    assert config["kernel_initializer"]["class_name"] == "SavingTest>Halves"
    assert config["kernel_regularizer"] == {"class_name": "SavingTest>SumOfWeights", "config": {"factor": 0.25}}
    model.save(tmp_path / "m.graphc")
    loaded = gc.models.load_model(tmp_path / "m.graphc")
    dense = loaded.layers[0]
    assert dense.activation is cube and type(dense.kernel_regularizer) is SumOfWeights
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    np.testing.assert_allclose(float(loaded.losses[0].numpy()), 0.25 * 0.5 * 15)


def test_the_moving_averages_of_use_ema_are_saved_and_continue(tmp_path):
    model = sequential()
    model.compile(gc.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9), "mse")
    model.fit(X, Y, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "ema.graphc")
    loaded = gc.models.load_model(tmp_path / "ema.graphc")
    assert loaded.optimizer.use_ema and loaded.optimizer.get_slot_names() == ["m", "v", "average"]
    for m in (model, loaded):
        m.fit(X, Y, batch_size=8, shuffle=False, verbose=0)  # fit ends copying the averages in
    for mine, theirs in zip(model.variables, loaded.variables, strict=True):
        assert mine.numpy().tobytes() == theirs.numpy().tobytes()


def test_a_functional_model_with_two_inputs_and_outputs_continues_bit_for_bit(tmp_path):
    gc.random.set_seed(3)
    first, second = gc.Input((5,), name="first"), gc.Input((5,), name="second")
    shared = gc.layers.Dense(4, activation="relu")
    hidden = gc.layers.Concatenate()([shared(first), shared(second * 2.0)])
    out_a, out_b = gc.layers.Dense(2, name="a")(hidden), gc.layers.Dense(1, name="b")(hidden)
    model = gc.Model([first, second], [out_a, out_b])
    model.compile(gc.optimizers.Adam(SCHEDULES["exponential"]()), loss={"a": "mse", "b": gc.losses.Huber(delta=0.5)},
                  loss_weights={"a": 1.0, "b": 0.3}, metrics={"a": ["mae"], "b": [scaled_error]})
    x, y = [X, X[::-1].copy()], [Y, Y[:, :1]]
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "f.graphc")
    loaded = gc.models.load_model(tmp_path / "f.graphc")
    assert type(loaded) is type(model) and [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    histories = [m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history for m in (model, loaded)]
    assert histories[0] == histories[1] and "b_scaled_error" in histories[0]
    for mine, theirs in zip(model.variables, loaded.variables, strict=True):
        assert mine.numpy().tobytes() == theirs.numpy().tobytes()
