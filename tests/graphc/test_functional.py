"""The functional API: gc.Input, layers called on KerasTensors, gc.Model(inputs, outputs) with several
inputs and outputs, shared layers, nested models and operators; the same model written as a subclass
gives the same outputs, gradients and training steps; configs round-trip; summaries; bad input."""
import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.ir.errors import InvalidArgumentError, ShapeError
from graphc.layers.keras_tensor import KerasTensor

rng = np.random.default_rng(7)
XA = rng.normal(size=(24, 4)).astype(np.float32)
XB = rng.normal(size=(24, 3)).astype(np.float32)
Y1 = rng.normal(size=(24, 2)).astype(np.float32)
Y2 = rng.integers(0, 3, size=24)


def quiet(fn, *args, **kwargs):
    with redirect_stdout(io.StringIO()) as out:
        result = fn(*args, **kwargs)
    return result, out.getvalue()


def functional_model():
    """Two inputs, two outputs, a layer shared by both branches, a nested functional model (with
    batch normalization, so `training` must reach it) and an operator (sa + sb)."""
    a, b = gc.Input((4,), name="a"), gc.Input((3,), name="b")
    x = gc.Input((5,), name="block_in")
    block = gc.Model(x, L.BatchNormalization(name="block_bn")(L.Dense(4, activation="relu", name="block_dense")(x)),
                     name="block")
    shared = L.Dense(5, activation="tanh", name="shared")
    sa, sb = shared(L.Dense(6, name="pa")(a)), shared(L.Dense(6, name="pb")(b))
    merged = L.Concatenate(name="merge")([block(sa), sb])
    out1 = L.Dense(2, name="out1")(merged)
    out2 = L.Dense(3, activation="softmax", name="out2")(sa + sb)
    return gc.Model([a, b], [out1, out2], name="twin")


class SubclassedTwin(gc.Model):
    """The same computation as ``functional_model``, written by hand."""

    def __init__(self):
        super().__init__()
        self.pa, self.pb = L.Dense(6), L.Dense(6)
        self.shared = L.Dense(5, activation="tanh")
        self.block_dense, self.block_bn = L.Dense(4, activation="relu"), L.BatchNormalization()
        self.out1, self.out2 = L.Dense(2), L.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        a, b = inputs
        sa, sb = self.shared(self.pa(a)), self.shared(self.pb(b))
        merged = gc.concat([self.block_bn(self.block_dense(sa)), sb], axis=-1)
        return [self.out1(merged), self.out2(sa + sb)]


def twins():
    model, twin = functional_model(), SubclassedTwin()
    twin([XA[:2], XB[:2]])
    block = model.get_layer("block")
    pairs = [(model.get_layer(n), getattr(twin, n)) for n in ("pa", "pb", "shared", "out1", "out2")]
    pairs += [(block.get_layer("block_dense"), twin.block_dense), (block.get_layer("block_bn"), twin.block_bn)]
    for theirs, ours in pairs:
        ours.set_weights(theirs.get_weights())
    return model, twin, pairs


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("training", [False, True])
def test_forward_matches_the_subclassed_twin_eagerly_and_compiled(training):
    model, twin, _ = twins()
    expected = [t.numpy() for t in twin([XA, XB], training=training)]
    for got in (model([XA, XB], training=training),
                gc.function(lambda a, b: model([a, b], training=training))(XA, XB)):
        assert len(got) == 2
        for g, e in zip(got, expected):
            close(g.numpy(), e)
    with_bn_stats = model([XA, XB], training=True)[0].numpy()
    assert not np.allclose(with_bn_stats, model([XA, XB], training=False)[0].numpy())  # training reaches the block


def test_gradients_match_the_subclassed_twin():
    model, twin, pairs = twins()

    def grads(m, variables):
        with gc.GradientTape() as tape:
            o1, o2 = m([XA, XB], training=True)
            loss = gc.reduce_sum(o1 * o1) + gc.reduce_sum(o2 * np.arange(3, dtype=np.float32))
        return tape.gradient(loss, variables)

    theirs = [v for f, _ in pairs for v in f.trainable_weights]
    ours = [v for _, t in pairs for v in t.trainable_weights]
    assert len(theirs) == len(model.trainable_weights) == 14
    for g, e in zip(grads(model, theirs), grads(twin, ours)):
        close(g.numpy(), e.numpy(), 1e-5)


def test_fit_steps_match_the_subclassed_twin():
    model, twin, pairs = twins()
    histories = []
    for m in (model, twin):
        m.compile(gc.optimizers.SGD(0.1), loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
        histories.append(m.fit([XA, XB], [Y1, Y2], batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    close(histories[0]["loss"], histories[1]["loss"], 1e-5)
    close(histories[0]["out1_loss"], histories[1]["output_1_loss"], 1e-5)
    for theirs, ours in pairs:
        for f, t in zip(theirs.get_weights(), ours.get_weights()):
            close(f, t, 1e-5)


def test_multi_output_logs_and_losses_against_numpy():
    model = functional_model()
    model.compile("sgd", loss={"out1": "mse", "out2": "sparse_categorical_crossentropy"},
                  loss_weights={"out1": 2.0, "out2": 0.5}, metrics={"out1": ["mae"], "out2": "accuracy"})
    logs = model.evaluate({"a": XA, "b": XB}, {"out1": Y1, "out2": Y2}, batch_size=24, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "out1_loss", "out2_loss", "out1_mae", "out2_accuracy"}
    p1, p2 = model.predict([XA, XB], verbose=0)
    mse = np.mean((p1 - Y1) ** 2)
    xent = -np.mean(np.log(p2[np.arange(24), Y2]))
    close(logs["out1_loss"], mse, 1e-5)
    close(logs["out2_loss"], xent, 1e-5)
    close(logs["loss"], 2.0 * mse + 0.5 * xent, 1e-5)
    close(logs["out1_mae"], np.mean(np.abs(p1 - Y1)), 1e-5)
    close(logs["out2_accuracy"], np.mean(p2.argmax(-1) == Y2), 1e-6)
    history = model.fit([XA, XB], [Y1, Y2], epochs=2, batch_size=8, verbose=0, validation_split=0.25).history
    assert len(history["loss"]) == 2 and np.isfinite(history["val_loss"]).all()  # the steps: see the twin test
    assert {"val_loss", "val_out1_loss", "val_out2_loss", "val_out2_accuracy"} <= set(history)
    model.compile("sgd", loss="mse", metrics=[gc.metrics.MeanAbsoluteError()])  # one object, two outputs
    with pytest.raises(InvalidArgumentError, match="would serve several outputs"):
        model.evaluate([XA, XB], [Y1, np.zeros((24, 3), np.float32)], verbose=0)
    model.compile("sgd", loss="mse", metrics=["mae"])  # one loss and a flat list of names serve every output
    logs = model.evaluate([XA, XB], [Y1, np.zeros((24, 3), np.float32)], batch_size=24, verbose=0, return_dict=True)
    p1, p2 = model.predict([XA, XB], verbose=0)
    close(logs["loss"], np.mean((p1 - Y1) ** 2) + np.mean(p2 ** 2), 1e-5)
    close(logs["out2_mae"], np.mean(np.abs(p2)), 1e-5)


def test_dict_inputs_and_outputs():
    a, b = gc.Input((4,), name="a"), gc.Input((3,), name="b")
    model = gc.Model({"a": a, "b": b}, {"sum": L.Dense(1, name="s")(L.Concatenate()([a, b])), "copy": a})
    got = model({"b": XB, "a": XA})
    assert set(got) == {"sum", "copy"}
    close(got["copy"].numpy(), XA)
    s = model.get_layer("s")
    close(got["sum"].numpy(), np.concatenate([XA, XB], -1) @ s.kernel.numpy() + s.bias.numpy())
    model.compile("sgd", loss={"sum": "mse"})
    logs = model.fit({"a": XA, "b": XB}, {"sum": Y1[:, :1]}, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "sum_loss"}


def test_single_input_model_against_numpy_and_dense_layers_in_order():
    x = gc.Input((4,), name="x")
    h = L.Dense(8, activation="relu", name="h")(x)
    y = L.Dense(3, name="y")(h)
    model = gc.Model(inputs=x, outputs=y)
    assert [layer.name for layer in model.layers] == ["x", "h", "y"]
    assert isinstance(model.layers[0], L.InputLayer)
    w1, b1, w2, b2 = model.get_weights()
    close(model(XA).numpy(), np.maximum(XA @ w1 + b1, 0) @ w2 + b2)
    close(model.predict(XA, verbose=0), np.maximum(XA @ w1 + b1, 0) @ w2 + b2)
    assert model.inputs == [x] and model.outputs == [y] and model.input is x and model.output is y
    assert model.output_shape == (None, 3)


def test_keras_tensors_and_layer_input_output():
    x = gc.Input((5, 2), batch_size=4, dtype="float32", name="seq")
    assert isinstance(x, KerasTensor) and x.shape == (4, 5, 2) and x.dtype == gc.float32 and x.name == "seq"
    assert gc.layers.Input is gc.Input and gc.Input((3,)).shape == (None, 3)
    flat = L.Flatten(name="flat")
    y = flat(x)
    assert y.shape == (4, 10) and "KerasTensor shape=(4, 10)" in repr(y)
    assert flat.input is x and flat.output is y
    assert x._keras_history.layer.output is x
    z = flat(gc.Input((3, 3)))
    with pytest.raises(AttributeError, match="multiple inbound nodes.*get_output_at"):
        flat.output
    with pytest.raises(AttributeError, match="multiple inbound nodes.*get_input_at"):
        flat.input
    assert flat.get_output_at(0) is y and flat.get_output_at(1) is z and flat.get_input_at(0) is x
    with pytest.raises(InvalidArgumentError, match=r"node_index must be in \[0, 2\)"):
        flat.get_output_at(2)
    with pytest.raises(AttributeError, match="not connected"):
        L.Dense(2).output
    ints = gc.Input((6,), dtype="int32")
    assert L.Embedding(10, 3)(ints).shape == (None, 6, 3)


def test_feature_extractor_gives_every_layer_output():
    x = gc.Input((4,), name="x")
    h = L.Dense(8, activation="relu", name="h")(x)
    model = gc.Model(x, L.Dense(3, name="y")(L.Dropout(0.5, name="drop")(h)))
    extractor = gc.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    features = extractor(XA)
    assert len(features) == 4
    expected = XA
    for layer, got in zip(model.layers, features):
        expected = expected if isinstance(layer, L.InputLayer) else layer(expected).numpy()
        close(got.numpy(), expected)
    assert extractor.get_layer("h") is model.get_layer("h")  # the layers (and weights) are shared


def test_nested_sequential_and_model_as_layers():
    inner = gc.Sequential([gc.Input((3,)), L.Dense(4, name="s1"), L.Dense(2, name="s2")], name="stack")
    x = gc.Input((3,), name="x")
    model = gc.Model(x, L.Activation("relu", name="act")(inner(x)))
    outer = gc.Model(x, model(x) * 2.0)
    expected = np.maximum(inner(XB).numpy(), 0)
    close(model(XB).numpy(), expected)
    close(outer(XB).numpy(), 2 * expected)
    assert [layer.name for layer in model.layers] == ["x", "stack", "act"]
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_masks_propagate_as_in_sequential():
    tokens = np.array([[3, 5, 0, 0], [2, 0, 0, 0], [1, 2, 3, 4]])
    ids = gc.Input((4,), dtype="int32")
    embed, rnn = L.Embedding(10, 3, mask_zero=True), L.SimpleRNN(2)
    model = gc.Model(ids, rnn(embed(ids)))
    sequential = gc.Sequential([L.Embedding(10, 3, mask_zero=True), L.SimpleRNN(2)])
    sequential(tokens)
    sequential.set_weights(model.get_weights())
    close(model(tokens).numpy(), sequential(tokens).numpy())
    unmasked = gc.Sequential([L.Embedding(10, 3), L.SimpleRNN(2)])
    unmasked(tokens)
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(model(tokens).numpy(), unmasked(tokens).numpy())  # the mask did something


def test_operators_become_layers():
    a, b = gc.Input((3,), name="a"), gc.Input((3,), name="b")
    out = -abs(2.0 * a - b) / 4 + 1 ** a
    model = gc.Model([a, b], out)
    close(model([XB, XA[:, :3]]).numpy(), -np.abs(2 * XB - XA[:, :3]) / 4 + 1.0)
    names = [type(layer).__name__ for layer in model.layers if not isinstance(layer, L.InputLayer)]
    assert names == ["TFOpLambda"] * 7  # multiply, subtract, abs, negative, divide, power, add


def test_config_round_trip_gives_the_same_predictions():
    model = functional_model()
    config = json.loads(json.dumps(model.get_config()))
    assert set(config) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["out1", 0, 0], ["out2", 0, 0]]
    shared = next(entry for entry in config["layers"] if entry["name"] == "shared")
    assert shared["class_name"] == "Dense" and len(shared["inbound_nodes"]) == 2
    assert shared["inbound_nodes"][1]["args"][0]["config"]["keras_history"] == ["pb", 0, 0]
    block = next(entry for entry in config["layers"] if entry["name"] == "block")
    assert block["class_name"] == "Functional" and block["config"]["input_layers"] == ["block_in", 0, 0]
    for rebuilt in (gc.Model.from_config(config), L.deserialize(L.serialize(model))):
        assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
        rebuilt.set_weights(model.get_weights())
        for got, expected in zip(rebuilt.predict([XA, XB], verbose=0), model.predict([XA, XB], verbose=0)):
            np.testing.assert_array_equal(got, expected)
    assert json.loads(json.dumps(gc.Model.from_config(config).get_config())) == config


def test_weights_files_round_trip(tmp_path):
    model, other = functional_model(), functional_model()
    model([XA, XB], training=True)  # moves the batch normalization statistics away from their start
    model.save_weights(str(tmp_path / "w"))
    other.load_weights(str(tmp_path / "w"))
    for got, expected in zip(other.predict([XA, XB], verbose=0), model.predict([XA, XB], verbose=0)):
        np.testing.assert_array_equal(got, expected)


def test_config_of_a_shared_layer_used_outside_the_model_counts_its_calls_in_the_model():
    shared = L.Dense(2, name="shared2")
    shared(gc.Input((3,)))  # a call that is not part of the model
    x = gc.Input((3,), name="x2")
    model = gc.Model(x, L.Activation("relu", name="relu2")(shared(x)))
    config = model.get_config()
    relu = next(entry for entry in config["layers"] if entry["name"] == "relu2")
    assert relu["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["shared2", 0, 0]
    rebuilt = gc.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    close(rebuilt(XB).numpy(), model(XB).numpy())


class Scale(L.Layer):
    """A custom layer that is not registered: configs name it through custom_objects."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor


def test_custom_layers_inside_nested_models_load_through_custom_objects():
    x = gc.Input((3,), name="cx")
    inner = gc.Model(x, Scale(3.0, name="scale")(x), name="inner_custom")
    stack = gc.Sequential([gc.Input((3,)), Scale(0.5, name="half")], name="stack_custom")
    y = gc.Input((3,), name="cy")
    model = gc.Model(y, stack(inner(y)))
    config = json.loads(json.dumps(model.get_config()))
    with pytest.raises(InvalidArgumentError, match="unknown layer class 'Scale'"):
        gc.Model.from_config(config)
    rebuilt = gc.Model.from_config(config, custom_objects={"Scale": Scale})
    close(rebuilt(XB).numpy(), 1.5 * XB)


def test_hostile_configs_are_rejected():
    config = functional_model().get_config()
    unknown = json.loads(json.dumps(config))
    unknown["layers"][2]["class_name"] = "os.system"
    with pytest.raises(InvalidArgumentError, match="unknown layer class 'os.system'"):
        gc.Model.from_config(unknown)
    dangling = json.loads(json.dumps(config))
    dangling["output_layers"] = [["nowhere", 0, 0]]
    with pytest.raises(InvalidArgumentError, match="output_layers names"):
        gc.Model.from_config(dangling)
    cycle = json.loads(json.dumps(config))
    for entry in cycle["layers"]:
        if entry["name"] == "pa":
            entry["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["out1", 0, 0]
    with pytest.raises(InvalidArgumentError, match="take tensors that no layer of the config makes"):
        gc.Model.from_config(cycle)
    with pytest.raises(InvalidArgumentError, match="TFOpLambda: function must be one of"):
        L.deserialize({"class_name": "TFOpLambda", "config": {"function": "__import__"}})


def test_summary_shows_the_layer_graph():
    a, b = gc.Input((4,), name="a"), gc.Input((3,), name="b")
    merged = L.Concatenate(name="cat")([a, b])
    model = gc.Model([a, b], L.Dense(2, name="out")(L.Dense(8, name="hidden")(merged)), name="small")
    _, text = quiet(model.summary)
    lines = text.splitlines()
    assert lines[0] == 'Model: "small"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"]
    rows = [line.split(None, 2) for line in lines[4:9]]
    assert [r[0] for r in rows] == ["a", "b", "cat", "hidden", "out"]
    assert lines[4].split()[-1] == "-" and lines[6].endswith("a[0][0], b[0][0]")
    assert "(None, 8)" in lines[7] and lines[7].split()[-2:] == [str(7 * 8 + 8), "cat[0][0]"]
    assert f"Total params: {7 * 8 + 8 + 8 * 2 + 2}" in text and "Non-trainable params: 0" in text


def test_sequential_still_starts_with_input_and_extracts_features():
    model = gc.Sequential([gc.Input((4,)), L.Dense(8, activation="relu"), L.Dense(2)])
    assert model.built and model.layers[1].kernel.shape == (8, 2)
    extractor = gc.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    hidden, out = extractor(XA)
    w1, b1, w2, b2 = model.get_weights()
    close(hidden.numpy(), np.maximum(XA @ w1 + b1, 0))
    close(out.numpy(), np.maximum(XA @ w1 + b1, 0) @ w2 + b2)
    model.pop()
    model.add(L.Dense(3))
    assert model.outputs[0].shape == (None, 3) and len(model.layers[0].inbound_nodes) == 1
    with pytest.raises(AttributeError, match="has no inputs yet: start it with gc.Input"):
        gc.Sequential([L.Dense(2)]).inputs


BAD_MODELS = [
    ("unreachable output", lambda a, b: gc.Model(a, L.Add()([a, b])),
     InvalidArgumentError, r"the output \(.*\) is not connected to the inputs: it needs the input 'b2'"),
    ("tensor with a value", lambda a, b: gc.Model(a, gc.constant([1.0])),
     InvalidArgumentError, r"outputs must be a KerasTensor .*got Tensor \(a tensor with a value\)"),
    ("array input", lambda a, b: gc.Model([a, np.zeros(3)], a),
     InvalidArgumentError, r"inputs\[1\] must be a KerasTensor"),
    ("input not from gc.Input", lambda a, b: gc.Model(L.Dense(2)(a), a),
     InvalidArgumentError, r"inputs\[0\] .* is the output of layer 'dense.*must come from gc.Input"),
    ("duplicate names", lambda a, b: gc.Model(a, L.Dense(1, name="twice")(L.Dense(2, name="twice")(a))),
     InvalidArgumentError, r"\['twice'\] are used more than once"),
    ("no outputs", lambda a, b: gc.Model(a, []), InvalidArgumentError, "outputs is empty"),
    ("subclass with inputs", lambda a, b: type("Sub", (gc.Model,), {})(a, a),
     InvalidArgumentError, "only gc.Model.inputs, outputs. itself builds a functional model"),
]


@pytest.mark.parametrize("case,build,error,message", BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_bad_models_are_rejected(case, build, error, message):
    with pytest.raises(error, match=message):
        build(gc.Input((3,), name="a2"), gc.Input((3,), name="b2"))


def test_bad_calls_and_lookups():
    model = functional_model()
    with pytest.raises(InvalidArgumentError, match=r"model 'twin' expects 2 inputs \(a, b\), got 1"):
        model([XA])
    with pytest.raises(InvalidArgumentError, match=r"expects inputs named \['a', 'b'\], got a dict with keys \['a'\]"):
        model({"a": XA})
    with pytest.raises(ShapeError, match=r"input 1 \('b'\) of model 'twin' expects shape \(None, 3\), got \(24, 4\)"):
        model([XA, XA])
    with pytest.raises(InvalidArgumentError, match=r"no such layer: 'nope'; model 'twin' has the layers \['a', 'pa', 'b'"):
        model.get_layer("nope")
    with pytest.raises(InvalidArgumentError, match="index 99, but model 'twin' has only 10 layers"):
        model.get_layer(index=99)
    assert model.get_layer(index=-1).name == "out2" and model.get_layer(index=0).name == "a"
    with pytest.raises(InvalidArgumentError, match="give the name or the index, not both"):
        model.get_layer("a", 0)
    x = gc.Input((3,))
    with pytest.raises(InvalidArgumentError, match="has no value, so gc ops cannot take it.*Lambda"):
        gc.exp(x)
    with pytest.raises(InvalidArgumentError, match="cannot be indexed"):
        x[0]
    with pytest.raises(InvalidArgumentError, match="takes KerasTensors and Python numbers"):
        x + "text"
    with pytest.raises(InvalidArgumentError, match="a KerasTensor and a ndarray: a Python operator"):
        np.ones(3) + x
    assert (np.float32(2.0) * x).shape == (None, 3)
    with pytest.raises(InvalidArgumentError, match="has no truth value"):
        bool(x)
    with pytest.raises(InvalidArgumentError, match=r"has 3 entries, but the model has 2 outputs \['out1', 'out2'\]"):
        model.compile("sgd", loss=["mse", "mse", "mse"])
        model.fit([XA, XB], [Y1, Y2], verbose=0)
    with pytest.raises(InvalidArgumentError, match="loss_weights must be numbers .*got 'accuracy'; metrics go in metrics="):
        model.compile("sgd", "mse", ["accuracy"])  # Keras's order: loss_weights before metrics
    with pytest.raises(InvalidArgumentError, match=r"the keys \['out3'\], which are not output names"):
        model.compile("sgd", loss={"out3": "mse"})
        model.fit([XA, XB], [Y1, Y2], verbose=0)


def test_against_keras_itself(tf):
    """The same two-input, two-output model with a shared layer in Keras: outputs, layer order, config
    keys and one SGD epoch's logs (per-output losses named as Keras names them)."""
    keras = tf.keras

    def build(api, layers):
        a, b = api.Input((4,), name="a"), api.Input((4,), name="b")
        shared = layers.Dense(5, activation="tanh", name="shared")
        merged = layers.Concatenate(name="merge")([shared(a), shared(b)])
        out1 = layers.Dense(2, name="out1")(merged)
        out2 = layers.Dense(3, activation="softmax", name="out2")(layers.Dense(4, name="hidden")(merged))
        return api.Model([a, b], [out1, out2], name="pair")

    ours, theirs = build(gc, L), build(keras, keras.layers)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for layer in ours.layers:
        layer.set_weights(theirs.get_layer(layer.name).get_weights())
    xb = XA[::-1].copy()
    for got, expected in zip(ours.predict([XA, xb], verbose=0), theirs.predict([XA, xb], verbose=0)):
        close(got, expected, 1e-5)
    config, keras_config = ours.get_config(), theirs.get_config()
    assert set(config) <= set(keras_config)
    assert config["input_layers"] == [list(e) for e in keras_config["input_layers"]]
    assert config["output_layers"] == [list(e) for e in keras_config["output_layers"]]
    for entry, keras_entry in zip(config["layers"], keras_config["layers"]):
        assert entry["class_name"] == keras_entry["class_name"] and entry["name"] == keras_entry["name"]
        histories = lambda e: [leaf["config"]["keras_history"] for node in e["inbound_nodes"]  # noqa: E731
                               for leaf in _tensor_entries(node["args"])]
        assert histories(entry) == [list(h) for h in histories(keras_entry)]
    logs = []
    for model in (ours, theirs):
        model.compile(optimizer=(gc if model is ours else keras).optimizers.SGD(0.1),
                      loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
                      metrics=[["mae"], ["accuracy"]])
        logs.append(model.fit([XA, xb], [Y1, Y2], batch_size=8, epochs=1, shuffle=False, verbose=0).history)
    assert set(logs[0]) == set(logs[1]) == {"loss", "out1_loss", "out2_loss", "out1_mae", "out2_accuracy"}
    for key in logs[1]:
        close(logs[0][key], logs[1][key], 1e-5)


def _tensor_entries(structure):
    if isinstance(structure, dict):
        return [structure] if structure.get("class_name") == "__keras_tensor__" else []
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _tensor_entries(item)]
    return []
