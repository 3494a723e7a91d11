"""gc.layers: every layer against a NumPy formula, eagerly and compiled; lazy building, weights,
losses, training flags, configs."""
import json
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

rng = np.random.default_rng(0)


def images(*shape):
    return rng.normal(size=shape).astype(np.float32)


def np_conv(x, k, stride, padding):
    """Direct NHWC cross-correlation with TensorFlow's 'same' padding."""
    kh, kw, _, f = k.shape
    n, h, w, _ = x.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = np.einsum("nabc,abcf->nf", x[:, i * stride:i * stride + kh, j * stride:j * stride + kw], k)
    return out


def np_pool(x, size, stride, padding, reduce):
    """Pooling over windows; with 'same' padding over the elements inside the image only."""
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + size - h, 0), max((ow - 1) * stride + size - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow, top, left = (h - size) // stride + 1, (w - size) // stride + 1, 0, 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - top, j * stride - left
            window = x[:, max(r0, 0):r0 + size, max(c0, 0):c0 + size]
            out[:, i, j] = reduce(window, axis=(1, 2))
    return out


def np_batch_norm(x, mean, var, gamma, beta, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


# name, layer factory, input, call kwargs, reference(layer, x)
LAYERS = [
    ("dense_relu", lambda: L.Dense(4, activation="relu"), images(3, 5), {},
     lambda l, x: np.maximum(x @ l.kernel.numpy() + l.bias.numpy(), 0)),
    ("dense_3d_no_bias", lambda: L.Dense(2, use_bias=False), images(2, 3, 5), {},
     lambda l, x: x @ l.kernel.numpy()),
    ("activation_tanh", lambda: L.Activation("tanh"), images(3, 4), {}, lambda l, x: np.tanh(x)),
    ("flatten", lambda: L.Flatten(), images(2, 3, 4, 2), {}, lambda l, x: x.reshape(2, -1)),
    ("reshape", lambda: L.Reshape((4, -1)), images(2, 3, 4), {}, lambda l, x: x.reshape(2, 4, 3)),
    ("dropout_inference", lambda: L.Dropout(0.5), images(3, 4), {}, lambda l, x: x),
    ("batch_norm_inference", lambda: L.BatchNormalization(), images(6, 3), {},
     lambda l, x: np_batch_norm(x, 0.0, 1.0, 1.0, 0.0)),
    ("batch_norm_training", lambda: L.BatchNormalization(axis=1), images(5, 3, 2), {"training": True},
     lambda l, x: np_batch_norm(x, x.mean((0, 2), keepdims=True), x.var((0, 2), keepdims=True), 1.0, 0.0)),
    ("conv2d_valid", lambda: L.Conv2D(3, 3), images(2, 6, 5, 2), {},
     lambda l, x: np_conv(x, l.kernel.numpy(), 1, "valid") + l.bias.numpy()),
    ("conv2d_same_stride2_relu", lambda: L.Conv2D(4, (3, 3), strides=2, padding="same", activation="relu"),
     images(2, 7, 6, 3), {}, lambda l, x: np.maximum(np_conv(x, l.kernel.numpy(), 2, "same") + l.bias.numpy(), 0)),
    ("max_pool_valid", lambda: L.MaxPool2D(2), images(2, 5, 4, 3), {},
     lambda l, x: np_pool(x, 2, 2, "valid", np.max)),
    ("max_pool_same_overlapping", lambda: L.MaxPool2D(3, strides=2, padding="same"), images(2, 5, 6, 2), {},
     lambda l, x: np_pool(x, 3, 2, "same", np.max)),
    ("avg_pool_valid_stride1", lambda: L.AveragePool2D(2, strides=1), images(1, 4, 4, 2), {},
     lambda l, x: np_pool(x, 2, 1, "valid", np.mean)),
    ("avg_pool_same", lambda: L.AveragePooling2D(3, strides=2, padding="same"), images(2, 5, 5, 1), {},
     lambda l, x: np_pool(x, 3, 2, "same", np.mean)),
]


@pytest.mark.parametrize("name,make,x,kwargs,reference", LAYERS, ids=[c[0] for c in LAYERS])
def test_layers_match_numpy_eagerly_and_compiled(name, make, x, kwargs, reference):
    layer = make()
    eager = layer(x, **kwargs).numpy()
    np.testing.assert_allclose(eager, reference(layer, x), rtol=1e-4, atol=1e-5)
    compiled = gc.function(lambda x: layer(x, **kwargs))(x).numpy()
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)


def test_weights_are_built_lazily_from_the_first_input():
    dense = L.Dense(3)
    assert not dense.built and dense.weights == []
    dense(np.ones((2, 7), np.float32))
    assert dense.built
    assert [(v.name, v.shape) for v in dense.weights] == [(f"{dense.name}/kernel", (7, 3)), (f"{dense.name}/bias", (3,))]
    conv = L.Conv2D(8, (3, 2))
    gc.function(lambda x: conv(x))(np.ones((1, 5, 5, 4), np.float32))  # built while tracing
    assert conv.kernel.shape == (3, 2, 4, 8) and conv.count_params() == 3 * 2 * 4 * 8 + 8


def test_layer_names_are_unique_per_class():
    names = [L.Dense(1).name for _ in range(3)] + [L.Conv2D(1, 1).name, L.MaxPool2D().name]
    assert len(set(names)) == 5
    assert all(re.fullmatch(r"dense(_\d+)?", n) for n in names[:3])
    assert re.fullmatch(r"conv2d(_\d+)?", names[3]) and re.fullmatch(r"max_pool2d(_\d+)?", names[4])


class ComputeSum(L.Layer):
    """The seeds' layer with a non-trainable weight."""

    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(shape=(input_dim,), initializer="zeros", trainable=False)

    def call(self, inputs):
        self.total.assign_add(gc.reduce_sum(inputs, axis=0))
        return self.total.read_value()


class Block(L.Layer):
    def __init__(self):
        super().__init__()
        self.hidden = L.Dense(4, activation="relu", kernel_regularizer=gc.regularizers.L2(0.1))
        self.norm = L.BatchNormalization()
        self.dropout = L.Dropout(0.5, seed=1)
        self.out = L.Dense(2)

    def call(self, x, training=False):
        self.add_loss(gc.reduce_mean(x))
        return self.out(self.dropout(self.norm(self.hidden(x)), training=training))


def test_weights_trainability_and_nesting():
    summer = ComputeSum(2)
    np.testing.assert_allclose(summer(np.ones((3, 2), np.float32)).numpy(), [3, 3])
    np.testing.assert_allclose(summer(np.ones((3, 2), np.float32)).numpy(), [6, 6])
    assert summer.trainable_weights == [] and len(summer.non_trainable_weights) == 1
    assert summer.non_trainable_weights[0] is summer.total
    block = Block()
    block(np.ones((4, 3), np.float32))
    names = [v.name.split("/")[-1] for v in block.weights]
    assert names == ["kernel", "bias", "gamma", "beta", "kernel", "bias", "moving_mean", "moving_variance"]
    assert block.layers == [block.hidden, block.norm, block.dropout, block.out]
    state = block.dropout.generator.state
    assert any(v is state for v in block.variables) and not any(v is state for v in block.weights)
    block.norm.trainable = False
    assert len(block.trainable_weights) == 4 and len(block.non_trainable_weights) == 4
    block.trainable = False
    assert block.trainable_weights == [] and block.trainable_variables == []


def test_losses_hold_the_last_call_and_the_regularization_penalties():
    block = Block()
    x = np.full((4, 3), 2.0, np.float32)
    block(x)
    block(x)  # the add_loss of the first call is gone
    activity, penalty = block.losses
    assert float(activity) == pytest.approx(2.0)
    assert float(penalty) == pytest.approx(0.1 * np.sum(block.hidden.kernel.numpy() ** 2), rel=1e-5)
    regularized = L.Dense(2, activity_regularizer=gc.regularizers.L1(0.5))
    y = regularized(x)
    assert float(regularized.losses[0]) == pytest.approx(0.5 * np.abs(y.numpy()).sum(), rel=1e-5)


def test_training_flag_reaches_nested_layers_and_changes_behaviour():
    block = Block()
    x = rng.normal(size=(64, 3)).astype(np.float32)
    inference = block(x).numpy()
    np.testing.assert_array_equal(block(x, training=False).numpy(), inference)
    moving_before = block.norm.moving_mean.numpy()
    trained = block(x, training=True).numpy()
    assert not np.allclose(trained, inference)
    assert not np.array_equal(block.norm.moving_mean.numpy(), moving_before)  # BatchNormalization updated
    mean = np.maximum(x @ block.hidden.kernel.numpy() + block.hidden.bias.numpy(), 0).mean(0)
    np.testing.assert_allclose(block.norm.moving_mean.numpy(), moving_before * 0.99 + mean * 0.01, rtol=1e-5)


def test_dropout_masks_are_fresh_on_each_compiled_call_and_scaled():
    dropout = L.Dropout(0.25, seed=3)
    step = gc.function(lambda x: dropout(x, training=True))
    x = np.ones((200, 50), np.float32)
    first, second = step(x).numpy(), step(x).numpy()
    assert step.trace_count == 1 and not np.array_equal(first, second)
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.75)}
    assert abs((first == 0).mean() - 0.25) < 0.02


def test_get_and_set_weights_round_trip_and_mismatches_change_nothing():
    dense = L.Dense(2)
    dense(np.ones((1, 3), np.float32))
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 2, bias + 1])
    np.testing.assert_array_equal(dense.kernel.numpy(), kernel * 2)
    before = dense.get_weights()
    for bad, fragment in (([kernel], "has 2 weights"), ([kernel.T, bias], "expected shape (3, 2)"),
                          ([kernel.astype(np.complex64), bias], "cannot store")):
        with pytest.raises(gc.errors.InvalidArgumentError, match=re.escape(fragment)):
            dense.set_weights(bad)
        for a, b in zip(before, dense.get_weights()):
            np.testing.assert_array_equal(a, b)


class Linear(L.Layer):
    def __init__(self, units=32, scale=1.0):
        super().__init__()
        self.units, self.scale = units, scale


CONFIGS = [
    L.Dense(5, activation="relu", use_bias=False, kernel_regularizer="l2", kernel_initializer="he_normal"),
    L.Activation("softmax"),
    L.Flatten(),
    L.Reshape((2, -1)),
    L.Dropout(0.3, seed=4),
    L.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False),
    L.Conv2D(6, 3, strides=(2, 1), padding="same", activation="tanh"),
    L.MaxPool2D(3, strides=2, padding="same"),
    L.AveragePool2D((2, 3)),
    Linear(units=7, scale=0.5),
]


@pytest.mark.parametrize("layer", CONFIGS, ids=[type(c).__name__ for c in CONFIGS])
def test_get_config_from_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))  # plain data
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = L.deserialize(L.serialize(layer), custom_objects={"Linear": Linear})
    assert type(restored) is type(layer) and restored.get_config() == config


def test_a_constructor_argument_that_is_not_data_needs_get_config():
    class Holder(L.Layer):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

    with pytest.raises(TypeError, match="override get_config"):
        Holder(np.sin).get_config()


def test_input_and_symbolic_build_give_shapes_without_computing():
    summer = ComputeSum(3)
    assert L.symbolic_call(summer, (None, 3)) == (3,)
    np.testing.assert_array_equal(summer.total.numpy(), [0, 0, 0])  # the throw-away graph never ran
    model = gc.Sequential([gc.Input(shape=(4, 4, 1)), L.Conv2D(2, 3, padding="same"), L.MaxPool2D(), L.Flatten()])
    assert [l.compute_output_shape((None, 4, 4, 1)) for l in model.layers[:1]] == [(None, 4, 4, 2)]
    assert model.layers[-1]._output_shape[1:] == (8,)


def test_layers_and_their_gradients_work_on_a_batch_known_only_at_run_time():
    model = gc.Sequential([L.Conv2D(3, 3, padding="same", activation="relu"), L.MaxPool2D(3, 2, padding="same"),
                           L.AveragePool2D(2), L.Flatten(), L.Dropout(0.3), L.Dense(2)])
    x = images(4, 8, 8, 2)
    model(x)

    def loss_and_grads(x, training):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(model(x, training=training))
        return loss, tape.gradient(loss, model.trainable_variables)

    step = gc.function(lambda x: loss_and_grads(x, False), input_signature=[gc.TensorSpec([None, 8, 8, 2])])
    loss, grads = step(x)
    eager_loss, eager_grads = loss_and_grads(x, False)
    np.testing.assert_allclose(loss.numpy(), eager_loss.numpy(), rtol=1e-5)
    for a, b in zip(grads, eager_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    assert step(x[:3])[0].shape == () and step.trace_count == 1
    training = gc.function(lambda x: loss_and_grads(x, True), input_signature=[gc.TensorSpec([None, 8, 8, 2])])
    assert training(x)[0].shape == ()  # dropout's mask takes the run-time batch size
