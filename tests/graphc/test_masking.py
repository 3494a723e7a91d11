"""Keras masking: Embedding(mask_zero=True) and Masking make a mask of the real steps, Sequential
passes it on, recurrent layers keep their states over masked steps (repeating the last output),
GlobalAveragePooling1D averages the kept steps only. Against NumPy, eagerly and compiled with an
unknown batch; against Keras itself where TensorFlow is installed."""

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

rng = np.random.default_rng(2)
IDS = rng.integers(1, 10, (3, 6)).astype(np.int32)
IDS[0, 4:] = 0
IDS[1, :2] = 0
IDS[2, 2] = 0


def numpy_masked_simple_rnn(layer, x, mask):
    W, U, b = (w.numpy().astype(np.float64) for w in (layer.kernel, layer.recurrent_kernel, layer.bias))
    h = np.zeros((x.shape[0], layer.units))
    outputs = []
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ W + h @ U + b)
        h = np.where(mask[:, t, None], new, h)
        outputs.append(h)
    return np.stack(outputs, 1)


def test_embedding_mask_zero_drives_a_recurrent_layer():
    model = gc.Sequential([L.Embedding(10, 4, mask_zero=True), L.SimpleRNN(3, return_sequences=True)])
    out = model(IDS)
    embedded = model.layers[0].embeddings.numpy()[IDS].astype(np.float64)
    want = numpy_masked_simple_rnn(model.layers[1], embedded, IDS != 0)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6)
    any_batch = gc.function(lambda x: model(x), input_signature=[gc.TensorSpec([None, 6], "int32")])
    np.testing.assert_allclose(any_batch(IDS).numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.layers[0].compute_mask(IDS).numpy(), IDS != 0)


def test_masking_zeroes_padding_steps_and_pooling_averages_the_rest():
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, 0] = 0.0
    model = gc.Sequential([L.Masking(), L.GlobalAveragePooling1D()])
    keep = np.any(x != 0, axis=-1)
    want = (x * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)
    np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(gc.function(lambda x: model(x))(x).numpy(), want, rtol=1e-6)
    np.testing.assert_array_equal(L.Masking(mask_value=-1.0).compute_mask(np.full((1, 2, 2), -1.0)).numpy(), [[False, False]])


def test_masks_stop_where_keras_stops_them_and_configs_keep_them():
    assert L.LSTM(2).compute_mask(None, mask=np.ones((1, 3), bool)) is None
    assert L.LSTM(2, return_sequences=True).compute_mask(None, mask=gc.constant(np.ones((1, 3), bool))) is not None
    assert L.Dense(2).supports_masking and not L.Flatten().supports_masking
    assert L.Embedding(5, 2, mask_zero=True).get_config()["mask_zero"] is True
    assert L.Masking(mask_value=2.0).get_config()["mask_value"] == 2.0


def test_a_padded_sequence_model_learns_with_fit():
    lengths = rng.integers(2, 9, 256)
    ids = np.zeros((256, 8), np.int32)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 20, n)
    y = (np.where(ids > 0, ids, 0).sum(1) / lengths > 10).astype(np.int64)  # the mean id of the real words
    model = gc.Sequential([L.Embedding(20, 8, mask_zero=True), L.GRU(8), L.Dense(2)])
    model.compile(optimizer=gc.optimizers.Adam(0.02), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(ids, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.8


@pytest.mark.parametrize("rnn,kwargs", [("LSTM", {}), ("GRU", {"go_backwards": True}), ("SimpleRNN", {}),
                                        ("LSTM", {"return_sequences": True})], ids=str)
def test_masked_sequences_match_keras(tf, rnn, kwargs):
    theirs = tf.keras.Sequential([tf.keras.layers.Embedding(10, 4, mask_zero=True), getattr(tf.keras.layers, rnn)(3, **kwargs)])
    ours = gc.Sequential([L.Embedding(10, 4, mask_zero=True), getattr(L, rnn)(3, **kwargs)])
    theirs(IDS)
    ours(IDS)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(IDS).numpy(), theirs(IDS).numpy(), rtol=1e-5, atol=1e-6)
