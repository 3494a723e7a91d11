"""The layers whose weight layouts and formulas follow Keras, against Keras itself, weights copied
with get_weights/set_weights. Runs where TensorFlow is installed (``pip install -e '.[bench]'``);
skipped elsewhere."""
import os

import numpy as np
import pytest

import graphc as gc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
keras = tf.keras.layers
rng = np.random.default_rng(0)


def sequences(*shape):
    return rng.normal(size=shape).astype(np.float32)


# name, Keras layer, graphc layer, call arguments, call keyword arguments
PAIRS = [
    ("simple_rnn", lambda: keras.SimpleRNN(4, return_sequences=True), lambda: gc.layers.SimpleRNN(4, return_sequences=True),
     (sequences(2, 5, 3),), {}),
    ("lstm", lambda: keras.LSTM(4, return_sequences=True), lambda: gc.layers.LSTM(4, return_sequences=True),
     (sequences(2, 5, 3),), {}),
    ("gru", lambda: keras.GRU(4, go_backwards=True), lambda: gc.layers.GRU(4, go_backwards=True), (sequences(2, 5, 3),), {}),
    ("attention", lambda: keras.MultiHeadAttention(2, 3, value_dim=2), lambda: gc.layers.MultiHeadAttention(2, 3, value_dim=2),
     (sequences(2, 3, 6), sequences(2, 4, 5)), {"use_causal_mask": True}),
    ("embedding", lambda: keras.Embedding(10, 3), lambda: gc.layers.Embedding(10, 3), (np.array([[1, 2], [9, 0]]),), {}),
    ("layer_norm", lambda: keras.LayerNormalization(axis=[1, 2]), lambda: gc.layers.LayerNormalization(axis=[1, 2]),
     (sequences(2, 5, 3),), {}),
    ("group_norm", lambda: keras.GroupNormalization(groups=2), lambda: gc.layers.GroupNormalization(groups=2),
     (sequences(2, 3, 3, 4),), {}),
    ("upsampling_bilinear", lambda: keras.UpSampling2D(2, interpolation="bilinear"),
     lambda: gc.layers.UpSampling2D(2, interpolation="bilinear"), (sequences(2, 3, 4, 2),), {}),
    ("zero_padding", lambda: keras.ZeroPadding2D(((1, 0), (2, 3))), lambda: gc.layers.ZeroPadding2D(((1, 0), (2, 3))),
     (sequences(2, 3, 4, 2),), {}),
    ("cropping", lambda: keras.Cropping1D((1, 2)), lambda: gc.layers.Cropping1D((1, 2)), (sequences(2, 6, 3),), {}),
]


@pytest.mark.parametrize("name,make_keras,make_graphc,args,kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_graphc_layers_compute_what_keras_computes_with_the_same_weights(name, make_keras, make_graphc, args, kwargs):
    theirs, ours = make_keras(), make_graphc()
    theirs(*args, **kwargs)
    ours(*args, **kwargs)
    weights = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(*args, **kwargs).numpy(), np.asarray(theirs(*args, **kwargs)), rtol=1e-5, atol=1e-5)
