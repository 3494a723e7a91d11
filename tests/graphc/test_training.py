"""Model.compile/fit/evaluate/predict: the train step is one compiled function, compiled and eager
training agree, callbacks, datasets, validation, subclassed models and custom steps."""
import io
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

rng = np.random.default_rng(1)
X = rng.normal(size=(96, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)


def make_model(dropout=0.2):
    return gc.Sequential([
        gc.Input(shape=(4,)), L.Dense(16, activation="relu"), L.BatchNormalization(), L.Dropout(dropout), L.Dense(3),
    ])


def compiled_model(optimizer="adam", **kwargs):
    model = make_model(**kwargs)
    model.compile(optimizer=optimizer, loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def quiet(fn, *args, **kwargs):
    with redirect_stdout(io.StringIO()) as out:
        result = fn(*args, **kwargs)
    return result, out.getvalue()


def test_fit_trains_and_the_train_step_is_one_compiled_graph():
    gc.random.set_seed(0)
    model = compiled_model(gc.optimizers.Adam(0.05))
    history, _ = quiet(model.fit, X, Y, batch_size=32, epochs=8, validation_data=(X[:32], Y[:32]))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(8)) and history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.75
    assert model.train_function.trace_count == 1  # 96 examples: three full batches of 32
    graph = model.train_function.concrete_functions[0].graph
    assigned = {node.attrs["var"] for node in graph.nodes if node.op == "assign_variable"}
    for var in model.trainable_variables + [model.optimizer.iterations] + [s for _, _, s in model.optimizer.slots()]:
        assert any(graph.variables[name] is var for name in assigned), var.name
    moving = [v for v in model.variables if "moving" in v.name]
    assert len(moving) == 2 and all(any(graph.variables[n] is v for n in assigned) for v in moving)
    assert any(node.is_gradient for node in graph.nodes) and any(node.op == "random_uniform_like" for node in graph.nodes)
    assert {n.scope.split("/")[0] for n in graph.nodes if n.op == "matmul" and not n.is_gradient} == {model.name}


def test_compiled_and_eager_training_give_the_same_weights():
    def train(eager):
        gc.random.set_seed(5)
        model = compiled_model(gc.optimizers.SGD(0.1, momentum=0.9))
        with gc.config.run_functions_eagerly(eager):
            quiet(model.fit, X, Y, batch_size=40, epochs=2)
        return model

    compiled, eager = train(False), train(True)
    assert compiled.train_function.trace_count == 2 and eager.train_function.trace_count == 0  # 40, 40, 16
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_evaluate_and_predict_match_a_direct_computation():
    model = compiled_model()
    model.build((None, 4))
    logits = model(X).numpy()
    np.testing.assert_allclose(quiet(model.predict, X, batch_size=40)[0], logits, rtol=1e-5, atol=1e-6)
    shifted = logits - logits.max(1, keepdims=True)
    loss = np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(Y)), Y])
    accuracy = np.mean(logits.argmax(1) == Y)
    (got_loss, got_accuracy), _ = quiet(model.evaluate, X, Y, batch_size=40)
    assert got_loss == pytest.approx(loss, rel=1e-5) and got_accuracy == pytest.approx(accuracy)
    weights = (Y == 0).astype(np.float32)
    logs, _ = quiet(model.evaluate, X, Y, sample_weight=weights, return_dict=True, verbose=0)
    per_example = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(Y)), Y]
    assert logs["loss"] == pytest.approx(np.mean(per_example * weights), rel=1e-5)


def test_validation_split_holds_out_the_last_examples():
    model = compiled_model()
    history, _ = quiet(model.fit, X, Y, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(X[72:], Y[72:], verbose=0)[0], rel=1e-5)


def test_fit_takes_datasets_and_steps_per_epoch():
    model = compiled_model()
    ds = gc.data.Dataset.from_tensor_slices((X, Y)).shuffle(96, seed=0).batch(16)
    history, output = quiet(model.fit, ds, epochs=2, validation_data=ds.take(2), verbose=2)
    assert len(history.history["val_accuracy"]) == 2
    assert re.search(r"^6/6 - \d+s \d+[mu]?s/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss", output, re.M)
    repeated = gc.data.Dataset.from_tensor_slices((X, Y)).batch(16).repeat()
    seen = []
    quiet(model.fit, repeated, epochs=3, steps_per_epoch=4,
          callbacks=[gc.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))])
    assert seen == [0, 1, 2, 3] * 3


def test_the_progress_line_and_summary():
    model = compiled_model()
    _, output = quiet(model.fit, X, Y, batch_size=32, epochs=2)
    assert re.search(r"^Epoch 2/2\n3/3 \[=+\] - \d+s \d+[mu]?s/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}$", output, re.M)
    _, summary = quiet(model.summary)
    assert "dense" in summary and "(None, 16)" in summary and "Total params: 195" in summary
    assert "Trainable params: 163" in summary
    assert "Non-trainable params: 32" in summary  # the moving mean and variance


def test_callbacks_early_stopping_and_a_learning_rate_schedule_without_retracing():
    model = compiled_model(gc.optimizers.SGD(0.5))
    rates = []
    callbacks = [
        gc.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5),
        gc.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: rates.append(float(model.optimizer.learning_rate.numpy()))),
        gc.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=1),
    ]
    history, _ = quiet(model.fit, X, Y, batch_size=96, epochs=10, callbacks=callbacks, verbose=0)
    assert len(history.epoch) == 3  # the first epoch sets the best; two without improvement stop it
    assert rates == [0.25, 0.125, 0.0625] and history.history["learning_rate"] == rates
    assert model.train_function.trace_count == 1


class MLP(gc.Model):
    """The seeds' subclassed model, with an activity penalty and a kernel regularizer."""

    def __init__(self):
        super().__init__()
        self.hidden = L.Dense(8, activation="relu", kernel_regularizer=gc.regularizers.L2(1e-3))
        self.out = L.Dense(3)

    def call(self, x, training=False):
        h = self.hidden(x)
        self.add_loss(1e-3 * gc.reduce_mean(gc.square(h)))
        return self.out(h)


def test_subclassed_models_train_with_their_losses_included():
    gc.random.set_seed(2)
    model = MLP()
    model.compile(gc.optimizers.Adam(0.05), gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    history, _ = quiet(model.fit, X, Y, epochs=5, batch_size=32)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers == [model.hidden, model.out] and len(model.losses) == 2
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    logits = model.predict(X, verbose=0)
    h = np.maximum(X @ model.hidden.kernel.numpy() + model.hidden.bias.numpy(), 0)
    shifted = logits - logits.max(1, keepdims=True)
    data_loss = np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(96), Y])
    penalties = 1e-3 * np.sum(model.hidden.kernel.numpy() ** 2) + 1e-3 * np.mean(h ** 2)
    assert logs["loss"] == pytest.approx(data_loss + penalties, rel=1e-4)


def test_a_custom_train_step_is_compiled_by_fit():
    class Custom(gc.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1)
            self.tracker = gc.metrics.Mean(name="custom_loss")

        def call(self, x):
            return self.dense(x)

        @property
        def metrics(self):
            return [self.tracker]  # reset by fit at each epoch start

        def train_step(self, data):
            x, y = data
            with gc.GradientTape() as tape:
                loss = gc.reduce_mean(gc.square(self(x)[:, 0] - y))
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables))
            self.tracker.update_state(loss)
            return {"custom_loss": self.tracker.result()}

    model = Custom()
    model.compile(gc.optimizers.SGD(0.1))
    target = X @ np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    history, _ = quiet(model.fit, X, target, epochs=30, batch_size=96)
    assert history.history["custom_loss"][-1] < 0.01
    assert model.train_function.trace_count == 1


def test_run_eagerly_and_errors():
    model = make_model()
    with pytest.raises(gc.errors.InvalidArgumentError, match="compile the model first"):
        model.fit(X, Y)
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    quiet(model.fit, X, Y, epochs=1)
    assert model.train_function.trace_count == 0
    with pytest.raises(gc.errors.InvalidArgumentError, match="outputs must be a KerasTensor"):
        gc.Model(gc.Input(shape=(2,)), L.Dense(1))


def test_sequential_add_pop_and_lazy_build():
    model = gc.Sequential()
    model.add(L.Dense(5, input_shape=(3,)))
    assert model.built and model.layers[0].kernel.shape == (3, 5)
    model.add(L.Dense(2))
    assert model.layers[1].kernel.shape == (5, 2)
    popped = model.pop()
    assert popped.units == 2 and len(model.layers) == 1
    lazy = gc.Sequential([L.Dense(4), L.Dense(1)])
    assert not lazy.built and lazy.weights == []
    lazy(np.ones((2, 6), np.float32))
    assert [v.shape for v in lazy.weights] == [(6, 4), (4,), (4, 1), (1,)]
    clone = gc.Sequential.from_config(model.get_config())
    assert clone.layers[0].kernel.shape == (3, 5) and clone.get_config()["layers"] == model.get_config()["layers"]
