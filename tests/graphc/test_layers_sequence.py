"""MultiHeadAttention and the recurrent layers (SimpleRNN, LSTM, GRU) against NumPy written out
from Keras's formulas and weight layouts: eagerly, compiled natively and by the interpreter, with
the batch size unknown when traced; gradients against finite differences in float64; masks,
states, configs and bad inputs; the Orthogonal initializer they use."""
import json
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.test_util import check_grads

rng = np.random.default_rng(3)


def normal(*shape, dtype=np.float32):
    return rng.normal(size=shape).astype(dtype)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_attention(layer, query, value, key=None, mask=None, causal=False):
    key = value if key is None else key
    w = {name: [None if t is None else t.numpy().astype(np.float64) for t in pair]
         for name, pair in layer.projections.items()}

    def project(x, name, equation):
        kernel, bias = w[name]
        y = np.einsum(equation, x.astype(np.float64), kernel)
        return y if bias is None else y + bias

    q = project(query, "query", "btd,dhk->bthk") / np.sqrt(layer.key_dim)
    k, v = project(key, "key", "bsd,dhk->bshk"), project(value, "value", "bsd,dhv->bshv")
    scores = np.einsum("bthk,bshk->bhts", q, k)
    keep = np.ones(scores.shape, bool)
    if mask is not None:
        keep &= mask[:, None].astype(bool)
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], bool))
    weights = np_softmax(np.where(keep, scores, -1e9))
    out = np.einsum("bhts,bshv->bthv", weights, v)
    kernel, bias = w["output"]
    out = np.einsum("bthv,hvo->bto", out, kernel)
    return (out if bias is None else out + bias), weights


Q, V, K = normal(2, 3, 4), normal(2, 5, 6), normal(2, 5, 7)
MASK = rng.random((2, 3, 5)) > 0.3
MASK[:, :, 0] = True  # every target sees at least one source

# name, factory, positional inputs, call kwargs, reference kwargs
ATTENTION = [
    ("self", lambda: L.MultiHeadAttention(2, 3), (Q, Q), {}, {}),
    ("cross_with_key", lambda: L.MultiHeadAttention(3, 2, value_dim=4), (Q, V, K), {}, {"key": K}),
    ("masked", lambda: L.MultiHeadAttention(2, 4), (Q, V), {"attention_mask": MASK}, {"mask": MASK}),
    ("causal_no_bias", lambda: L.MultiHeadAttention(2, 2, use_bias=False), (Q, Q), {"use_causal_mask": True},
     {"causal": True}),
    ("output_shape", lambda: L.MultiHeadAttention(1, 5, output_shape=7), (Q, V), {}, {}),
]


@pytest.mark.parametrize("name,make,inputs,kwargs,ref_kwargs", ATTENTION, ids=[a[0] for a in ATTENTION])
def test_attention_matches_numpy_eagerly_compiled_and_with_an_unknown_batch(name, make, inputs, kwargs, ref_kwargs):
    layer = make()
    out, scores = layer(*inputs, return_attention_scores=True, **kwargs)
    want, want_scores = np_attention(layer, inputs[0], inputs[1], **ref_kwargs)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-4, atol=1e-6)
    for backend in ("llvm", "numpy"):
        compiled = gc.function(lambda *xs: layer(*xs, **kwargs), backend=backend)
        np.testing.assert_allclose(compiled(*inputs).numpy(), want, rtol=1e-4, atol=1e-5, err_msg=backend)
    if "attention_mask" not in kwargs:
        signature = [gc.TensorSpec([None, *x.shape[1:]]) for x in inputs]
        any_batch = gc.function(lambda *xs: layer(*xs, **kwargs), input_signature=signature)
        np.testing.assert_allclose(any_batch(*[x[:1] for x in inputs]).numpy(), want[:1], rtol=1e-4, atol=1e-5)


def test_attention_gradients_match_finite_differences_in_float64():
    layer = L.MultiHeadAttention(2, 3, dtype="float64")
    q, v = normal(1, 2, 3, dtype=np.float64), normal(1, 3, 3, dtype=np.float64)
    layer(q, v)
    check_grads(lambda q, v: layer(q, v, use_causal_mask=False), [q, v], order=2, rtol=1e-4, atol=1e-6)


def test_attention_dropout_zeroes_and_scales_weights_only_while_training():
    layer = L.MultiHeadAttention(2, 3, dropout=0.5, seed=1)
    _, inference = layer(Q, Q, return_attention_scores=True)
    np.testing.assert_allclose(inference.numpy().sum(-1), 1.0, rtol=1e-5)
    _, training = layer(Q, Q, return_attention_scores=True, training=True)
    dropped = training.numpy() == 0
    assert 0.2 < dropped.mean() < 0.8
    np.testing.assert_allclose(training.numpy()[~dropped], 2 * inference.numpy()[~dropped], rtol=1e-5)


def np_rnn(kind, layer, x, initial=None, backwards=False):
    """Keras's recurrences written out in float64 with the layer's weights."""
    W, U = layer.kernel.numpy().astype(np.float64), layer.recurrent_kernel.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64)
    n, u = x.shape[0], layer.units
    h = np.zeros((n, u)) if initial is None else initial[0]
    c = np.zeros((n, u)) if initial is None or kind != "lstm" else initial[1]
    outputs = []
    for t in (range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])):
        xt = x[:, t].astype(np.float64)
        if kind == "simple":
            h = np.tanh(xt @ W + h @ U + b)
        elif kind == "lstm":
            z = xt @ W + h @ U + b
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            xi, hi = xt @ W + b[0], h @ U + b[1]
            z = sigmoid(xi[:, :u] + hi[:, :u])
            r = sigmoid(xi[:, u:2 * u] + hi[:, u:2 * u])
            cand = np.tanh(xi[:, 2 * u:] + r * hi[:, 2 * u:])
            h = z * h + (1 - z) * cand
        outputs.append(h)
    return np.stack(outputs, 1), h, c


RECURRENT = [("simple", L.SimpleRNN), ("lstm", L.LSTM), ("gru", L.GRU)]
X = normal(3, 4, 5)


def randomize(layer):
    for weight in layer.weights:
        weight.assign(rng.normal(0, 0.5, weight.shape).astype(np.float32))
    return layer


@pytest.mark.parametrize("kind,cls", RECURRENT, ids=[r[0] for r in RECURRENT])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True}, {"go_backwards": True, "return_state": True}],
                         ids=["last", "sequences", "backwards_state"])
def test_recurrent_layers_match_numpy_eagerly_compiled_and_with_an_unknown_batch(kind, cls, options):
    layer = cls(4, **options)
    layer(X)
    randomize(layer)
    sequence, h, c = np_rnn(kind, layer, X, backwards=options.get("go_backwards", False))
    want = sequence if options.get("return_sequences") else h
    for run in (layer, gc.function(lambda x: layer(x), backend="llvm"), gc.function(lambda x: layer(x), backend="numpy"),
                gc.function(lambda x: layer(x), input_signature=[gc.TensorSpec([None, 4, 5])])):
        got = run(X)
        if options.get("return_state"):
            got, *states = got
            np.testing.assert_allclose(states[0].numpy(), h, rtol=1e-4, atol=1e-5)
            assert len(states) == (2 if kind == "lstm" else 1)
            if kind == "lstm":
                np.testing.assert_allclose(states[1].numpy(), c, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,cls", RECURRENT, ids=[r[0] for r in RECURRENT])
def test_initial_state_is_where_the_recurrence_starts(kind, cls):
    layer = randomize(cls(3, return_sequences=True))
    layer(X)
    randomize(layer)
    initial = [normal(3, 3).astype(np.float64) for _ in range(2 if kind == "lstm" else 1)]
    want, _, _ = np_rnn(kind, layer, X, initial=initial)
    got = layer(X, initial_state=initial if kind == "lstm" else initial[0])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,cls", RECURRENT, ids=[r[0] for r in RECURRENT])
def test_recurrent_gradients_match_finite_differences_in_float64(kind, cls):
    layer = cls(2, return_sequences=True, dtype="float64")
    x = normal(2, 3, 2, dtype=np.float64)
    layer(x)
    check_grads(layer, [x], order=2, rtol=1e-4, atol=1e-6)


def test_lstm_starts_its_forget_gate_bias_at_one_and_recurrent_kernels_are_orthogonal():
    layer = L.LSTM(3)
    layer(X)
    np.testing.assert_array_equal(layer.bias.numpy(), np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    u = layer.recurrent_kernel.numpy()  # [3, 12]: its rows are orthonormal
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-5)
    plain = L.LSTM(3, unit_forget_bias=False)
    plain(X)
    np.testing.assert_array_equal(plain.bias.numpy(), np.zeros(12))


def test_orthogonal_initializer_is_orthogonal_reproducible_and_checks_its_shape():
    init = gc.initializers.Orthogonal(gain=2.0, seed=4)
    tall = init((6, 3), gc.float32).numpy()
    np.testing.assert_allclose(tall.T @ tall, 4 * np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(tall, gc.initializers.Orthogonal(gain=2.0, seed=4)((6, 3), gc.float32).numpy())
    kernel = gc.initializers.get("orthogonal")((2, 2, 8), gc.float64).numpy().reshape(4, 8)
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(4), atol=1e-12)
    with pytest.raises(gc.errors.InvalidArgumentError, match="at least 2 axes, got"):
        init((5,), gc.float32)


CONFIGS = [
    L.MultiHeadAttention(4, 8, value_dim=2, dropout=0.1, use_bias=False, output_shape=5, seed=3),
    L.SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True),
    L.LSTM(4, recurrent_activation="tanh", unit_forget_bias=False, return_state=True),
    L.GRU(2, kernel_regularizer="l2"),
]


@pytest.mark.parametrize("layer", CONFIGS, ids=[type(c).__name__ for c in CONFIGS])
def test_get_config_from_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    assert type(layer).from_config(config).get_config() == config
    assert L.deserialize(L.serialize(layer)).get_config() == config


BAD = [
    ("attention_value_missing", lambda l: l(Q), r"value is missing"),
    ("attention_query_rank", lambda l: l(Q[0], Q[0]), r"query must be \[batch, steps, features\]"),
    ("attention_mask_rank", lambda l: l(Q, Q, attention_mask=MASK[0]), r"attention_mask must be \[batch, target, source\]"),
]


@pytest.mark.parametrize("name,call,message", BAD, ids=[b[0] for b in BAD])
def test_attention_bad_inputs_raise_clear_errors(name, call, message):
    with pytest.raises(gc.errors.GraphcError, match=message):
        call(L.MultiHeadAttention(2, 3))


def test_bad_layer_arguments_and_inputs_raise_clear_errors():
    with pytest.raises(gc.errors.InvalidArgumentError, match=r"dropout must be in \[0, 1\), got 1.5"):
        L.MultiHeadAttention(2, 3, dropout=1.5)
    with pytest.raises(gc.errors.GraphcError, match="units"):
        L.LSTM(0)
    with pytest.raises(gc.errors.ShapeError, match=re.escape("expects sequences [batch, steps, features]")):
        L.GRU(2)(normal(3, 4))
    with pytest.raises(gc.errors.ShapeError, match="has 2 states, got 1 in initial_state"):
        L.LSTM(2)(X, initial_state=[normal(3, 2)])
    unknown_steps = gc.function(lambda x: L.SimpleRNN(2)(x), input_signature=[gc.TensorSpec([None, None, 5])])
    with pytest.raises(gc.errors.ShapeError, match="unrolls its steps, so their number must be known when traced"):
        unknown_steps(X)


def test_recurrent_models_learn_with_fit():
    x = normal(128, 6, 1)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)  # the sign of the sum of the sequence
    for body in ([L.LSTM(8)], [L.GRU(8)]):
        model = gc.Sequential(body + [L.Dense(2)])
        model.compile(optimizer=gc.optimizers.Adam(0.02), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
        assert history.history["loss"][-1] < 0.6 * history.history["loss"][0], body
