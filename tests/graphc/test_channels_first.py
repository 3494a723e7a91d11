"""data_format="channels_first" (NCHW, NCW) for the convolutions, pooling and Flatten: each equals the
channels-last layer with the same weights between transposes, compiled and eager, with gradients;
configs keep it; bad values are clear errors; against Keras itself where TensorFlow is installed."""
import numpy as np
import pytest

import graphc as gc
from graphc.errors import InvalidArgumentError

L = gc.layers
rng = np.random.default_rng(6)
IMAGES = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)  # NCHW
SEQUENCES = rng.normal(size=(2, 3, 9)).astype(np.float32)  # NCW

LAYERS = [
    ("Conv2D", lambda f: L.Conv2D(4, 3, padding="same", activation="relu", data_format=f), IMAGES),
    ("Conv2D_strided", lambda f: L.Conv2D(2, (3, 2), strides=2, dilation_rate=1, data_format=f), IMAGES),
    ("Conv1D", lambda f: L.Conv1D(4, 3, dilation_rate=2, data_format=f), SEQUENCES),
    ("DepthwiseConv2D", lambda f: L.DepthwiseConv2D(3, depth_multiplier=2, data_format=f), IMAGES),
    ("SeparableConv2D", lambda f: L.SeparableConv2D(5, 3, padding="same", data_format=f), IMAGES),
    ("Conv2DTranspose", lambda f: L.Conv2DTranspose(3, 3, strides=2, data_format=f), IMAGES),
    ("MaxPooling2D", lambda f: L.MaxPooling2D(2, data_format=f), IMAGES),
    ("AveragePooling2D", lambda f: L.AveragePooling2D(3, strides=1, padding="same", data_format=f), IMAGES),
]


def to_last(x):
    return np.moveaxis(x, 1, -1)


@pytest.mark.parametrize("name, make, x", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_channels_first_is_channels_last_between_transposes(name, make, x, compiled):
    first, last = make("channels_first"), make("channels_last")
    last(to_last(x))
    first(x)
    assert [w.shape for w in first.weights] == [w.shape for w in last.weights]
    first.set_weights(last.get_weights())
    call = gc.function(lambda t: first(t)) if compiled else first
    np.testing.assert_allclose(to_last(call(x).numpy()), last(to_last(x)).numpy(), rtol=1e-5, atol=1e-6)
    assert first.get_config()["data_format"] == "channels_first"
    assert type(first).from_config(first.get_config()).data_format == "channels_first"


@pytest.mark.parametrize("name, make, x", LAYERS[:6], ids=[c[0] for c in LAYERS[:6]])
def test_gradients_match_the_channels_last_layer(name, make, x):
    first, last = make("channels_first"), make("channels_last")
    last(to_last(x))
    first(x)
    first.set_weights(last.get_weights())
    grads = []
    for layer, data in ((first, x), (last, to_last(x))):
        with gc.GradientTape() as tape:
            loss = gc.reduce_sum(gc.square(layer(data)))
        grads.append([g.numpy() for g in tape.gradient(loss, layer.trainable_variables)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_flatten_channels_first_keeps_the_channels_last_order():
    flat = L.Flatten(data_format="channels_first")(IMAGES).numpy()
    np.testing.assert_array_equal(flat, to_last(IMAGES).reshape(2, -1))
    np.testing.assert_array_equal(L.Flatten()(IMAGES).numpy(), IMAGES.reshape(2, -1))


def test_a_channels_first_cnn_trains_compiled():
    model = gc.Sequential([
        gc.Input(shape=(3, 7, 6)), L.Conv2D(4, 3, activation="relu", data_format="channels_first"),
        L.MaxPooling2D(2, data_format="channels_first"), L.Flatten(data_format="channels_first"), L.Dense(2),
    ])
    model.compile(gc.optimizers.Adam(0.01), gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = (IMAGES.mean((1, 2, 3)) > 0).astype(np.int32)
    history = model.fit(np.repeat(IMAGES, 8, 0), np.repeat(labels, 8), batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make", [
    lambda: L.Conv2D(2, 3, data_format="NCHW"), lambda: L.MaxPooling2D(data_format="first"),
    lambda: L.Flatten(data_format="channels_middle"), lambda: L.Conv1D(2, 3, data_format=1),
])
def test_unknown_data_formats_are_clear_errors(make):
    with pytest.raises(InvalidArgumentError, match="data_format must be one of"):
        make()


@pytest.mark.parametrize("name, make, x", LAYERS, ids=[c[0] for c in LAYERS])
def test_matches_keras_itself(tf, name, make, x):
    ours = make("channels_first")
    ours(x)
    config = {k: v for k, v in ours.get_config().items() if k not in ("name", "trainable", "dtype")}
    theirs = getattr(tf.keras.layers, name.split("_")[0])(**config)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), np.asarray(theirs(x)), rtol=1e-4, atol=1e-5)
