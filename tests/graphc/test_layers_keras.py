"""The Keras layers added for TF users porting code: Embedding, LayerNormalization,
GroupNormalization, global pooling, the merging layers, UpSampling2D and Lambda. Each against a
NumPy formula (eagerly, compiled natively and by the interpreter, with the batch size unknown when
traced), its gradients against finite differences in float64, its config round trip, and its bad
inputs."""
import json

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.test_util import check_grads

rng = np.random.default_rng(7)


def normal(*shape, dtype=np.float32):
    return rng.normal(size=shape).astype(dtype)


def np_standardize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def np_group_norm(x, groups, eps):
    n, *spatial, c = x.shape
    grouped = x.reshape(n, *spatial, groups, c // groups)
    axes = tuple(range(1, len(spatial) + 1)) + (len(spatial) + 2,)
    return np_standardize(grouped, axes, eps).reshape(x.shape)


def np_bilinear_1d(x, axis, factor):
    """tf.image.resize's bilinear with half-pixel centres along one axis, written out per element."""
    n = x.shape[axis]
    out = []
    for i in range(n * factor):
        src = max((i + 0.5) / factor - 0.5, 0.0)
        low = int(np.floor(src))
        high = min(low + 1, n - 1)
        w = src - low
        out.append(np.take(x, low, axis) * (1 - w) + np.take(x, high, axis) * w)
    return np.stack(out, axis)


def set_affine(layer, gamma, beta):
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return layer


X4 = normal(3, 4, 5, 6)
GAMMA6, BETA6 = normal(6), normal(6)

# name, layer factory (built and weights set by ``prepare``), input(s), reference(layer, x)
CASES = [
    ("embedding", lambda: L.Embedding(10, 4), np.array([[1, 2, 9], [0, 0, 5]]),
     lambda l, x: l.embeddings.numpy()[x]),
    ("embedding_float_indices", lambda: L.Embedding(5, 2), np.array([0.0, 3.7, 4.2], np.float32),
     lambda l, x: l.embeddings.numpy()[x.astype(np.int32)]),
    ("layer_norm_last", lambda: L.LayerNormalization(), X4,
     lambda l, x: np_standardize(x, (3,), 1e-3) * l.gamma.numpy() + l.beta.numpy()),
    ("layer_norm_two_axes", lambda: L.LayerNormalization(axis=[1, -1], epsilon=1e-5), X4,
     lambda l, x: np_standardize(x, (1, 3), 1e-5) * l.gamma.numpy()[None, :, None, :] + l.beta.numpy()[None, :, None, :]),
    ("layer_norm_no_affine", lambda: L.LayerNormalization(center=False, scale=False), normal(4, 7),
     lambda l, x: np_standardize(x, (1,), 1e-3)),
    ("group_norm", lambda: L.GroupNormalization(groups=3), X4,
     lambda l, x: np_group_norm(x, 3, 1e-3) * l.gamma.numpy() + l.beta.numpy()),
    ("group_norm_one_group_per_channel", lambda: L.GroupNormalization(groups=6, epsilon=1e-2), normal(2, 3, 6),
     lambda l, x: np_group_norm(x, 6, 1e-2) * l.gamma.numpy() + l.beta.numpy()),
    ("global_avg_2d", lambda: L.GlobalAveragePooling2D(), X4, lambda l, x: x.mean(axis=(1, 2))),
    ("global_max_2d_keepdims", lambda: L.GlobalMaxPooling2D(keepdims=True), X4,
     lambda l, x: x.max(axis=(1, 2), keepdims=True)),
    ("global_avg_2d_channels_first", lambda: L.GlobalAvgPool2D(data_format="channels_first"), X4,
     lambda l, x: x.mean(axis=(2, 3))),
    ("global_avg_1d", lambda: L.GlobalAveragePooling1D(), normal(2, 5, 3), lambda l, x: x.mean(axis=1)),
    ("global_max_1d", lambda: L.GlobalMaxPool1D(), normal(2, 5, 3), lambda l, x: x.max(axis=1)),
    ("add", lambda: L.Add(), [normal(3, 4), normal(3, 4), normal(3, 4)], lambda l, x: x[0] + x[1] + x[2]),
    ("add_broadcast", lambda: L.Add(), [normal(3, 4), normal(1, 4)], lambda l, x: x[0] + x[1]),
    ("subtract", lambda: L.Subtract(), [normal(3, 4), normal(3, 4)], lambda l, x: x[0] - x[1]),
    ("multiply", lambda: L.Multiply(), [normal(3, 4), normal(3, 4)], lambda l, x: x[0] * x[1]),
    ("average", lambda: L.Average(), [normal(3, 4), normal(3, 4), normal(3, 4)], lambda l, x: (x[0] + x[1] + x[2]) / 3),
    ("maximum", lambda: L.Maximum(), [normal(3, 4), normal(3, 4)], lambda l, x: np.maximum(x[0], x[1])),
    ("minimum", lambda: L.Minimum(), [normal(3, 4), normal(3, 4)], lambda l, x: np.minimum(x[0], x[1])),
    ("concatenate", lambda: L.Concatenate(), [normal(3, 4), normal(3, 2)], lambda l, x: np.concatenate(x, -1)),
    ("concatenate_axis1", lambda: L.Concatenate(axis=1), [normal(3, 1, 2), normal(3, 4, 2)],
     lambda l, x: np.concatenate(x, 1)),
    ("upsampling_nearest", lambda: L.UpSampling2D((2, 3)), normal(2, 3, 4, 2),
     lambda l, x: x.repeat(2, axis=1).repeat(3, axis=2)),
    ("upsampling_bilinear", lambda: L.UpSampling2D(2, interpolation="bilinear"), normal(2, 3, 4, 2),
     lambda l, x: np_bilinear_1d(np_bilinear_1d(x, 1, 2), 2, 2)),
    ("upsampling_channels_first", lambda: L.UpSampling2D(2, data_format="channels_first"), normal(2, 3, 4, 2),
     lambda l, x: x.repeat(2, axis=2).repeat(2, axis=3)),
    ("lambda", lambda: L.Lambda(lambda x, power: x ** power, arguments={"power": 3}), normal(3, 2),
     lambda l, x: x ** 3),
    ("zero_padding_2d", lambda: L.ZeroPadding2D(((1, 0), (2, 3))), normal(2, 3, 4, 2),
     lambda l, x: np.pad(x, ((0, 0), (1, 0), (2, 3), (0, 0)))),
    ("zero_padding_2d_int", lambda: L.ZeroPadding2D(1), normal(2, 3, 4, 2), lambda l, x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    ("zero_padding_1d", lambda: L.ZeroPadding1D((2, 1)), normal(2, 5, 3), lambda l, x: np.pad(x, ((0, 0), (2, 1), (0, 0)))),
    ("cropping_2d", lambda: L.Cropping2D(((1, 0), (1, 2))), normal(2, 4, 5, 2), lambda l, x: x[:, 1:, 1:-2]),
    ("cropping_1d", lambda: L.Cropping1D(2), normal(2, 6, 3), lambda l, x: x[:, 2:-2]),
]


def prepare(layer, x):
    """Builds ``layer`` and gives its affine weights values other than ones and zeros."""
    layer(x)
    for name in ("gamma", "beta"):
        weight = getattr(layer, name, None)
        if weight is not None:
            weight.assign(rng.normal(size=weight.shape).astype(np.float32))
    return layer


def unknown_batch(x):
    leaves = x if isinstance(x, list) else [x]
    specs = [gc.TensorSpec([None, *np.shape(a)[1:]], np.asarray(a).dtype.name) for a in leaves]
    return [specs] if isinstance(x, list) else specs


@pytest.mark.parametrize("name,make,x,reference", CASES, ids=[c[0] for c in CASES])
def test_layers_match_numpy_eagerly_compiled_and_with_an_unknown_batch(name, make, x, reference):
    layer = prepare(make(), x)
    want = reference(layer, x)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-5)
    for backend in ("llvm", "numpy"):
        compiled = gc.function(lambda x: layer(x), backend=backend)
        np.testing.assert_allclose(compiled(x).numpy(), want, rtol=1e-5, atol=1e-5, err_msg=backend)
    some_batch = gc.function(lambda x: layer(x), input_signature=unknown_batch(x))
    for size in (1, 2):
        part = [a[:size] for a in x] if isinstance(x, list) else x[:size]
        np.testing.assert_allclose(some_batch(part).numpy(), reference(layer, part), rtol=1e-5, atol=1e-5)
    assert some_batch.trace_count == 1


DIFFERENTIABLE = [c for c in CASES if not c[0].startswith("embedding")]


@pytest.mark.parametrize("name,make,x,reference", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_input_gradients_match_finite_differences_in_float64(name, make, x, reference):
    layer = make()
    layer._dtype = gc.float64
    leaves = x if isinstance(x, list) else [x]
    prepare(layer, [a.astype(np.float64) for a in leaves] if isinstance(x, list) else x.astype(np.float64))
    if isinstance(x, list):
        check_grads(lambda *xs: layer(list(xs)), leaves, order=2, rtol=1e-4, atol=1e-6)
    else:
        check_grads(layer, [x], order=2, rtol=1e-4, atol=1e-6)


def test_embedding_gradient_sums_into_the_rows_looked_up_only():
    layer = L.Embedding(6, 3)
    ids = np.array([[1, 4, 1], [5, 1, 0]])
    cotangent = normal(2, 3, 3)

    @gc.function
    def grad(ids):
        with gc.GradientTape() as tape:
            out = layer(ids)
        return tape.gradient(out, layer.embeddings, output_gradients=cotangent)

    want = np.zeros((6, 3), np.float32)
    np.add.at(want, ids, cotangent)
    np.testing.assert_allclose(grad(ids).numpy(), want, rtol=1e-6)
    assert not want[[2, 3]].any()


@pytest.mark.parametrize("make,x,axes", [(lambda: L.LayerNormalization(axis=[1, 3]), X4, (1, 3)),
                                         (lambda: L.GroupNormalization(groups=2), X4, (3,))],
                         ids=["layer_norm", "group_norm"])
def test_gamma_and_beta_gradients_are_the_normalized_input_and_the_cotangent_summed(make, x, axes):
    layer = prepare(make(), x)
    cotangent = normal(*x.shape)
    with gc.GradientTape() as tape:
        out = layer(x)
    d_gamma, d_beta = tape.gradient(out, [layer.gamma, layer.beta], output_gradients=cotangent)
    gamma = layer.gamma.numpy()
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    normalized = (out.numpy() - layer.beta.numpy().reshape(shape)) / gamma.reshape(shape)
    others = tuple(a for a in range(x.ndim) if a not in axes)
    np.testing.assert_allclose(d_gamma.numpy(), (normalized * cotangent).sum(others).reshape(gamma.shape), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d_beta.numpy(), cotangent.sum(others).reshape(gamma.shape), rtol=1e-5, atol=1e-5)


CONFIGS = [
    L.Embedding(7, 2, embeddings_initializer="glorot_uniform", embeddings_regularizer="l2"),
    L.LayerNormalization(axis=[1, 2], epsilon=1e-4, center=False),
    L.GroupNormalization(groups=4, axis=1, scale=False),
    L.GlobalAveragePooling2D(data_format="channels_first", keepdims=True),
    L.GlobalMaxPooling1D(),
    L.Add(), L.Subtract(), L.Multiply(), L.Average(), L.Maximum(), L.Minimum(), L.Concatenate(axis=1),
    L.UpSampling2D((2, 3), interpolation="bilinear"),
    L.ZeroPadding2D(((1, 2), (0, 3))), L.ZeroPadding1D(4), L.Cropping2D((1, 2)), L.Cropping1D((0, 3)),
]


@pytest.mark.parametrize("layer", CONFIGS, ids=[type(c).__name__ for c in CONFIGS])
def test_get_config_from_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    assert type(layer).from_config(config).get_config() == config
    restored = L.deserialize(L.serialize(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_a_lambda_layer_refuses_to_become_a_config_and_names_its_function():
    def double(x):
        return x * 2

    with pytest.raises(gc.errors.InvalidArgumentError, match=r"Lambda of '.*double'.*cannot be saved as a config"):
        L.Lambda(double).get_config()
    with pytest.raises(gc.errors.InvalidArgumentError, match="function must be callable, got int"):
        L.Lambda(3)


BAD = [
    ("embedding_index_out_of_range", lambda: L.Embedding(4, 2), np.array([1, 4]), gc.errors.GraphcError, r"gather: index"),
    ("embedding_negative_size", lambda: L.Embedding(0, 2), None, gc.errors.InvalidArgumentError, r"input_dim must be"),
    ("layer_norm_axis", lambda: L.LayerNormalization(axis=2), normal(2, 3), gc.errors.ShapeError,
     r"layer 'layer_normalization(_\d+)?': axis must be in \[-2, 2\)"),
    ("group_norm_groups_do_not_divide", lambda: L.GroupNormalization(groups=4), normal(2, 6), gc.errors.ShapeError,
     r"4 groups must divide the 6 channels"),
    ("group_norm_batch_axis", lambda: L.GroupNormalization(groups=1, axis=0), normal(2, 6), gc.errors.ShapeError,
     r"axis 0 is the batch"),
    ("global_pool_rank", lambda: L.GlobalAveragePooling2D(), normal(2, 3, 4), gc.errors.ShapeError,
     r"expects inputs of rank 4"),
    ("global_pool_data_format", lambda: L.GlobalMaxPooling2D(data_format="NHWC"), None, gc.errors.InvalidArgumentError,
     r"data_format must be one of \('channels_last', 'channels_first'\), got 'NHWC'"),
    ("merge_one_input", lambda: L.Add(), [normal(2)], gc.errors.InvalidArgumentError, r"merges at least 2 tensors, got 1"),
    ("merge_not_a_list", lambda: L.Multiply(), normal(2), gc.errors.InvalidArgumentError,
     r"is called on a list of tensors, got"),
    ("subtract_three", lambda: L.Subtract(), [normal(2)] * 3, gc.errors.InvalidArgumentError,
     r"merges exactly 2 tensors, got 3"),
    ("add_shapes", lambda: L.Add(), [normal(2, 3), normal(2, 4)], gc.errors.ShapeError, r"broadcast"),
    ("concatenate_shapes", lambda: L.Concatenate(), [normal(2, 3), normal(3, 3)], gc.errors.ShapeError,
     r"concat: input 1 is f32\[3,3\], input 0 is f32\[2,3\]: they differ on axis 0"),
    ("upsampling_interpolation", lambda: L.UpSampling2D(interpolation="bicubic"), None, gc.errors.InvalidArgumentError,
     r"interpolation must be one of \('nearest', 'bilinear'\), got 'bicubic'"),
    ("upsampling_rank", lambda: L.UpSampling2D(), normal(2, 3, 4), gc.errors.ShapeError, r"expects images of rank 4"),
    ("upsampling_size", lambda: L.UpSampling2D(0), None, gc.errors.GraphcError, r"size"),
    ("zero_padding_negative", lambda: L.ZeroPadding2D(-1), None, gc.errors.GraphcError, r"padding"),
    ("zero_padding_three_axes", lambda: L.ZeroPadding2D((1, 2, 3)), None, gc.errors.InvalidArgumentError,
     r"padding must be an int, 2 ints or 2 pairs, got \(1, 2, 3\)"),
    ("zero_padding_pair_of_three", lambda: L.ZeroPadding1D((1, 2, 3)), None, gc.errors.InvalidArgumentError,
     r"padding must be an int or a pair \(before, after\)"),
    ("zero_padding_rank", lambda: L.ZeroPadding2D(), normal(2, 3, 4), gc.errors.ShapeError, r"expects inputs of rank 4"),
    ("cropping_everything", lambda: L.Cropping2D(((2, 2), (0, 0))), normal(2, 4, 5, 2), gc.errors.ShapeError,
     r"crops 2 \+ 2 from axis 1 of size 4: nothing would be left"),
]


@pytest.mark.parametrize("name,make,x,error,message", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_and_inputs_raise_clear_errors_eagerly_and_compiled(name, make, x, error, message):
    if x is None:  # a bad constructor argument
        with pytest.raises(error, match=message):
            make()
        return
    layer = make()
    with pytest.raises(error, match=message):
        layer(x)
    with pytest.raises(error, match=message):
        gc.function(lambda x: layer(x))(x)


def test_layers_train_in_a_model_with_fit():
    model = gc.Sequential([L.Embedding(20, 8), L.LayerNormalization(), L.GlobalAveragePooling1D(), L.Dense(2)])
    model.compile(optimizer=gc.optimizers.Adam(0.05),
                  loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = rng.integers(0, 20, (64, 5))
    labels = ((ids >= 10).sum(axis=1) >= 3).astype(np.int64)  # mostly high tokens or mostly low ones
    history = model.fit(ids, labels, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
